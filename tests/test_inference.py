"""Inference exports: every shipped model's export equals its Keras network on what classify feeds it, and the
Classify page runs without TensorFlow in its process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from core.models import registry
from core.models.inference import KerasNetwork
from core.predict import classify

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "models"
CLIPS = {"song": 7.0, "noise": 4.0}  # kind: seconds


@pytest.mark.parametrize("name", [info.name for info in registry.list_models(SHIPPED)])
def test_a_shipped_models_export_equals_keras_on_what_classify_feeds_it(name, make_wav, monkeypatch) -> None:
    """Every network call of a classification (windows and, for feature models, the occlusion copies) gives
    the same probabilities (and tag logits) from the export as from the Keras network."""
    loaded = registry.load_model(name, SHIPPED)
    assert loaded.network.runtime == "openvino" and loaded.info.card.inference["file"] == "model.onnx"
    assert str(loaded.network.compiled.get_property("INFERENCE_PRECISION_HINT")) == "<Type: 'float32'>"  # not bf16
    fed: list[list[np.ndarray]] = []
    run = loaded.network.run
    monkeypatch.setattr(loaded.network, "run", lambda inputs: fed.append(inputs) or run(inputs))
    for kind, seconds in CLIPS.items():
        classify(make_wav(kind, seconds=seconds), loaded)
    keras = KerasNetwork(loaded.model, loaded.info.card)
    for inputs in fed:
        exported, reference = run(inputs), keras.run(inputs)
        np.testing.assert_allclose(exported[-1], reference[-1], rtol=0, atol=1e-5)
        for got, want in zip(exported[:-1], reference[:-1]):  # the tag logits the honesty layer reads
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    if loaded.network.head is not None:  # the reasons read the same linear layer as Keras's
        np.testing.assert_array_equal(loaded.network.head.kernel, keras.head.kernel)


WALKTHROUGH = textwrap.dedent("""
    import io, json, sys
    import soundfile as sf
    from streamlit.testing.v1 import AppTest
    sys.path.insert(0, "tests")
    from synth_audio import synth

    at = AppTest.from_file("app.py", default_timeout=300)
    at.run()
    at.switch_page("app_pages/classify.py").run()
    wav = io.BytesIO()
    sf.write(wav, synth("song", seconds=7.0, seed=11), 22_050, format="WAV")
    at.file_uploader(key="classify_files").set_value([("song.wav", wav.getvalue(), "audio/wav")]).run()
    shown = "\\n".join(m.value for m in at.markdown)
    print(json.dumps({"verdict": 'data-genre="' in shown, "exception": bool(at.exception),
                      "why": any(h.value.startswith("Why ") for h in at.subheader),
                      "loaded": sorted(m for m in ("tensorflow", "keras", "tf2onnx") if m in sys.modules)}))
""")


def test_a_classify_walkthrough_never_imports_tensorflow() -> None:
    """The app's process (Home, Classify, an upload to its verdict and reasons) runs on the export alone."""
    done = subprocess.run([sys.executable, "-c", WALKTHROUGH], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"verdict": True, "exception": False, "why": True, "loaded": []}


def test_a_classification_hands_the_activations_memory_back_once(make_wav, monkeypatch) -> None:
    """OpenVINO keeps the last call's activations (~80 MB for 8 musicnn windows) unless released: once per
    recording, after its last batch (not after each batch: that costs CPU)."""
    loaded = registry.load_model(None, SHIPPED)
    calls: list[str] = []
    run, release = loaded.network.run, loaded.network.release
    monkeypatch.setattr(loaded.network, "run", lambda inputs: calls.append("run") or run(inputs))
    monkeypatch.setattr(loaded.network, "release", lambda: calls.append("release") or release())
    classify(make_wav("song", seconds=30.0), loaded)  # 10 windows: two batches
    assert calls == ["run", "run", "release"]
