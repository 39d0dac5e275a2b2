"""A write killed halfway, through the real atomic-write code, leaving its real temporary behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_KILLED_WRITE = """
import os, signal, sys
from core.atomic import atomic_path, temporary_dir
target = sys.argv[1]
with (temporary_dir(target) if sys.argv[2] == "dir" else atomic_path(target)) as tmp:
    (tmp / "model.keras" if sys.argv[2] == "dir" else tmp).write_bytes(b"half a file")
    print(tmp.name, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def killed_write(target: Path, kind: str = "file") -> Path:
    """Start writing ``target`` (a file, or a folder with ``kind="dir"``) in a process that is SIGKILLed
    mid-write; returns the temporary it left."""
    run = subprocess.run([sys.executable, "-c", _KILLED_WRITE, str(target), kind], cwd=REPO, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert run.returncode == -9, run.stderr
    left = target.parent / run.stdout.strip()
    assert left.exists()
    return left


def dying_worker_init(main_pid: int, environ: dict[str, str], name: str, root: str) -> None:
    """The predict pool's real initializer, then a worker that dies (``os._exit(3)``, as a crash in a decoder or
    an out-of-memory kill would) when it is given a file with ``crash`` in its name."""
    from core import predict_batch

    predict_batch._init_predict_worker(main_pid, environ, name, root)
    real = predict_batch.file_row

    def file_row(path: str, *args: object) -> dict[str, object]:
        if "crash" in Path(path).name:
            os._exit(3)
        return real(path, *args)

    predict_batch.file_row = file_row  # type: ignore[assignment]  # what the worker's _worker_row calls
