"""Scoring a model on a labelled folder: the pop|rock rule, top-3, balanced accuracy, calibration error, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.models.evaluate_audio import ManifestError, expected_calibration_error, label_sets, read_manifest, score

CLASSES = ("metal", "pop", "rock")


def probs(*rows: tuple[float, float, float]) -> np.ndarray:
    return np.array(rows, dtype=float)


def test_either_genre_of_an_alternative_label_counts_as_right():
    p = probs((0.1, 0.8, 0.1), (0.1, 0.1, 0.8), (0.8, 0.1, 0.1))
    report = score(p, ["pop|rock", "pop|rock", "pop|rock"], CLASSES)
    assert report["top1"] == pytest.approx(2 / 3)
    assert report["per_label"]["pop|rock"]["predicted"] == {"pop": 1, "rock": 1, "metal": 1}
    assert report["single_label"]["n"] == 0 and report["balanced_accuracy"] is None


def test_single_label_songs_top3_and_balanced_accuracy():
    p = probs((0.6, 0.3, 0.1), (0.2, 0.5, 0.3), (0.5, 0.4, 0.1), (0.1, 0.2, 0.7))
    report = score(p, ["metal", "rock", "rock", "rock"], CLASSES)
    assert report["single_label"]["top1"] == pytest.approx(2 / 4)
    assert report["balanced_accuracy"] == pytest.approx((1.0 + 1 / 3) / 2)  # metal 1/1, rock 1/3
    assert report["top3"] == 1.0
    assert score(p, ["metal", "rock", "rock", "rock"], CLASSES)["confusion"]["rock"] == {"pop": 1, "metal": 1, "rock": 1}


def test_labels_the_model_does_not_know_are_refused():
    with pytest.raises(ManifestError, match="does not know: jazz"):
        score(probs((1, 0, 0)), ["jazz"], CLASSES)


def test_expected_calibration_error():
    assert expected_calibration_error(np.array([0.9] * 10), np.array([1] * 9 + [0])) == pytest.approx(0.0)
    assert expected_calibration_error(np.array([0.95] * 4), np.array([0, 0, 0, 0])) == pytest.approx(0.95)
    assert label_sets(["pop|rock", "metal"]) == [frozenset({"pop", "rock"}), frozenset({"metal"})]


def test_manifest_reading(tmp_path):
    (tmp_path / "m.tsv").write_text("file\tlabel\textra\na.wav\tpop|rock\tx\nb.wav\tmetal\ty\n")
    assert read_manifest(tmp_path / "m.tsv").to_dict("list") == {"file": ["a.wav", "b.wav"], "label": ["pop|rock", "metal"]}
    (tmp_path / "bad.csv").write_text("name,genre\na.wav,pop\n")
    with pytest.raises(ManifestError, match="columns file and label"):
        read_manifest(tmp_path / "bad.csv")


def test_cli_scores_a_registered_model_on_a_synthetic_manifest(tmp_path, make_wav, monkeypatch, capsys):
    """End to end through ``python -m core evaluate-audio``: real classify calls, one bad file reported."""
    from model_helpers import synthetic_table

    from core.cli import main
    from core.models import registry
    from core.models.model_card import model_card
    from core.models.train import TrainConfig, train

    models = tmp_path / "models"
    monkeypatch.setenv("CPUNK_MODELS_DIR", str(models))
    config = TrainConfig(epochs=2, batch_size=16, validation_fraction=0, model_config={"units": (16,)})
    model, history = train(config, synthetic_table(n_tracks=3, n_slices=2))
    name, classes = "tiny", history.rows.classes
    registry.save_model(name, model, model_card(model, config, history, sources=("synthetic",), command=""))
    folder = tmp_path / "songs"
    for i, kind in enumerate(["music", "chord", "noise"]):
        make_wav(kind, name=f"songs/s{i}.wav", seconds=4, seed=i)
    (folder / "broken.wav").write_bytes(b"RIFF0000WAVEnot audio")
    labels = [classes[0], f"{classes[0]}|{classes[1]}", classes[1], classes[0]]
    rows = "".join(f"{f}\t{lab}\n" for f, lab in zip(["s0.wav", "s1.wav", "s2.wav", "broken.wav"], labels))
    (folder / "MANIFEST.tsv").write_text("file\tlabel\n" + rows)
    out = tmp_path / "report.json"
    assert main(["evaluate-audio", str(folder), "--model", name, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["n"] == 3 and [f["file"] for f in report["failed"]] == ["broken.wav"]
    assert 0.0 <= report["top1"] <= report["top3"] <= 1.0
    assert set(report["per_label"]) == set(labels[:3])
    assert "broken.wav" in capsys.readouterr().err
