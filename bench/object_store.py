"""Extraction from local disk vs from an S3 server: ``python -m bench.object_store --data ../shared/data/gtzan``.

Runs :func:`core.data.dataset.extract_dataset` (the code behind ``python -m core extract``) with the same
``--workers`` over the same clips twice per round: from the local folder into a local store, and
from ``s3://`` into an ``s3://`` store, the clips first uploaded to moto's S3 server on loopback
(started here; the workers read each clip's bytes from it and the parts are uploaded to it). The
difference is the cost of the object-store round trips (listing, one GET per clip, one PUT per
part), without a real network's latency. A 2-clip warm-up run first starts the worker pool's fork
server. Rounds alternate local / S3 so that changing load hits both alike; the load average is
recorded around every run. Prints Markdown; writes ``bench/results/object_store.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "object_store.json"
BUCKET = "bench"


def start_s3() -> object:
    """moto's S3 server on a free loopback port; the AWS_* variables point this process and its
    workers (started later, they inherit the environment) at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ENDPOINT_URL=f"http://{host}:{port}")
    return server


def run(source: str, store: str, limit: int | None, workers: int, slices: int) -> dict:
    from core.data.dataset import discover, extract_dataset
    from core.features.schema import SEED

    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    tracks = discover(source)[:limit]
    summary = extract_dataset(tracks, store, SEED, max_slices=slices, workers=workers)
    wall = time.perf_counter() - start
    return {"clips": summary.extracted, "failed": len(summary.errors), "wall_s": round(wall, 2),
            "clips_per_s": round(summary.extracted / wall, 2),
            "worker_cpu_s_per_clip": round(summary.cpu_seconds / max(summary.extracted, 1), 3),
            "load_avg_1min_before": round(load_before, 2), "load_avg_1min_after": round(os.getloadavg()[0], 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.object_store", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/gtzan"),
                        help="a genre-folder dataset (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default: %(default)s)")
    parser.add_argument("--slices", type=int, default=10, help="slice rows per clip (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N clips")
    parser.add_argument("--rounds", type=int, default=2, help="local + S3 runs each (default: %(default)s)")
    parser.add_argument("--no-save", action="store_true", help=f"do not write {RESULTS.name}")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data} is not a folder")
    server = start_s3()
    import fsspec
    import moto

    from core.data.dataset import discover

    s3 = fsspec.filesystem("s3")
    s3.mkdir(BUCKET)
    files = [Path(t.path) for t in discover(args.data)[:args.limit]]
    start = time.perf_counter()
    s3.put([str(f) for f in files], [f"{BUCKET}/data/{f.relative_to(args.data).as_posix()}" for f in files])
    upload_s = time.perf_counter() - start
    runs: dict[str, list[dict]] = {"local": [], "s3": []}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-objstore-") as tmp:
            run(str(args.data), f"{tmp}/warm-up", 2, args.workers, args.slices)  # starts the fork server
            for i in range(args.rounds):
                runs["local"].append(run(str(args.data), f"{tmp}/store-{i}", args.limit, args.workers, args.slices))
                runs["s3"].append(run(f"s3://{BUCKET}/data", f"s3://{BUCKET}/store-{i}", args.limit, args.workers,
                                      args.slices))
    finally:
        server.stop()
    rows = [{"source": k, "median_clips_per_s": round(statistics.median(r["clips_per_s"] for r in v), 2), "runs": v}
            for k, v in runs.items()]
    print(f"| source → store | clips | workers | clips/s (median of {args.rounds}) | runs (clips/s) | load avg |")
    print("|---|---:|---:|---:|---|---|")
    for r in rows:
        runs_text = ", ".join(f"{x['clips_per_s']:.2f}" for x in r["runs"])
        loads = ", ".join(f"{x['load_avg_1min_before']:.1f}→{x['load_avg_1min_after']:.1f}" for x in r["runs"])
        where = "local disk → local store" if r["source"] == "local" else "s3:// (moto, loopback) → s3:// store"
        print(f"| {where} | {r['runs'][0]['clips']} | {args.workers} | {r['median_clips_per_s']:.2f} | "
              f"{runs_text} | {loads} |")
    print(f"\n{len(files)} files uploaded in {upload_s:.1f} s; {os.cpu_count()} CPU cores, {platform.machine()}.")
    if not args.no_save:
        report = {"command": "python -m bench.object_store " + " ".join(argv or sys.argv[1:]),
                  "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu_count": os.cpu_count(),
                  "platform": platform.platform(), "moto": moto.__version__, "dataset": args.data.name,
                  "bytes": sum(f.stat().st_size for f in files), "upload_s": round(upload_s, 2),
                  "results": rows}
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(report, indent=2) + "\n")
        print(f"Saved {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
