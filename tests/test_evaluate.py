"""Evaluation protocols: no track crosses folds, metrics are right, reports and the CLI work."""

from __future__ import annotations

import json

import numpy as np
import pytest
from model_helpers import synthetic_table

from core.cli import main
from core.data.training_data import track_average
from core.models.evaluate import evaluate_file, evaluate_seed, evaluate_track, format_report, metrics, read_split_file
from core.models.train import TrainConfig

TINY = TrainConfig(epochs=8, batch_size=16, model_config={"units": (32, 16)})


@pytest.fixture(scope="module")
def table():
    return synthetic_table(n_tracks=6, n_slices=3)


def test_metrics_on_known_predictions() -> None:
    y = np.array([0, 0, 1, 2])
    probs = np.array([[.9, .1, 0], [.2, .5, .3], [.1, .8, .1], [.6, .3, .1]])
    m = metrics(y, probs, ("a", "b", "c"))
    assert m["accuracy"] == 0.5 and m["top3_accuracy"] == 1.0
    assert m["confusion"] == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
    assert m["per_genre"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1 + 0) / 3)


def test_track_average_means_each_tracks_rows() -> None:
    tracks, labels, probs = track_average(np.array(["t2", "t1", "t2"]), np.array([1, 0, 1]),
                                          np.array([[.2, .8], [.9, .1], [.6, .4]]))
    assert list(tracks) == ["t1", "t2"] and list(labels) == [0, 1]
    np.testing.assert_allclose(probs, [[.9, .1], [.4, .6]])


def test_track_protocol_never_leaks_and_predicts_every_row_once(table) -> None:
    report = evaluate_track(TINY, table, folds=3)
    assert report.rows["n"] == 18 * 3 and report.tracks["n"] == 18
    assert sum(f["test_tracks"] for f in report.folds) == 18
    assert report.rows["accuracy"] >= 0.8 and report.tracks["accuracy"] >= report.rows["accuracy"] - 0.1
    assert not report.notes


def test_track_protocol_refuses_a_leaking_split(table, monkeypatch) -> None:
    import core.models.evaluate as evaluate

    def leaky(rows, n_splits, seed):
        index = np.arange(len(rows))
        return [(index, index[:5])]

    monkeypatch.setattr(evaluate, "grouped_folds", leaky)
    with pytest.raises(AssertionError, match="crossed folds"):
        evaluate.evaluate_track(TINY, table, folds=2)


def test_seed_protocol_is_flagged_as_leaky(table) -> None:
    report = evaluate_seed(TINY, table, test_fraction=0.25)
    assert report.rows["n"] == 14  # ceil(54 rows * 0.25)
    assert "inflated" in report.notes[0]
    assert "note: seed protocol" in format_report(report)


def test_file_protocol(table, tmp_path) -> None:
    tracks = sorted(set(table["track_id"]))
    splits = ["test" if t.endswith("00005") else "valid" if t.endswith("00004") else "train" for t in tracks]
    path = tmp_path / "split.csv"
    path.write_text("track_id,split\n" + "".join(f"{t},{s}\n" for t, s in zip(tracks, splits)))
    report = evaluate_file(TINY, table, str(path))
    assert report.tracks["n"] == 3 and report.rows["n"] == 9
    path.write_text("track_id,split\nx,training\n")
    with pytest.raises(ValueError, match="unknown split names training"):
        read_split_file(str(path))


def test_evaluate_command(table, tmp_path, capsys) -> None:
    features = tmp_path / "features.parquet"
    table.to_parquet(features)
    out = tmp_path / "report.json"
    assert main(["evaluate", str(features), "--protocol", "track", "--folds", "3", "--epochs", "3",
                 "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["protocol"] == "track" and len(report["folds"]) == 3
    assert set(report["tracks"]["per_genre"]) == {"blues", "classical", "metal"}
    assert "per genre" in capsys.readouterr().out
    assert main(["evaluate", str(features), "--protocol", "file"]) == 2
