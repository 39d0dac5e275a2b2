"""Crash safety: ``kill -9`` during extraction, during training and at every step of a model save.

Nothing saved is lost or duplicated, nothing half-written becomes visible, and the registry and the
default model are untouched by a training run that dies.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from crash_helpers import killed_write
from model_helpers import synthetic_table

from core.data.store import ERRORS_FILE, part_paths, read_errors, read_store
from core.models.model_card import ModelCard

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1",
       "CPUNK_TF_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
SLICES = 2


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -m core ARGS`` in its own process group (so leftovers can be cleaned up)."""
    return subprocess.Popen([sys.executable, "-m", "core", *args], cwd=REPO, env={**ENV, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def kill_9(process: subprocess.Popen) -> None:
    """SIGKILL the main process (no cleanup of any kind runs), then reap its group's leftovers."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    time.sleep(2)  # extraction workers notice their main process is gone and exit on their own
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_until(condition: Callable[[], bool], process: subprocess.Popen, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the process ended (rc {process.returncode}) before the moment to kill it:\n"
                        f"{process.stdout.read().decode(errors='replace')[-3000:]}")
        assert time.monotonic() < deadline, "timed out waiting for the moment to kill"
        time.sleep(0.05)


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones included) with the SHA-256 of its content."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --- extraction ------------------------------------------------------------------------------------

def small_dataset(root: Path, per_genre: int = 12) -> list[str]:
    """``per_genre`` short clips in each of two genre folders, plus one broken file; returns the good ids."""
    ids = []
    t = np.arange(int(6.5 * 22_050)) / 22_050  # two whole 3-s slices
    for g, genre in enumerate(("blues", "metal")):
        (root / genre).mkdir(parents=True)
        for i in range(per_genre):
            y = 0.3 * np.sin(2 * np.pi * (110 + 20 * i + 300 * g) * t) + 0.2 * (np.mod(t, 0.5) < 0.01)
            sf.write(root / genre / f"{genre}.{i:05d}.wav", y.astype(np.float32), 22_050)
            ids.append(f"{genre}/{genre}.{i:05d}")
    (root / "metal" / "broken.wav").write_bytes(b"RIFF....WAVEfmt junk")
    return ids


def test_kill_9_during_extraction_then_rerun_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """``kill -9`` of the extract command's main process mid-run (its pool workers end with it), then the same
    command again: every track once with all its slices, the bad file's error kept, no saved part rewritten,
    no temporary left."""
    data, store = tmp_path / "data", tmp_path / "store"
    ids = small_dataset(data)
    args = ["extract", str(data), "--out", str(store), "--workers", "2", "--part-size", "2", "--slices", str(SLICES)]
    run = start(args)
    try:
        wait_until(lambda: len(part_paths(store)) >= 2, run)
        workers = psutil.Process(run.pid).children(recursive=True)
        os.kill(run.pid, signal.SIGKILL)  # the main process only, like `kill -9 PID`
        run.wait(timeout=30)
        _, alive = psutil.wait_procs(workers, timeout=60)
        assert not alive, "pool workers outlived their killed parent"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
    saved_before = {p.name: tree_digest(p.parent)[p.name] for p in part_paths(store)}
    left = [killed_write(store / "parts" / "part-9999.parquet"), killed_write(store / ERRORS_FILE)]
    done_before = set(read_store(store)["track_id"])
    assert done_before and done_before < set(ids), "the kill must land mid-run"

    rerun = subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, env=ENV, capture_output=True,
                           text=True, timeout=600)
    assert rerun.returncode == 1, rerun.stdout + rerun.stderr  # 1: the broken file failed, the rest is done
    assert f"{len(done_before)} already in the store" in rerun.stdout

    raw = pd.concat([pq.read_table(p).to_pandas() for p in part_paths(store)], ignore_index=True)
    assert not raw.duplicated(["track_id", "slice"]).any(), "a track was extracted twice"
    assert sorted(set(raw["track_id"])) == sorted(ids), "a track was lost"
    assert len(raw) == len(ids) * (1 + SLICES)
    assert all(sorted(s) == list(range(-1, SLICES)) for s in raw.groupby("track_id")["slice"].agg(list))
    assert all(tree_digest(store / "parts")[name] == digest for name, digest in saved_before.items()), \
        "a part saved before the kill was rewritten"
    assert list(read_errors(store)["track_id"]) == ["metal/broken"]
    assert (store / ERRORS_FILE).is_file()
    assert not any(p.exists() for p in left), "a killed write's temporary was left behind"
    assert sorted(p.name for p in store.iterdir()) == sorted([ERRORS_FILE, "manifest.json", "parts"])
    assert all(p.name.startswith("part-") for p in (store / "parts").iterdir()), "a temporary was left behind"
    assert len(read_store(store)) == len(raw)


# --- training --------------------------------------------------------------------------------------

@pytest.fixture
def registry_copy(tmp_path: Path) -> Path:
    """A models directory holding a copy of the shipped default model, set as the default."""
    from core.models.registry import DEFAULT_FILE, default_name, models_dir

    name = default_name()
    if name is None:
        pytest.skip("no shipped default model")
    root = tmp_path / "models"
    shutil.copytree(models_dir() / name, root / name)
    (root / DEFAULT_FILE).write_text(json.dumps({"default": name}))
    return root


def test_kill_9_during_training_leaves_the_registry_and_default_untouched(tmp_path: Path, registry_copy: Path) -> None:
    from core.models.registry import default_name, list_models

    name = default_name(registry_copy)
    table = tmp_path / "features.parquet"
    synthetic_table(n_tracks=4, n_slices=2).to_parquet(table)
    before = tree_digest(registry_copy)
    # Overwrite the default model with a new one and make it the default: the riskiest run to interrupt.
    run = start(["train", str(table), "--name", name, "--overwrite", "--default", "--epochs", "100000",
                 "--batch-size", "8"], env={"CPUNK_MODELS_DIR": str(registry_copy)})
    output = b""

    def training() -> bool:
        nonlocal output
        output += os.read(run.stdout.fileno(), 4096) if run.poll() is None else b""
        return b"loss" in output  # tqdm shows the first epoch's loss

    os.set_blocking(run.stdout.fileno(), False)
    wait_until(lambda: _quietly(training), run)
    kill_9(run)
    assert tree_digest(registry_copy) == before
    assert [m.name for m in list_models(registry_copy)] == [name]
    assert default_name(registry_copy) == name


def _quietly(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except BlockingIOError:
        return False


# --- model save ------------------------------------------------------------------------------------

class FileModel:
    """Stands in for a Keras model in a save: writes the bytes of a real ``.keras`` file, in pieces."""

    def __init__(self, source: Path, die_halfway: bool = False):
        self.data, self.die_halfway = source.read_bytes(), die_halfway

    def save(self, path: Path) -> None:
        with open(path, "wb") as f:
            f.write(self.data[: len(self.data) // 2])
            f.flush()
            if self.die_halfway:
                os.kill(os.getpid(), signal.SIGKILL)
            f.write(self.data[len(self.data) // 2:])


# Where the child dies in a save with overwrite followed by set_default: halfway through model.keras,
# just before the n-th os.replace (1: moving the old model aside; 2: moving the new one in; 3: replacing
# default.json), or just before the old model's folder is removed.
CRASH_POINTS = {"writing model.keras": "half", "before moving the old model aside": 1,
                "between the two renames": 2, "before removing the old model": "rmtree", "writing default.json": 3}


def _save_and_die(root: Path, name: str, crash_at: int | str) -> None:
    """In a forked child: save version B of ``name`` (overwrite) and make it the default; SIGKILL at ``crash_at``."""
    from core.models import registry

    real_replace, calls = os.replace, [0]

    def replace(src, dst) -> None:
        calls[0] += 1
        if calls[0] == crash_at:
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst)

    def rmtree(*args, **kwargs) -> None:
        if crash_at == "rmtree":
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace, registry.shutil.rmtree = replace, rmtree
    registry._inference_copy = lambda model: model
    meta = json.loads((root / name / registry.META_FILE).read_text())
    model = FileModel(root / name / registry.MODEL_FILE, die_halfway=crash_at == "half")
    registry.save_model(name, model, ModelCard.from_json({**meta, "notes": "version B"}), root, overwrite=True)
    registry.set_default(name, root)
    os._exit(0)


@pytest.mark.parametrize("point", CRASH_POINTS, ids=list(CRASH_POINTS))
def test_kill_9_at_each_step_of_a_model_save_never_shows_half_a_model(point: str, registry_copy: Path) -> None:
    from core.models.registry import default_name, list_models, load_model, model_info, recover

    name = default_name(registry_copy)
    meta = json.loads((registry_copy / name / "model.json").read_text())
    (registry_copy / name / "model.json").write_text(json.dumps({**meta, "notes": "version A"}))
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        try:
            _save_and_die(registry_copy, name, CRASH_POINTS[point])
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"child status {status}"

    left = sorted(p.name for p in registry_copy.iterdir())
    list_models(registry_copy), default_name(registry_copy)
    assert sorted(p.name for p in registry_copy.iterdir()) == left, "a read changed the registry"
    recover(registry_copy)  # what the app and the commands do at start-up
    visible = [p for p in registry_copy.iterdir() if p.is_dir() and not p.name.startswith(".")]
    for folder in visible:  # version A (with its inference export) or B (a stand-in model: no export)
        assert sorted(f.name for f in folder.iterdir()) in (["model.json", "model.keras"],
                                                            ["model.json", "model.keras", "model.onnx"]), folder
    assert [m.name for m in list_models(registry_copy)] == [name]
    assert sorted(p.name for p in registry_copy.iterdir()) == sorted([name, "default.json"]), "leftovers"
    assert default_name(registry_copy) == name
    assert model_info(name, registry_copy).card.notes in ("version A", "version B")
    assert load_model(name, registry_copy).name == name


def test_only_the_temporaries_of_ended_writers_are_removed(tmp_path: Path) -> None:
    from core.atomic import atomic_path, remove_temporaries
    from core.models.registry import list_models, recover

    dead_file, dead_dir = killed_write(tmp_path / "a.parquet"), killed_write(tmp_path / "m", kind="dir")
    with atomic_path(tmp_path / "b.parquet") as live:  # this process is still writing it
        live.write_bytes(b"in progress")
        (tmp_path / "b.parquet.notes").write_text("not a temporary")
        assert sorted(remove_temporaries(tmp_path)) == sorted([dead_file, dead_dir])
        assert live.exists() and (tmp_path / "b.parquet.notes").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.parquet", "b.parquet.notes"]
    killed_write(tmp_path / "models" / "m", kind="dir")
    assert list_models(tmp_path / "models") == [] and list((tmp_path / "models").iterdir())  # a read leaves it
    assert recover(tmp_path / "models") == [] and not list((tmp_path / "models").iterdir())
