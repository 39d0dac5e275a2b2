"""``python -m core info FILE``: what the loader sees in an audio file."""

from __future__ import annotations

import argparse
import sys

from core.audio import AnalysisLimit, AudioError, load_audio


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("info", help="show what the loader sees in audio files",
                              description="Decode each file as the app would and describe it.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--max-seconds", type=float, default=AnalysisLimit().max_seconds,
                   help="analyse at most this many seconds (default: %(default)s)")
    p.add_argument("--offset", type=float, default=0.0, help="start the analysis here (seconds)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    status = 0
    for path in args.files:
        try:
            audio = load_audio(path, limit=AnalysisLimit(args.max_seconds, args.offset))
        except AudioError as exc:
            print(f"{path}: ERROR: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{path}\n  source:   {audio.info.summary()} ({audio.info.size_bytes:,} bytes, {audio.info.decoder})"
              f"\n  analysed: {audio.analysed_part()} as mono {audio.sr:,} Hz, {len(audio.y):,} samples")
        for warning in audio.warnings:
            print(f"  warning:  {warning}")
    return status
