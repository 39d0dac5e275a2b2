"""What table training and audio training share: Ctrl-C as a stop, exiting with a job's parent, the name
check and the ``python -m core train ...`` command that rebuilds a model (stored in its card)."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import threading
import time
from typing import Iterator


@contextlib.contextmanager
def ctrl_c_sets(event: threading.Event) -> Iterator[None]:
    """While inside, Ctrl-C sets ``event`` (training then stops cleanly) instead of raising."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda *_: event.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def exit_with_parent(interval_s: float = 1.0) -> None:
    """From now on, exit (status 3) once the process that started this one is gone: nobody is left to read
    the result. A daemon thread checks every ``interval_s`` seconds."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        os._exit(3)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


# Options that say where a run writes or how a job talks to it, not what it trains.
_PLUMBING = {"--out": True, "--report-jsonl": True, "--stop-with-parent": False, "--workers": True}


def rebuild_command(args: argparse.Namespace) -> str:
    """The ``python -m core train ...`` that rebuilds this run's model: the command line as given (the
    job plumbing of :data:`_PLUMBING` left out). Relative paths are relative to the repository root."""
    given = args.argv[1:]
    kept, skip = [], False
    for part in given:
        flag = part.split("=", 1)[0]
        if skip:
            skip = False
        elif flag in _PLUMBING:
            skip = _PLUMBING[flag] and "=" not in part
        else:
            kept.append(part)
    return shlex.join(["python", "-m", "core", "train", *kept])


def check_new_name(args: argparse.Namespace) -> None:
    """Raise :class:`core.models.registry.RegistryError` when ``--name`` is not a valid model name, or names a
    model that exists and ``--overwrite`` was not given."""
    from core.models import registry

    registry.check_name(args.name)
    if not args.overwrite and (registry.models_dir() / args.name).exists():
        raise registry.RegistryError(f"A model named {args.name!r} already exists; use --overwrite.")
