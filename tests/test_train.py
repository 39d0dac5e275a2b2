"""train(): learns, reports every epoch, stops on request keeping the best weights, is reproducible."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from model_helpers import synthetic_table

from core.data.store import FeatureTableError
from core.data.training_data import grouped_folds, training_rows, validation_split
from core.models.train import EpochLog, TrainConfig, train

TINY = dict(epochs=12, batch_size=16, model_config={"units": (32, 16)})


@pytest.fixture(scope="module")
def table():
    return synthetic_table(n_tracks=8, n_slices=4)


def test_learns_a_separable_problem_on_unseen_tracks(table) -> None:
    train_part = table[~table["track_id"].str.endswith(("00006", "00007"))]
    test_part = table[table["track_id"].str.endswith(("00006", "00007"))]
    model, history = train(TrainConfig(validation_fraction=0, **TINY), train_part)
    rows = training_rows(test_part, "slice", history.rows.classes)
    accuracy = float((np.asarray(model(rows.x)).argmax(axis=1) == rows.y).mean())
    assert accuracy >= 0.9
    assert history.rows.classes == ("blues", "classical", "metal")
    assert history.epochs[-1].loss < history.epochs[0].loss


def test_every_epoch_reaches_the_listeners(table) -> None:
    log, seen = EpochLog(), []
    model, history = train(TrainConfig(**TINY), table, callbacks=[log, seen.append])
    reports = log.snapshot()
    assert [r.epoch for r in reports] == list(range(1, 13)) and seen == reports == history.epochs
    assert all(r.epochs == 12 and r.val_loss is not None and 0 <= r.val_accuracy <= 1 for r in reports)
    assert 1 <= history.best_epoch <= 12 and history.monitor == "val_loss"
    # the validation tracks are held out as whole tracks
    assert not set(history.rows.groups) & set(history.validation_rows.groups)


def test_stop_flag_ends_training_within_an_epoch_and_keeps_the_best_weights(table) -> None:
    stop = threading.Event()

    def listener(report) -> None:
        if report.epoch == 3:
            stop.set()

    config = TrainConfig(**{**TINY, "epochs": 50})
    model, history = train(config, table, callbacks=[listener], stop=stop)
    assert history.stopped and len(history.epochs) == 3
    assert history.best_epoch == 1 + int(np.argmin([e.val_loss for e in history.epochs]))
    rows = history.validation_rows
    loss = float(np.mean(-np.log(np.asarray(model(rows.x))[np.arange(len(rows.y)), rows.y])))
    assert loss == pytest.approx(history.epochs[history.best_epoch - 1].val_loss, rel=1e-3)


def test_patience_stops_early_and_keeps_the_best_epoch(table) -> None:
    """A learning rate of 0 never improves on epoch 1: patience 2 stops after epoch 3."""
    config = TrainConfig(**{**TINY, "epochs": 50, "patience": 2, "model_config": {"units": (8,), "learning_rate": 0.0}})
    _, history = train(config, table)
    assert history.early_stopped and not history.stopped
    assert len(history.epochs) == 3 and history.best_epoch == 1


def test_stop_flag_from_another_thread(table) -> None:
    stop = threading.Event()
    started = threading.Event()
    result = {}

    def work() -> None:
        result["history"] = train(TrainConfig(**{**TINY, "epochs": 10_000}), table,
                                  callbacks=[lambda r: started.set()], stop=stop)[1]

    worker = threading.Thread(target=work)
    worker.start()
    assert started.wait(60)
    stop.set()
    worker.join(60)
    assert not worker.is_alive() and result["history"].stopped and len(result["history"].epochs) < 10_000


def test_same_seed_same_model(table) -> None:
    config = TrainConfig(**{**TINY, "epochs": 3})
    first, _ = train(config, table)
    second, _ = train(config, table)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_track_level_and_missing_rows(table) -> None:
    model, history = train(TrainConfig(level="track", validation_fraction=0, **{**TINY, "epochs": 2}), table)
    assert len(history.rows) == 24 and history.monitor == "loss"
    with pytest.raises(FeatureTableError, match="no whole-track rows"):
        train(TrainConfig(level="track", **TINY), table[table["slice"] >= 0])


def test_grouped_folds_never_split_a_track(table) -> None:
    rows = training_rows(table, "slice")
    folds = grouped_folds(rows, 4, seed=0)
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested) == list(range(len(rows)))
    for train_index, test_index in folds:
        assert not set(rows.groups[train_index]) & set(rows.groups[test_index])
        assert set(rows.y[test_index]) == {0, 1, 2}  # stratified: every genre in every fold
    fit, val = validation_split(rows, 0.25, seed=0)
    assert not set(rows.groups[fit]) & set(rows.groups[val])
    few = training_rows(synthetic_table(n_tracks=4, n_slices=1), "slice")  # 12 tracks, but 4 per genre
    assert validation_split(few, 0.2, seed=0) is None  # 5 folds, 4 rows per genre: nothing to hold out
