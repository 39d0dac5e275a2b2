"""Whole-dataset extraction throughput: ``python -m bench.extract --data ../shared/data --workers 2``.

Runs :func:`core.data.dataset.extract_dataset` (the code behind ``python -m core extract``) over the
``gtzan`` (OGG) and ``gtzan_flac`` (FLAC) clips into a temporary store, with ``--workers``
processes, and reports clips/s and the time extrapolated to the 1,000 clips of GTZAN (goal: 60 s).
Wall time includes starting the worker pool and writing the store. The machine may be shared, so
the load average and the workers' CPU time per clip (decode + analysis) are recorded too: that one
hardly depends on other load, and ``1,000 x CPU-s per clip / workers`` is what the same workers would
need on otherwise idle cores (start-up not included).
Prints Markdown; writes ``bench/results/extract.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from core.data.dataset import discover, extract_dataset
from core.features.schema import SCHEMAS, get_schema

RESULTS = Path(__file__).resolve().parent / "results" / "extract.json"
GTZAN_CLIPS = 1_000
GOAL_SECONDS = 60.0
DATASETS = ("gtzan", "gtzan_flac")


def measure(folder: Path, schema_name: str, workers: int, slices: int, limit: int | None) -> dict:
    """Extract one dataset folder into a temporary store; time it."""
    tracks = discover(folder)[:limit]
    schema = get_schema(schema_name)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-extract-") as tmp:
        start = time.perf_counter()
        summary = extract_dataset(tracks, Path(tmp) / "store", schema, max_slices=slices, workers=workers)
        wall = time.perf_counter() - start
    cpu = summary.cpu_seconds  # decoding + analysis in the workers, excluding their start-up
    clips = summary.extracted
    rate = clips / wall
    return {
        "dataset": folder.name, "schema": schema.id, "clips": clips, "failed": len(summary.errors),
        "workers": workers, "slices": slices, "wall_s": round(wall, 2), "clips_per_s": round(rate, 2),
        "extrapolated_1000_s": round(GTZAN_CLIPS / rate, 1),
        "worker_cpu_s_per_clip": round(cpu / clips, 3),
        "free_cores_1000_s": round(GTZAN_CLIPS * cpu / clips / workers, 1),
        "load_avg_1min_before": round(load_before, 2), "load_avg_1min_after": round(os.getloadavg()[0], 2),
    }


def markdown(rows: list[dict]) -> str:
    lines = ["| clips | schema | workers | wall s | clips/s | 1,000 clips (goal ≤ 60 s) | CPU-s/clip "
             "| 1,000 clips on free cores | load avg before → after |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        verdict = "✅" if r["extrapolated_1000_s"] <= GOAL_SECONDS else "❌"
        lines.append(
            f"| {r['dataset']} ({r['clips']}) | {r['schema']} | {r['workers']} | {r['wall_s']:.1f} | "
            f"{r['clips_per_s']:.2f} | {r['extrapolated_1000_s']:.0f} s {verdict} | {r['worker_cpu_s_per_clip']:.3f} | "
            f"{r['free_cores_1000_s']:.0f} s | {r['load_avg_1min_before']:.1f} → {r['load_avg_1min_after']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.extract", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"),
                        help="folder holding gtzan/ and gtzan_flac/ (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default: %(default)s)")
    parser.add_argument("--schema", default="seed", choices=sorted(SCHEMAS), help="default: %(default)s")
    parser.add_argument("--slices", type=int, default=10, help="slice rows per clip (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N clips of each dataset (a quick try)")
    parser.add_argument("--no-save", action="store_true", help=f"do not write {RESULTS.name}")
    args = parser.parse_args(argv)
    missing = [d for d in DATASETS if not (args.data / d).is_dir()]
    if missing:
        parser.error(f"{args.data} lacks {', '.join(missing)}")
    rows = [measure(args.data / d, args.schema, args.workers, args.slices, args.limit) for d in DATASETS]
    print(markdown(rows))
    print(f"\n{os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}; wall time "
          "includes starting the worker pool and writing the Parquet store.")
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        report = {"command": "python -m bench.extract " + " ".join(argv or sys.argv[1:]),
                  "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu_count": os.cpu_count(),
                  "platform": platform.platform(), "goal_1000_clips_s": GOAL_SECONDS, "results": rows}
        RESULTS.write_text(json.dumps(report, indent=2) + "\n")
        print(f"Saved {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
