"""``python -m core predict PATH... --out predictions.csv``: classify many files with a saved model."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from core.audio import AnalysisLimit
from core.commands.engine_args import add_engine_arguments

if TYPE_CHECKING:
    import pandas as pd

    from core.models.registry import LoadedModel

DESCRIPTION = """\
Classify audio files (or every audio file under the folders given) with a model from the registry
and write one CSV row per file: genre, confidence (calibrated when the model's card has a calibration: the
chance the verdict is right on music from outside its training set), the verdict in words, `novel` (unlike
every genre the model knows; empty when the model cannot tell), top 3 and every genre's probability, and
`music` ("not music" when the model's detector hears speech, noise or other sounds that are not music:
the genre columns are then empty; empty for models without a detector). Files that
cannot be analysed get a row with the reason in the `error` column and are listed at the end; they
never stop the batch. Files are classified in --workers processes (all cores by default), each
loading the model once; a worker that dies (crash, out of memory) costs only the file it was reading,
which gets the error row. The CSV keeps the order of the files. Exit status: 0 when every file was
classified, 1 when some failed, 2 when nothing could be done (no model, no files). Decoder messages and numeric warnings go to the
`warnings` column (and to the terminal with --verbose); tracebacks of unexpected errors go to the
log file (--log).

--engine dask classifies on a Dask cluster instead: the scheduler at --scheduler ADDRESS (`dask scheduler`
+ `dask worker ADDRESS --nthreads 1` on each machine), or a local cluster of --workers processes. Each
worker loads the model once; the rows are saved as they come into a resumable results store (--store DIR,
kept; default OUT.parts beside the CSV, removed once the CSV is written): after a crash or Ctrl-C, the
same command classifies only the files without a row. The audio and the models folder must be where
every worker can read them (an object store, or the same absolute paths on every machine). PATH may be
a folder, a file, an object-store folder (s3://bucket/music) or a CSV manifest with a `path` column
(paths relative to the CSV), with either engine."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("predict", help="classify audio files with a saved model",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files, folders or CSV manifests (a path column)")
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
    add_engine_arguments(p)
    p.add_argument("--store", metavar="DIR", default=None,
                   help="with --engine dask: the resumable results store, kept (default: OUT.parts, "
                        "removed once the CSV is written)")
    p.add_argument("--part-size", type=int, default=None, metavar="N",
                   help="with --engine dask: rows per saved part (default: 50); a crash redoes at most this many files")
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
    from core.data.metadata import DatasetError
    from core.data.store import FeatureTableError
    from core.failures import log_to
    from core.models.registry import RegistryError, load_model
    from core.predict_batch import audio_files, predict_files

    try:
        model = load_model(args.model)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if model.note:
        print(f"note: {model.note}", file=sys.stderr)
    problem = _check(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    log_to(args.log, args.verbose)
    limit = AnalysisLimit(args.max_seconds, args.offset, args.max_windows)
    try:
        files = audio_files(args.paths)
        if not files:
            print("error: no audio files found in the paths given.", file=sys.stderr)
            return 2
        if args.engine == "dask":
            store = args.store or storage.child(storage.parent(args.out), storage.name(args.out) + ".parts")
            table = _predict_on_dask(args, files, model, limit, store)
        else:
            with tqdm(total=len(files), unit="file", file=sys.stderr) as bar:
                table = predict_files(files, model, limit=limit, progress=lambda _: bar.update(1),
                                      workers=args.workers)
    except (DatasetError, FeatureTableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = table[table["error"] != ""]
    if args.out:
        storage.write_bytes(args.out, table.to_csv(index=False).encode())
        print(f"Wrote {args.out}: {len(table) - len(failed)} classified, {len(failed)} failed "
              f"(model {model.name}).")
        if args.engine == "dask" and not args.store:
            storage.remove(store, recursive=True)
    else:
        print(table[["path", "music", "genre", "confidence", "verdict", "top3"]].to_string(index=False))
    if args.verbose:
        for path, warning in table[table["warnings"].fillna("") != ""][["path", "warnings"]].itertuples(index=False):
            print(f"{path}: warning: {warning}", file=sys.stderr)
    for path, reason in failed[["path", "error"]].itertuples(index=False):
        print(f"{path}: {reason}", file=sys.stderr)
    return 1 if len(failed) else 0


def _check(args: argparse.Namespace) -> str:
    """What is wrong with the options ("" when nothing is)."""
    if args.workers < 1 or (args.part_size is not None and args.part_size < 1):
        return "--workers and --part-size must be 1 or more."
    if args.engine != "dask" and (args.scheduler or args.store or args.part_size):
        return "--scheduler, --store and --part-size are for --engine dask."
    if args.engine == "dask" and not (args.out or args.store):
        return "--engine dask needs --out CSV or --store DIR (where the results are kept as they come)."
    return ""


def _predict_on_dask(args: argparse.Namespace, files: list[str], model: LoadedModel, limit: AnalysisLimit,
                     store: str | os.PathLike) -> pd.DataFrame:
    """Classify ``files`` on Dask into the results ``store`` and read their table back."""
    from core.predict_dask import PART_FILES, predict_on_dask, read_results  # imports dask only when asked for

    with tqdm(total=len(files), unit="file", file=sys.stderr) as bar:
        summary = predict_on_dask(files, model, store, limit=limit, scheduler=args.scheduler, workers=args.workers,
                                  part_files=args.part_size or PART_FILES,
                                  progress=lambda done, _: bar.update(done - bar.n))
    if summary.skipped:
        print(f"{summary.skipped} files were already in {store}.", file=sys.stderr)
    return read_results(store, files, model.classes)
