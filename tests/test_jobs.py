"""Background jobs: live snapshots, stop, failure, one run per owner, reattach, orphans, two real trainings at once."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from model_helpers import synthetic_table

from core.holdout import holdout_split, train_holdout
from core.jobs import FAILED, FINISHED, ORPHANED, RUNNING, STOPPED, USER_STOP, JobError, JobRegistry
from core.train import EpochReport, TrainConfig
from core.training_data import training_rows

WAIT = 120  # generous: the test machine is shared


def report(epoch: int, total: int) -> EpochReport:
    return EpochReport(epoch, total, 1.0 / epoch, 0.5, 1.1 / epoch, 0.4, 0.01)


def stepping_work(total: int, gate: threading.Semaphore | None = None, result: object = "model"):
    """Fake work: one epoch per step; takes a permit from ``gate`` after each epoch (if given); honours stop."""
    def work(listener, stop):
        for epoch in range(1, total + 1):
            if stop.is_set():
                break
            listener(report(epoch, total))
            if gate is not None:
                gate.acquire(timeout=WAIT)
        return result
    return work


def test_a_job_reports_epochs_live_and_finishes_with_its_result() -> None:
    jobs, gate = JobRegistry(), threading.Semaphore(0)
    job = jobs.start(stepping_work(3, gate), total_epochs=3, owner="a")
    assert jobs.get(job.id) is job and len(job.id) >= 16
    for done in (1, 2):
        while job.snapshot().done < done:
            job.wait(0.01)
        snap = job.snapshot()
        assert snap.status == RUNNING and [e.epoch for e in snap.epochs] == list(range(1, done + 1))
        assert snap.eta_s == pytest.approx(0.01 * (3 - done))
        gate.release()
    gate.release()  # the permit after the last epoch
    assert job.wait(WAIT)
    snap = job.snapshot()
    assert (snap.status, snap.done, snap.eta_s, job.result) == (FINISHED, 3, None, "model")


def test_stop_ends_the_job_as_stopped_and_keeps_its_result() -> None:
    jobs, gate = JobRegistry(), threading.Semaphore(0)
    job = jobs.start(stepping_work(100, gate, result="best weights"), total_epochs=100, owner="a")
    while job.snapshot().done < 1:
        job.wait(0.01)
    job.stop()
    gate.release()
    assert job.wait(WAIT)
    snap = job.snapshot()
    assert (snap.status, snap.stop_reason, job.result) == (STOPPED, USER_STOP, "best weights")
    assert snap.done == 1


def test_a_failing_job_says_why() -> None:
    def work(listener, stop):
        raise ValueError("The feature table has no slice rows (slice >= 0); choose the other level.")

    job = JobRegistry().start(work, total_epochs=5, owner="a")
    assert job.wait(WAIT)
    assert job.status == FAILED and job.error.startswith("The feature table has no slice rows")


def test_one_running_job_per_owner_and_a_server_limit() -> None:
    jobs, gate = JobRegistry(max_running=2), threading.Semaphore(0)
    first = jobs.start(stepping_work(50, gate), total_epochs=50, owner="a")
    with pytest.raises(JobError, match="still going"):
        jobs.start(stepping_work(1), total_epochs=1, owner="a")
    second = jobs.start(stepping_work(50, gate), total_epochs=50, owner="b")
    with pytest.raises(JobError, match="2 training runs"):
        jobs.start(stepping_work(1), total_epochs=1, owner="c")
    assert set(j.id for j in jobs.running()) == {first.id, second.id}
    first.stop()
    second.stop()
    gate.release(2)
    assert first.wait(WAIT) and second.wait(WAIT)
    third = jobs.start(stepping_work(1), total_epochs=1, owner="a")  # the owner may start again
    assert third.wait(WAIT) and third.status == FINISHED


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_job_whose_owner_is_gone_stops_after_the_grace_time_unless_adopted() -> None:
    clock = FakeClock()
    jobs = JobRegistry(grace_s=60, keep_s=600, clock=clock)
    sessions = {"old": True, "new": True}
    job = jobs.start(stepping_work(0), total_epochs=10, owner="old", alive=lambda: sessions["old"])
    job.wait(WAIT)  # the fake work returns at once; drive the stop flag by hand
    sessions["old"] = False
    clock.now = 10
    assert not job.is_set()  # gone, but within the grace time
    clock.now = 40
    jobs.adopt(job.id, "new", alive=lambda: sessions["new"])  # a reload reattaches
    assert job.owner == "new"
    clock.now = 200
    assert not job.is_set()
    sessions["new"] = False
    clock.now = 210
    assert not job.is_set()
    clock.now = 271
    assert job.is_set() and job.stop_reason == ORPHANED


def test_finished_jobs_are_forgotten_after_keep_time_and_unknown_ids_are_refused() -> None:
    clock = FakeClock()
    jobs = JobRegistry(keep_s=100, clock=clock)
    job = jobs.start(stepping_work(1), total_epochs=1, owner="a")
    assert job.wait(WAIT)
    clock.now = 50
    assert jobs.get(job.id) is job
    clock.now = 101
    assert jobs.get(job.id) is None
    with pytest.raises(JobError, match="no longer on this server"):
        jobs.adopt(job.id, "b")


def test_discard_stops_and_forgets() -> None:
    jobs, gate = JobRegistry(), threading.Semaphore(0)
    job = jobs.start(stepping_work(100, gate), total_epochs=100, owner="a")
    jobs.discard(job.id)
    gate.release()
    assert job.wait(WAIT) and job.status == STOPPED and jobs.get(job.id) is None


# --- real training ------------------------------------------------------------------------------

TINY = dict(batch_size=16, model_config={"units": (32, 16)})


def test_two_sessions_training_at_once_do_not_corrupt_each_other() -> None:
    three = synthetic_table(n_tracks=10, n_slices=3)
    two = synthetic_table(n_tracks=10, n_slices=3, genres=("jazz", "rock"), seed=1)
    jobs = JobRegistry()

    def work(table, protocol, epochs):
        config = TrainConfig(epochs=epochs, **TINY)
        return lambda log, stop: train_holdout(config, table, protocol, callbacks=[log], stop=stop, compare=False)

    a = jobs.start(work(three, "track", 40), total_epochs=40, owner="a")
    b = jobs.start(work(two, "seed", 6), total_epochs=6, owner="b")
    while a.snapshot().done < 2:
        a.wait(0.05)
    a.stop()
    assert a.wait(WAIT) and b.wait(WAIT)
    assert (a.status, b.status) == (STOPPED, FINISHED), (a.error, b.error)
    assert 2 <= a.snapshot().done < 40 and b.snapshot().done == 6
    ra, rb = a.result, b.result
    assert ra.report.classes == ("blues", "classical", "metal") and ra.model.output_shape == (None, 3)
    assert rb.report.classes == ("jazz", "rock") and rb.model.output_shape == (None, 2)
    assert ra.history.stopped and not rb.history.stopped
    assert ra.history.best_epoch <= a.snapshot().done
    # each model answers for its own rows: the test rows are predicted with its own classes
    assert ra.report.rows["n"] == len(ra.test_rows) and rb.report.rows["n"] == len(rb.test_rows)
    assert not set(ra.test_rows.groups) & set(ra.history.rows.groups)  # track protocol: no shared track


def test_holdout_splits_follow_the_protocols() -> None:
    rows = training_rows(synthetic_table(n_tracks=10, n_slices=3), "slice")
    train_index, test_index = holdout_split(rows, "track", seed=3)
    assert not set(rows.groups[train_index]) & set(rows.groups[test_index])
    train_index, test_index = holdout_split(rows, "seed", seed=3)
    assert set(rows.groups[train_index]) & set(rows.groups[test_index])  # the leak the seed protocol has
    assert len(test_index) == pytest.approx(0.2 * len(rows), abs=1)
    assert np.bincount(rows.y[test_index]).tolist() == [6, 6, 6]  # stratified
    with pytest.raises(ValueError, match="Unknown protocol"):
        holdout_split(rows, "file", seed=3)


def test_registry_models_are_scored_on_the_same_test_rows(tmp_path, monkeypatch) -> None:
    from core import registry
    from core.holdout import compare_registry
    from core.model_card import model_card

    monkeypatch.setenv("CPUNK_MODELS_DIR", str(tmp_path))
    table = synthetic_table(n_tracks=10, n_slices=3)
    result = train_holdout(TrainConfig(epochs=3, **TINY), table, "track", compare=False)
    meta = model_card(result.model, result.config, result.history, source="synthetic",
                      protocol=result.protocol_card(), metrics=result.metrics_card())
    registry.save_model("slices", result.model, meta)
    registry.save_model("tracks", result.model, {**meta, "level": "track"})
    registry.save_model("two-genres", result.model, {**meta, "classes": ["blues", "metal"]})
    entries = {e["name"]: e for e in compare_registry(result.test_rows, "track", result.config)}
    assert entries["slices"]["row_accuracy"] == pytest.approx(result.report.rows["accuracy"])
    assert entries["slices"]["track_accuracy"] == pytest.approx(result.report.tracks["accuracy"])
    assert entries["slices"]["stored_protocol"] == "track" and entries["slices"]["trained_on"] == "synthetic"
    assert entries["tracks"]["skipped"] == "trained on track rows"
    assert entries["two-genres"]["skipped"] == "does not know classical"
