"""Out-of-core training memory and speed: ``python -m bench.out_of_core --rows 100000 1000000 --epochs 2``.

For each size, writes a synthetic feature table (seed schema, 10 slices + 1 whole-track row per track,
:func:`core.data.explore.synthetic_table`) as Parquet parts of ``--part-rows`` rows, then trains the seed
MLP on its slice rows with :func:`core.models.streaming.train_streaming` in a fresh process, and reports
that process's peak RSS, the scan (statistics pass) time and the training rows/s. Flat memory means
the peak RSS hardly changes from the small table to the large one, while the table in memory
(float64) would grow tenfold. Prints Markdown; writes ``bench/results/out_of_core.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "out_of_core.json"
SLICES = 10


def write_table(root: Path, rows: int, part_rows: int) -> int:
    """A synthetic store of about ``rows`` rows, written part by part (whole tracks per part)."""
    from core.data.explore import synthetic_table
    from core.data.store import open_store, write_part
    from core.features.schema import SEED

    open_store(root, SEED, SLICES)
    tracks_per_part = max(1, part_rows // (SLICES + 1))
    total_tracks = rows // (SLICES + 1)
    written = 0
    for number, first in enumerate(range(0, total_tracks, tracks_per_part)):
        part = synthetic_table(SEED, min(tracks_per_part, total_tracks - first), slices=SLICES, seed=number)
        part["track_id"] = f"p{number:05d}-" + part["track_id"]  # unique across parts
        write_part(root, part, number)
        written += len(part)
    return written


def train_child(root: Path, epochs: int, batch_size: int) -> dict:
    """Runs in a fresh process: stream-train on the store, report peak RSS and speed."""
    import numpy as np  # noqa: F401  (loaded before measuring, like TensorFlow below)

    from core.models.streaming import scan, train_streaming
    from core.models.train import TrainConfig

    start = time.perf_counter()
    stats = scan(root, "slice", 0.1)
    scan_s = time.perf_counter() - start
    config = TrainConfig(epochs=epochs, batch_size=batch_size, validation_fraction=0.1)
    start = time.perf_counter()
    _, history, stats = train_streaming(config, root)
    train_s = time.perf_counter() - start
    return {"train_rows": stats.rows, "validation_rows": stats.validation_rows, "scan_s": round(scan_s, 2),
            "train_s": round(train_s, 2), "epochs": len(history.epochs),
            "rows_per_s": round(stats.rows * len(history.epochs) / sum(e.seconds for e in history.epochs)),
            "val_accuracy": round(history.epochs[-1].val_accuracy, 4),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def measure(rows: int, epochs: int, batch_size: int, part_rows: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-ooc-") as tmp:
        root = Path(tmp) / "store"
        start = time.perf_counter()
        written = write_table(root, rows, part_rows)
        write_s = time.perf_counter() - start
        size = sum(f.stat().st_size for f in root.rglob("*.parquet"))
        out = subprocess.run([sys.executable, "-m", "bench.out_of_core", "--child", str(root), "--epochs", str(epochs),
                              "--batch-size", str(batch_size)], check=True, capture_output=True, text=True)
        child = json.loads(out.stdout.strip().splitlines()[-1])
    from core.features.schema import SEED
    in_memory_mib = written * (len(SEED.columns) + 4) * 8 / 2**20  # float64 features + numeric identity
    return {"rows": written, "parts": -(-written // part_rows), "parquet_mib": round(size / 2**20, 1),
            "write_s": round(write_s, 1), "table_in_memory_mib": round(in_memory_mib), **child}


def markdown(results: list[dict]) -> str:
    lines = ["| table rows | Parquet MiB | as a float64 table in memory | peak RSS (training process) "
             "| scan s | training rows/s | epochs | val acc |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['rows']:,} | {r['parquet_mib']} | {r['table_in_memory_mib']:,} MiB | "
                     f"{r['peak_rss_mib']:,.0f} MiB | {r['scan_s']} | {r['rows_per_s']:,} | {r['epochs']} | "
                     f"{r['val_accuracy']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.out_of_core", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000], help="table sizes")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--part-rows", type=int, default=50_000, help="rows per Parquet part")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-save", action="store_true", help=f"do not write {RESULTS.name}")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(train_child(args.child, args.epochs, args.batch_size)))
        return 0
    results = [measure(n, args.epochs, args.batch_size, args.part_rows) for n in args.rows]
    print(markdown(results))
    note = (f"{os.cpu_count()} CPU cores (shared; load avg {os.getloadavg()[0]:.1f}), {platform.machine()}; seed MLP, "
            f"batch {args.batch_size}, slice rows, 10% of tracks for validation.")
    print("\n" + note)
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"command": "python -m bench.out_of_core " + " ".join(argv or sys.argv[1:]),
                                       "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "note": note,
                                       "results": results}, indent=2) + "\n")
        print(f"Saved {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
