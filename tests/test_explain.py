"""core.models.explain: a feature model's reasons are measured on the model (occlusion), support the verdict,
and find the one feature a model was trained to rely on; other inputs get no invented reasons."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from model_helpers import synthetic_table
from synth_audio import synth

from core.features.schema import SEED
from core.models import registry
from core.models.explain import explain, occlusion, probabilities
from core.models.model_card import model_card
from core.models.tag_evidence import tag_reasons
from core.models.train import TrainConfig, train
from core.predict import classify

GENRES = ("blues", "classical", "metal")
SHIPPED = Path(__file__).resolve().parents[1] / "models"


@pytest.fixture(scope="module")
def one_feature_model(tmp_path_factory) -> registry.LoadedModel:
    """A model trained on a table whose genres differ only in ``rms_mean``: the rest is the same noise."""
    table = synthetic_table(n_tracks=6, n_slices=4, separation=0.0, seed=1)
    rng = np.random.default_rng(0)
    levels = {"blues": 0.05, "classical": 0.15, "metal": 0.3}
    table["rms_mean"] = table["label"].map(levels) + rng.normal(0, 0.01, len(table))
    config = TrainConfig(level="slice", epochs=40, batch_size=16, validation_fraction=0,
                         model_config={"units": (16,)})
    model, history = train(config, table)
    root = tmp_path_factory.mktemp("models")
    registry.save_model("one", model, model_card(model, config, history, sources=("synthetic",), command=""), root)
    return registry.load_model("one", root)


def rows_of(model: registry.LoadedModel, genre: str) -> np.ndarray:
    """Feature rows typical of ``genre`` under the model's own statistics (each column at the genre's mean)."""
    stats = model.info.card.feature_stats.genres[genre]
    return np.array([[stats[c].mean for c in SEED.columns]] * 3)


def test_occlusion_finds_the_feature_the_model_relies_on(one_feature_model) -> None:
    rows = rows_of(one_feature_model, "metal")
    genre = one_feature_model.classes.index("metal")
    why = occlusion(one_feature_model.network, rows, list(SEED.columns), genre,
                    one_feature_model.info.card.feature_stats)
    assert why.faithful and why.reasons[0].feature == "rms_mean"
    assert all(r.effect > 0 for r in why.reasons)
    assert [r.effect for r in why.reasons] == sorted((r.effect for r in why.reasons), reverse=True)
    # the effect is what the model says with that feature set to the neutral value
    first = why.reasons[0]
    changed = rows.copy()
    changed[:, list(SEED.columns).index(first.feature)] = first.neutral
    without = probabilities(one_feature_model.network, changed)[:, genre].mean()
    assert first.without == pytest.approx(without, abs=1e-5)
    assert first.probability == pytest.approx(probabilities(one_feature_model.network, rows)[:, genre].mean(), abs=1e-5)


def test_classify_carries_the_explanation_of_a_feature_model(one_feature_model, make_wav) -> None:
    result = classify(make_wav("music", seconds=5.0), one_feature_model)
    why = result.explanation
    assert why is not None and why.faithful and why.method
    assert all(r.effect > 0 and r.probability == pytest.approx(float(result.probabilities.max()), abs=1e-5)
               for r in why.reasons)


def test_a_model_reading_other_inputs_gets_no_invented_reasons(one_feature_model, make_wav) -> None:
    result = classify(make_wav("music", seconds=5.0), one_feature_model)
    for inputs, words in ((["musicnn"], "musicnn patches"), (["features", "log_mel"], "mel spectrogram")):
        info = replace(one_feature_model.info, card=replace(one_feature_model.info.card, inputs=tuple(inputs)))
        why = explain(replace(one_feature_model, info=info), [result.genre], rows=result.feature_rows())
        assert not why.faithful and not why.reasons and words in why.method


def test_classify_explains_a_tag_models_verdict_over_the_windows_it_heard() -> None:
    """The default's reasons are the tags behind its verdict's lead over the runner-up, read from the windows
    the verdict heard (the music detector's), as classify hands them to explain."""
    model = registry.load_model(registry.default_name(SHIPPED), SHIPPED)
    song, noise = synth("song", seconds=9.0, seed=3), synth("noise", seconds=6.0, seed=3)
    clip = io.BytesIO()
    sf.write(clip, np.concatenate([song, noise]), 22_050, format="WAV")
    clip.seek(0)
    clip.name = "song then noise.wav"
    result = classify(clip, model)
    assert 0 < result.verdict_windows.sum() < len(result.verdict_windows)  # some windows were not heard
    (genre, _), (runner_up, _) = result.top(2)
    heard = result.segment_tag_logits[result.verdict_windows]
    assert result.explanation.tags == tag_reasons(model.network.head, model.info.card, heard, genre, runner_up)
