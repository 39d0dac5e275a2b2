"""Helpers shared by the Dask-engine and object-storage tests: a small dataset, raw part rows, and a
progress callback that kills a busy Dask worker."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import soundfile as sf
from synth_audio import synth

from core import storage
from core.data.store import part_paths


def write_small_dataset(root: Path) -> Path:
    """Six short synthetic clips in two genres (rock/, jazz/), and one file that is not audio."""
    for i, genre in enumerate(("rock", "jazz") * 3):
        path = root / genre / f"{genre}.{i:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, synth("music", seconds=3.5, freq=180.0 + 40 * i, seed=i), 22_050)
    (root / "rock" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    return root


def raw_rows(store: storage.Location) -> pd.DataFrame:
    """Every row of every part of a store (local or URL), duplicates included."""
    tables = []
    for part in part_paths(store):
        with storage.open_input(part) as handle:
            tables.append(pq.read_table(handle).to_pandas())
    return pd.concat(tables, ignore_index=True)


def worker_killer(client) -> tuple[Callable[[int, int], None], list[int]]:
    """A progress callback that SIGKILLs one busy worker of ``client``'s cluster once some track has
    finished, and the list that receives the killed worker's pid."""
    killed: list[int] = []

    def kill_a_busy_worker(done: int, total: int) -> None:
        if killed or done == 0:
            return
        pids = client.run(os.getpid)
        busy = [w for w, keys in client.processing().items() if keys] or list(pids)
        killed.append(pids[busy[0]])
        os.kill(killed[0], signal.SIGKILL)

    return kill_a_busy_worker, killed
