"""``python -m core predict PATH... --out predictions.csv``: classify many files with a saved model."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tqdm import tqdm

from core.audio import AnalysisLimit

DESCRIPTION = """\
Classify audio files (or every audio file under the folders given) with a model from the registry
and write one CSV row per file: genre, confidence, top 3 and every genre's probability. Files that
cannot be analysed get a row with the reason in the `error` column and are listed at the end; they
never stop the batch. Files are classified in --workers processes (all cores by default), each
loading the model once; a worker that dies (crash, out of memory) costs only the file it was reading,
which gets the error row. The CSV keeps the order of the files. Exit status: 0 when every file was
classified, 1 when some failed, 2 when nothing could be done (no model, no files). Decoder messages and numeric warnings go to the
`warnings` column (and to the terminal with --verbose); tracebacks of unexpected errors go to the
log file (--log)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("predict", help="classify audio files with a saved model",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders")
    p.add_argument("--model", default=None, help="model name (default: the default model)")
    p.add_argument("--out", default=None, metavar="CSV", help="write the table here (default: print it)")
    p.add_argument("--max-seconds", type=float, default=AnalysisLimit().max_seconds,
                   help="analyse at most this many seconds per file (default: %(default)s)")
    p.add_argument("--offset", type=float, default=0.0, help="start the analysis here (seconds)")
    p.add_argument("--max-windows", type=_windows, default=AnalysisLimit().max_windows, metavar="N",
                   help="the verdict reads at most N of the analysed part's 3-s windows, spread evenly over it "
                        "(0: every window; default: %(default)s, as on the Classify page)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="classify in N processes, each with the model loaded once (default: all cores, %(default)s)")
    p.add_argument("--verbose", action="store_true",
                   help="also print each file's warnings and the tracebacks of unexpected errors")
    p.add_argument("--log", type=Path, default=None,
                   help="append tracebacks of unexpected errors here (default: $CPUNK_LOG, else "
                        "classically-punk.log in the temp folder)")
    p.set_defaults(func=run)


def _windows(text: str) -> int | None:
    n = int(text)
    if n < 0:
        raise argparse.ArgumentTypeError("must be 0 (every window) or more")
    return n or None


def run(args: argparse.Namespace) -> int:
    from core import storage
    from core.failures import log_to
    from core.models.registry import RegistryError, load_model
    from core.predict import audio_files, predict_files

    try:
        model = load_model(args.model)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("error: --workers must be 1 or more.", file=sys.stderr)
        return 2
    log_to(args.log, args.verbose)
    files = audio_files(args.paths)
    if not files:
        print("error: no audio files found in the paths given.", file=sys.stderr)
        return 2
    with tqdm(total=len(files), unit="file", file=sys.stderr) as bar:
        table = predict_files(files, model, limit=AnalysisLimit(args.max_seconds, args.offset, args.max_windows),
                              progress=lambda _: bar.update(1), workers=args.workers)
    failed = table[table["error"] != ""]
    if args.out:
        storage.write_bytes(args.out, table.to_csv(index=False).encode())
        print(f"Wrote {args.out}: {len(table) - len(failed)} classified, {len(failed)} failed "
              f"(model {model.name}).")
    else:
        print(table[["path", "genre", "confidence", "top3"]].to_string(index=False))
    if args.verbose:
        for path, warning in table[table["warnings"].fillna("") != ""][["path", "warnings"]].itertuples(index=False):
            print(f"{path}: warning: {warning}", file=sys.stderr)
    for path, reason in failed[["path", "error"]].itertuples(index=False):
        print(f"{path}: {reason}", file=sys.stderr)
    return 1 if len(failed) else 0
