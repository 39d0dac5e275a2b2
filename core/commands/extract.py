"""``python -m core extract DATA --out PATH``: a dataset's features into a Parquet feature store."""

from __future__ import annotations

import argparse
import sys
from concurrent.futures.process import BrokenProcessPool

from tqdm import tqdm

from core import storage
from core.commands.engine_args import add_engine_arguments
from core.data.dataset import PART_TRACKS, DatasetError, Engine, ExtractSummary, discover, extract_dataset
from core.data.store import (
    ERRORS_FILE,
    FeatureTableError,
    compact,
    feature_schema_of,
    is_store,
    read_errors,
    read_features,
    store_from_table,
    write_parquet_atomic,
)
from core.features.schema import SCHEMAS, get_schema

DESCRIPTION = """\
Extract the features of every audio file of a dataset, in parallel, into a Parquet feature store:
one whole-track row (slice -1) and up to --slices 3-second slice rows per file.

DATA is a folder with one sub-folder per genre (blues/, classical/, ...; WAV, MP3, OGG, FLAC, AU,
M4A, AIFF) or a CSV manifest with the columns path,label (paths relative to the manifest's folder).
DATA and --out may be local or URLs of an object store (s3://bucket/gtzan, gs://..., az://...;
credentials from the store's usual environment, e.g. AWS_* variables or ~/.aws for S3).

--out DIR writes a store directory (manifest.json, parts/part-NNNN.parquet, errors.parquet);
--out FILE.parquet writes one Parquet file at the end (working in FILE.parquet.parts/ meanwhile).
Interrupted runs (Ctrl-C, kill -9, power loss) resume: rerun the same command and only the missing
files are analysed. Files that cannot be analysed are listed at the end and kept in the errors
table (FILE.errors.parquet for a single file); they are retried on the next run.
--engine dask runs the same extraction on a Dask cluster: the scheduler at --scheduler ADDRESS
(`dask scheduler` + `dask worker ADDRESS` on each machine; the store and the audio must be in an
object store or on a file system every worker sees, under the same absolute paths), or a local
cluster of --workers processes when no address is given.
Exit status: 0 when every file was analysed, 1 when some failed, 2 for unusable input."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("extract", help="extract a dataset's features into a Parquet store",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", metavar="DATA_DIR|MANIFEST.csv", help="genre folders or a path,label CSV")
    p.add_argument("--out", required=True, metavar="PATH", help="store directory, or a .parquet file")
    p.add_argument("--slices", type=int, default=10, metavar="N",
                   help="3-s slice rows per file, from the start (default: %(default)s; 0: whole-track rows only)")
    p.add_argument("--schema", default="seed", choices=sorted(SCHEMAS),
                   help="feature schema (default: %(default)s; gtzan-kaggle is ~10x slower)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="parallel processes (default: all CPU cores)")
    add_engine_arguments(p)
    p.add_argument("--limit-files", type=int, default=None, metavar="N",
                   help="only the first N files (sorted by track id), e.g. for a quick try")
    p.add_argument("--part-size", type=int, default=PART_TRACKS, metavar="N",
                   help="files per saved part (default: %(default)s); a crash loses at most this much work")
    p.add_argument("--float32", action="store_true",
                   help="store feature values as float32 in a single-file output (half the size)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    schema = get_schema(args.schema)
    out = storage.location(args.out)
    single_file = storage.name(out).lower().endswith(".parquet")
    store = _beside(out, ".parts") if single_file else out
    try:
        if args.slices < 0 or args.part_size < 1 or (args.workers is not None and args.workers < 1):
            raise DatasetError("--slices must be 0 or more, --workers and --part-size 1 or more.")
        if args.scheduler and args.engine != "dask":
            raise DatasetError("--scheduler is for --engine dask.")
        tracks = discover(args.data)[: args.limit_files]
        if single_file and storage.is_file(out) and not is_store(store):
            previous = read_features(out)  # resume from the earlier result: its tracks count as done
            if feature_schema_of(previous) != schema:
                raise FeatureTableError(f"{out} holds {feature_schema_of(previous).id} features, not {schema.id}.")
            store_from_table(store, previous, schema, args.slices)
        print(f"{len(tracks)} files in {args.data}; schema {schema.id}, {args.slices} slices each -> {out}",
              file=sys.stderr)
        with tqdm(total=len(tracks), unit="file", file=sys.stderr, dynamic_ncols=True) as bar:
            def progress(done: int, total: int) -> None:
                bar.update(done - bar.n)
            summary = extract_dataset(tracks, store, schema, max_slices=args.slices, workers=args.workers,
                                      progress=progress, part_tracks=args.part_size, engine=_engine(args))
        if single_file:
            _finish_single_file(store, out, args.float32)
    except (DatasetError, FeatureTableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenProcessPool:
        print("error: a worker process died (out of memory?). What was finished is saved; "
              "rerun the same command to continue.", file=sys.stderr)
        return 2
    _report(summary, out)
    return 1 if summary.errors else 0


def _engine(args: argparse.Namespace) -> Engine | None:
    if args.engine != "dask":
        return None
    from core.data.dask_engine import dask_engine  # imports dask only when asked for
    return dask_engine(args.scheduler)


def _beside(out: storage.Location, suffix: str) -> storage.Location:
    """``FILE.parquet`` + ``.parts`` -> ``FILE.parquet.parts``; ``.errors.parquet`` -> ``FILE.errors.parquet``."""
    name = storage.name(out)
    stem = name[:-len(".parquet")] if suffix.endswith(".parquet") else name
    return storage.child(storage.parent(out), stem + suffix)


def _finish_single_file(store: storage.Location, out: storage.Location, float32: bool) -> None:
    """Compact the store into ``out``, keep its errors beside it, and remove the working directory."""
    compact(store, out, float32=float32)
    errors = read_errors(store)
    errors_file = _beside(out, ".errors.parquet")
    if errors.empty:
        storage.remove(errors_file)
    else:
        write_parquet_atomic(errors, errors_file)
    storage.remove(store, recursive=True)


def _report(summary: ExtractSummary, out: storage.Location) -> None:
    analysed = summary.extracted + len(summary.errors)
    speed = (f" ({summary.extracted / summary.seconds:.2f} files/s, "
             f"{summary.cpu_seconds / analysed:.2f} CPU-s per file)") if analysed and summary.seconds else ""
    print(f"Done: {summary.extracted} extracted{speed}, {summary.skipped} already in the store, "
          f"{len(summary.errors)} failed; {summary.seconds:.1f} s. Features: {out}")
    for track_id, warning in summary.warnings:
        print(f"  warning: {track_id}: {warning}")
    if summary.errors:
        single = storage.name(out).lower().endswith(".parquet")
        where = _beside(out, ".errors.parquet") if single else storage.child(out, ERRORS_FILE)
        print(f"{len(summary.errors)} files could not be analysed (also saved in {where}):")
        for track_id, reason in summary.errors:
            print(f"  {track_id}: {reason}")
