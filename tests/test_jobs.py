"""Background jobs: live snapshots, stop, failure, one run per owner, reattach, orphans, two real trainings at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from model_helpers import synthetic_table

from core.data.store import write_parquet_atomic
from core.data.training_data import training_rows
from core.jobs import FAILED, FINISHED, ORPHANED, RUNNING, STOPPED, USER_STOP, JobError, JobRegistry, TrainProcess
from core.keras_env import keras
from core.models.evaluate import split, train_holdout
from core.models.train import EpochReport, TrainConfig

WAIT = 120  # generous: the test machine is shared
REPO = Path(__file__).resolve().parents[1]


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
    job = jobs.start(stepping_work(0), total_epochs=10, owner="browser", alive=lambda: sessions["old"])
    job.wait(WAIT)  # the fake work returns at once; drive the owner check by hand
    sessions["old"] = False
    clock.now = 10
    job.check_owner()
    assert not job.is_set()  # gone, but within the grace time
    clock.now = 40
    jobs.adopt(job.id, "browser", alive=lambda: sessions["new"])  # a reload in the same browser reattaches
    assert job.owner == "browser"
    clock.now = 200
    job.check_owner()
    assert not job.is_set()
    sessions["new"] = False
    clock.now = 210
    job.check_owner()
    assert not job.is_set()
    clock.now = 270
    assert not job.is_set()  # asking is not checking: only the watcher's check stops a job
    job.check_owner()
    assert job.is_set() and job.stop_reason == ORPHANED


def test_the_jobs_watcher_stops_a_job_whose_owner_is_gone() -> None:
    """No one has to poll: the job's own watcher notices the closed page and stops the run."""
    gate = threading.Semaphore(0)
    job = JobRegistry(grace_s=0).start(stepping_work(100, gate), total_epochs=100, owner="a", alive=lambda: False)
    for _ in range(int(WAIT / 0.05)):  # the watcher checks every WATCH_S seconds
        if job.is_set():
            break
        job.wait(0.05)
    gate.release()
    assert job.wait(WAIT) and job.status == STOPPED and job.stop_reason == ORPHANED


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


def test_only_its_owner_can_adopt_a_job() -> None:
    """The job id (in a shared URL) is not enough: another owner is refused and changes nothing."""
    sessions = {"a": True, "b": True}
    jobs = JobRegistry(grace_s=0)
    job = jobs.start(stepping_work(1), total_epochs=1, owner="a", alive=lambda: sessions["a"])
    assert job.wait(WAIT)
    with pytest.raises(JobError, match="started in another browser"):
        jobs.adopt(job.id, "b", alive=lambda: sessions["b"])
    assert job.owner == "a"
    sessions["a"] = False
    job.check_owner()
    assert job.is_set()  # the refused adopter's alive check was not attached
    assert jobs.adopt(job.id, "a") is job


def test_discard_stops_and_forgets() -> None:
    jobs, gate = JobRegistry(), threading.Semaphore(0)
    job = jobs.start(stepping_work(100, gate), total_epochs=100, owner="a")
    jobs.discard(job.id)
    gate.release()
    assert job.wait(WAIT) and job.status == STOPPED and jobs.get(job.id) is None


# --- real training ------------------------------------------------------------------------------

TINY = dict(batch_size=16, model_config={"units": (32, 16)})


def test_jobs_train_in_processes_of_their_own_exactly_what_the_cli_trains(tmp_path, monkeypatch) -> None:
    """A job next to another that is stopped, and the same command from a terminal at the same time: the
    same weights (jobs used to share Keras' global state in threads, and two of one config differed)."""
    monkeypatch.setenv("CPUNK_MODELS_DIR", str(tmp_path / "models"))  # no saved models to compare with
    table = write_parquet_atomic(synthetic_table(n_tracks=10, n_slices=3), tmp_path / "t.parquet")
    args = [str(table), "--holdout", "track", "--epochs", "4", "--batch-size", "16", "--seed", "7",
            "--model-config", json.dumps(TINY["model_config"])]
    jobs = JobRegistry(max_running=2)
    a = jobs.start(TrainProcess(args), total_epochs=4, owner="a")
    long = jobs.start(TrainProcess([*args[:-6], "--epochs", "2000", *args[-4:]]), total_epochs=2000, owner="c")
    cli = subprocess.run([sys.executable, "-m", "core", "train", *args, "--out", str(tmp_path / "cli")], cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=600)
    assert cli.returncode == 0, cli.stderr
    while long.snapshot().done < 2 and long.status == RUNNING:
        long.wait(0.1)
    long.stop()
    assert a.wait(600) and long.wait(600)
    assert (a.status, long.status) == (FINISHED, STOPPED), (a.error, long.error)
    assert a.snapshot().done == 4 and 2 <= long.snapshot().done < 2000
    assert long.result.history["stopped"] and long.result.history["best_epoch"] <= long.snapshot().done
    assert [e.loss for e in a.snapshot().epochs] == [e["loss"] for e in a.result.history["epochs"]]

    def weights(folder: Path) -> list[np.ndarray]:
        return keras.models.load_model(folder / "model.keras", safe_mode=True, compile=False).get_weights()

    expected = weights(tmp_path / "cli")
    assert all(np.array_equal(w, e) for w, e in zip(weights(a.result.info.path), expected, strict=True))
    assert a.result.card.metrics.rows == json.loads((tmp_path / "cli" / "model.json").read_text())["metrics"]["rows"]


