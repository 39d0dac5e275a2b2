"""Atomic writes: write to a temporary next to the target, then rename it into place.

This module owns the temporaries' naming scheme, ``.tmp-<pid>-<name>-<random>``, and their clean-up
(:func:`remove_temporaries`): a temporary whose writing process is gone was left by a killed run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator

TEMP_PREFIX = ".tmp-"


def umask() -> int:
    """The process's current umask (read without changing it for long)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _prefix(name: str) -> str:
    return f"{TEMP_PREFIX}{os.getpid()}-{name}-"


def _writer_pid(path: Path) -> int | None:
    """The pid in a temporary's name, or None when ``path`` is not named as a temporary."""
    if not path.name.startswith(TEMP_PREFIX):
        return None
    pid = path.name[len(TEMP_PREFIX):].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_temporaries(root: str | os.PathLike, *, recursive: bool = False) -> list[Path]:
    """Delete the temporaries (files or folders) in ``root`` whose writing process has ended; returns them.

    Temporaries of live processes are kept, so a concurrent writer is never disturbed.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    found = root.rglob(f"{TEMP_PREFIX}*") if recursive else root.glob(f"{TEMP_PREFIX}*")
    removed = []
    for path in list(found):
        pid = _writer_pid(path)
        if pid is None or _alive(pid):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on success it replaces ``path``, else it is removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(target.name), dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~umask())
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def temporary_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new empty folder next to ``path``, named as a temporary, for the caller to fill and rename
    onto ``path``; whatever is still there when the block ends (it failed) is removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(target.name), dir=target.parent))
    try:
        os.chmod(tmp, 0o777 & ~umask())
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file handle for ``path``: flushed to disk, then renamed onto it when the block succeeds."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_file(path) as handle:
        handle.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically (NaN refused)."""
    write_text(path, json.dumps(data, indent=1, allow_nan=False) + "\n")
