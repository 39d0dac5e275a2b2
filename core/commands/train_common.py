"""What table training and audio training share: Ctrl-C as a stop, exiting with a job's parent, the name
check, the ``python -m core train ...`` command that rebuilds a model (stored in its card), the progress
reports a job reads (``--report-jsonl``) and a model folder written outside the registry (``--out``)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shlex
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from core import storage

if TYPE_CHECKING:
    from core.models.model_card import ModelCard


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


# Options that say where a run writes, keeps its cache or how a job talks to it, not what it trains
# (True: the option takes a value).
_PLUMBING = {"--out": True, "--report-jsonl": True, "--stop-with-parent": False, "--workers": True, "--cache": True}


def rebuild_command(args: argparse.Namespace) -> str:
    """The ``python -m core train ...`` that rebuilds this run's model (:func:`command_line` of its arguments)."""
    return command_line(args.argv[1:])


def command_line(given: list[str]) -> str:
    """``python -m core train`` with the arguments ``given``, the plumbing of :data:`_PLUMBING` left out: what a
    model card stores and the Train page shows. Relative paths are relative to the repository root."""
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


def jsonl_writer(path: str) -> Callable[[Any], None]:
    """A listener that appends each report (an epoch or a stage) to ``path`` as a JSON line."""

    def write(report: Any) -> None:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(dataclasses.asdict(report)) + "\n")
    return write


def save_run(args: argparse.Namespace, model: Any, card: ModelCard) -> storage.Location:
    """Save the trained model where the command says: the folder ``--out`` (outside the registry), else the
    registry as ``--name`` (the default model with ``--default``); where it went."""
    from core.models import registry

    if args.out:
        return save_folder(args.out, model, card)
    saved = registry.save_model(args.name, model, card, overwrite=args.overwrite).path
    if args.default:
        registry.set_default(args.name)
    return saved


def save_folder(out: str, model: Any, card: ModelCard) -> storage.Location:
    """Write the model folder ``out`` outside the registry: on disk as the registry writes its folders (atomic),
    to a URL written in a temporary folder first and then uploaded file by file."""
    from core.models import registry

    where = storage.location(out)
    if isinstance(where, Path):
        return registry.save_model(where.name, model, card, where.parent, overwrite=True).path
    with tempfile.TemporaryDirectory(prefix="cpunk-model-") as tmp:
        storage.put_folder(registry.save_model(storage.name(where), model, card, tmp).path, where)
    return where
