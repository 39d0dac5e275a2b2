"""The command line: ``python -m core <command> ...``.

Each command lives in its own module under :mod:`core.commands` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed args,
returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# One module per command, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "core.commands.info",
    "core.commands.extract",
    "core.commands.import_csv",
    "core.commands.train",
    "core.commands.predict",
    "core.commands.evaluate",
    "core.commands.evaluate_audio",
)

# The commands that read the model registry.
MODEL_COMMANDS = frozenset({"train", "predict", "evaluate-audio"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Classically Punk: music genre classification.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command; an unexpected error prints one line (the traceback goes to the log) and exits 2."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as given (model cards record the command)
    if args.command in MODEL_COMMANDS:  # start-up: finish what a killed save left (reads never write)
        from core.models.registry import recover

        recover()
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - no traceback reaches the person at the terminal
        from core.failures import command_failure

        print(command_failure(exc, args.command), file=sys.stderr)
        return 2
