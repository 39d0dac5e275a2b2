"""Dask vs local pool: ``python -m bench.dask_scaling --data ../shared/data/gtzan --limit 60 --part-size 5``.

Extracts the same clips with the local process pool (1 and 2 processes) and with the Dask engine
on a local cluster (1 and 2 single-threaded worker processes, started before the clock; its start-up
is reported apart), each into a fresh store. Reports clips/s, scaling efficiency (rate with 2 / twice
the rate with 1), the workers' CPU seconds per clip, the time per task not spent on CPU in the task
(``(wall x workers - worker CPU) / tasks``: start-up, scheduling, transfers, writing, and waiting on
other load), and Dask's bare scheduling cost per task (``--noop`` empty tasks). From the CPU seconds
per clip it estimates the time and cost of FMA-large (106,574 30-s MP3 clips) on N machines.
Prints Markdown; writes ``bench/results/dask_scaling.json``.
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

from distributed import Client, LocalCluster, wait

from core.data.dask_engine import dask_engine
from core.data.dataset import discover, extract_dataset
from core.features.schema import SEED

RESULTS = Path(__file__).resolve().parent / "results" / "dask_scaling.json"
FMA_LARGE_CLIPS = 106_574


def run(tracks: list, engine_name: str, workers: int, part_size: int, slices: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        cluster_s = 0.0
        if engine_name == "dask":
            start = time.perf_counter()
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            Client(cluster).close()  # connected once: the workers are up
            cluster_s = time.perf_counter() - start
            engine = dask_engine(cluster.scheduler_address)
        else:
            cluster, engine = None, None
        load = os.getloadavg()[0]
        start = time.perf_counter()
        summary = extract_dataset(tracks, Path(tmp) / "store", SEED, max_slices=slices, workers=workers,
                                  part_tracks=part_size, engine=engine)
        wall = time.perf_counter() - start
        if cluster is not None:
            cluster.close()
    tasks = -(-len(tracks) // part_size) if engine_name == "dask" else len(tracks)
    return {"engine": engine_name, "workers": workers, "clips": summary.extracted, "failed": len(summary.errors),
            "tasks": tasks, "wall_s": round(wall, 2), "cluster_start_s": round(cluster_s, 2),
            "clips_per_s": round(summary.extracted / wall, 3),
            "cpu_s_per_clip": round(summary.cpu_seconds / max(1, summary.extracted), 4),
            "non_cpu_s_per_task": round((wall * workers - summary.cpu_seconds) / tasks, 3),
            "load_avg_before": round(load, 1)}


def noop_overhead(tasks: int) -> float:
    """Seconds per empty task on a 1-worker local cluster (submit -> result)."""
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            client.submit(int, 0).result()
            start = time.perf_counter()
            wait([client.submit(int, i, pure=False) for i in range(tasks)])
            return (time.perf_counter() - start) / tasks


def fma_estimate(cpu_s_per_clip: float, efficiency: float, cores: int, price: float,
                 machines: tuple[int, ...]) -> list[dict]:
    """Hours and cost to extract FMA-large on N machines of ``cores`` cores at ``price`` per machine-hour."""
    cpu_h = FMA_LARGE_CLIPS * cpu_s_per_clip / 3600
    rows = []
    for n in machines:
        hours = cpu_h / (n * cores * efficiency)
        rows.append({"machines": n, "hours": round(hours, 2), "cost": round(hours * n * price, 2)})
    return rows


def markdown(rows: list[dict], noop_s: float, efficiency: dict, estimate: list[dict], args) -> str:
    lines = ["| engine | workers | clips | tasks | wall s | clips/s | CPU-s/clip | non-CPU s/task | start-up s | load |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['engine']} | {r['workers']} | {r['clips']} | {r['tasks']} | {r['wall_s']} | "
                     f"{r['clips_per_s']} | {r['cpu_s_per_clip']} | {r['non_cpu_s_per_task']} | "
                     f"{r['cluster_start_s'] or 'in wall'} | {r['load_avg_before']} |")
    lines += ["", "Scaling efficiency (rate with 2 workers / 2 x rate with 1): " +
              ", ".join(f"{k} {v:.2f}" for k, v in efficiency.items()),
              f"Dask scheduling overhead per empty task: {noop_s * 1000:.2f} ms", "",
              f"FMA-large ({FMA_LARGE_CLIPS:,} clips) at {args.fma_cpu_s:.3f} CPU-s per clip, machines of "
              f"{args.cores} cores at ${args.price:.2f}/hour, {args.efficiency:.0%} efficiency:", "",
              "| machines | hours | cost |", "|---:|---:|---:|"]
    lines += [f"| {e['machines']} | {e['hours']} | ${e['cost']} |" for e in estimate]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dask_scaling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/gtzan"), help="default: %(default)s")
    parser.add_argument("--limit", type=int, default=60, help="first N clips (default: %(default)s)")
    parser.add_argument("--part-size", type=int, default=5, help="clips per Dask task / part (default: %(default)s)")
    parser.add_argument("--slices", type=int, default=10)
    parser.add_argument("--noop", type=int, default=500, help="empty tasks for the scheduling overhead")
    parser.add_argument("--cores", type=int, default=16, help="cores per machine for the FMA estimate")
    parser.add_argument("--price", type=float, default=0.68, help="USD per machine-hour (default: %(default)s, "
                        "about an on-demand 16-vCPU cloud machine)")
    parser.add_argument("--efficiency", type=float, default=0.9, help="assumed cluster efficiency for the estimate")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    tracks = discover(args.data)[: args.limit]
    rows = [run(tracks, engine, workers, args.part_size, args.slices)
            for engine in ("local", "dask") for workers in (1, 2)]
    rate = {(r["engine"], r["workers"]): r["clips_per_s"] for r in rows}
    efficiency = {e: rate[(e, 2)] / (2 * rate[(e, 1)]) for e in ("local", "dask")}
    noop_s = noop_overhead(args.noop)
    args.fma_cpu_s = max(r["cpu_s_per_clip"] for r in rows)
    estimate = fma_estimate(args.fma_cpu_s, args.efficiency, args.cores, args.price, (1, 4, 16, 64))
    print(markdown(rows, noop_s, efficiency, estimate, args))
    print(f"\n{os.cpu_count()} CPU cores shared with other work, {platform.machine()}, Python {platform.python_version()}.")
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({
            "command": "python -m bench.dask_scaling " + " ".join(argv or sys.argv[1:]),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu_count": os.cpu_count(), "data": str(args.data),
            "results": rows, "scaling_efficiency": {k: round(v, 3) for k, v in efficiency.items()},
            "noop_task_overhead_ms": round(noop_s * 1000, 3),
            "fma_large": {"clips": FMA_LARGE_CLIPS, "cpu_s_per_clip": args.fma_cpu_s, "cores_per_machine": args.cores,
                          "usd_per_machine_hour": args.price, "efficiency": args.efficiency, "estimate": estimate},
        }, indent=2) + "\n")
        print(f"Saved {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