def test_a_missing_table_is_the_train_commands_error_line(tmp_path, capsys) -> None:
    """What a failing job shows is the command's ``error:`` line (relayed from a real process in
    tests/test_train_apptest.py); the command itself runs in this process here."""
    from core.cli import main

    assert main(["train", str(tmp_path / "absent.parquet"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "absent.parquet" in err and "Traceback" not in err


def test_holdout_splits_follow_the_protocols() -> None:
    rows = training_rows(synthetic_table(n_tracks=10, n_slices=3), "slice")
    train_index, test_index = split(rows, "track", seed=3)
    assert not set(rows.groups[train_index]) & set(rows.groups[test_index])
    train_index, test_index = split(rows, "seed", seed=3)
    assert set(rows.groups[train_index]) & set(rows.groups[test_index])  # the leak the seed protocol has
    assert len(test_index) == pytest.approx(0.2 * len(rows), abs=1)
    assert np.bincount(rows.y[test_index]).tolist() == [6, 6, 6]  # stratified
    with pytest.raises(ValueError, match="Unknown protocol"):
        split(rows, "file", seed=3)


def test_registry_models_are_scored_on_the_same_test_rows(tmp_path, monkeypatch) -> None:
    from core.models import registry
    from core.models.evaluate import compare_registry
    from core.models.model_card import model_card

    monkeypatch.setenv("CPUNK_MODELS_DIR", str(tmp_path))
    table = synthetic_table(n_tracks=10, n_slices=3)
    result = train_holdout(TrainConfig(epochs=3, **TINY), table, "track", compare=False)
    meta = model_card(result.model, result.config, result.history, sources=("synthetic",), command="",
                      protocol=result.protocol_card(), metrics=result.metrics_card())
    registry.save_model("slices", result.model, meta)
    registry.save_model("tracks", result.model, replace(meta, level="track"))
    registry.save_model("other-set", result.model, replace(meta, classes=("blues", "jazz", "metal")))
    registry.save_model("no-overlap", result.model, replace(meta, classes=("ambient", "lofi", "punk")))
    entries = {e["name"]: e for e in compare_registry(result.test_rows, "track", result.config)}
    assert entries["slices"]["row_accuracy"] == pytest.approx(result.report.rows["accuracy"])
    assert entries["slices"]["track_accuracy"] == pytest.approx(result.report.tracks["accuracy"])
    assert entries["slices"]["stored_protocol"] == "track" and entries["slices"]["trained_on"] == "synthetic"
    assert entries["tracks"]["skipped"] == "trained on track rows"
    # Other genres: scored on the test tracks of the genres both know, or listed with the reason.
    assert entries["other-set"]["scored_on"] == "the test tracks of the genres it knows (blues, metal)"
    assert 0 <= entries["other-set"]["track_accuracy"] <= 1 and "row_accuracy" not in entries["other-set"]
    assert entries["no-overlap"]["skipped"] == "knows none of these genres (it knows ambient, lofi, punk)"
    registry.save_model("cnn", result.model, replace(meta, inputs=("log_mel",)))
    registry.save_model("broken", result.model, meta)
    (tmp_path / "broken" / "model.keras").write_bytes(b"not a keras file")
    entries = {e["name"]: e for e in compare_registry(result.test_rows, "track", result.config, table)}
    assert entries["tracks"]["scored_on"] == "the test tracks' track rows" and "row_accuracy" not in entries["tracks"]
    assert 0 <= entries["tracks"]["track_accuracy"] <= 1
    assert entries["cnn"]["skipped"] == "reads log_mel, not feature-table rows"
    assert entries["broken"]["skipped"].startswith("could not be scored (RegistryError")
