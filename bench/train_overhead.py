"""Cost of live training updates: ``python -m bench.train_overhead [--epochs 40 --repeats 3]``.

Trains the same configuration (seed MLP on the 3-s slices of ``demo/gtzan_kaggle.parquet`` by default)
two ways, alternating so that changing load on a shared machine hits both alike:

- ``cli``: :func:`core.models.train.train` with a progress listener, as ``python -m core train`` runs it;
- ``job``: the same call as a :mod:`core.jobs` background job, while a reader polls its snapshot every
  ``--poll`` seconds and builds the Train page's curves figure and its JSON (what the page's fragment
  does on every refresh, minus the websocket).

Reports the median wall time of each, the overhead (goal: <= 10%) and the process CPU seconds of
each (the reader's own cost shows there even when the wall time is noisy). Writes
``bench/results/train_overhead.json`` (``train_overhead_gc.json`` with ``--gc``: the reader also runs a
full garbage collection after each read, as Streamlit does after every script run unless
``runner.postScriptGC`` is off; the app turns it off in ``.streamlit/config.toml``).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import time
from pathlib import Path

from core.atomic import write_json
from core.data.store import read_features
from core.jobs import JobRegistry
from core.models.train import TrainConfig, train
from ui.train_views import curves

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
GOAL = 0.10


def run_cli(config: TrainConfig, table) -> float:
    done = []
    start = time.perf_counter()
    train(config, table, callbacks=[lambda report: done.append(report.epoch)])
    return time.perf_counter() - start


def run_job(config: TrainConfig, table, poll_s: float, collect: bool) -> tuple[float, int]:
    """Wall time of the job and how many times the reader drew the curves (``collect``: a full GC after each)."""
    jobs, draws = JobRegistry(), 0
    start = time.perf_counter()
    job = jobs.start(lambda log, stop: train(config, table, callbacks=[log], stop=stop), config.epochs, owner="bench")
    while not job.wait(poll_s):
        snap = job.snapshot()
        curves(snap.epochs, snap.total_epochs).to_json()
        if collect:
            gc.collect()
        draws += 1
    return time.perf_counter() - start, draws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", default=str(REPO / "demo" / "gtzan_kaggle.parquet"))
    parser.add_argument("--level", default="slice", choices=("slice", "track"))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--poll", type=float, default=1.0, help="reader interval in seconds (the page's POLL_S)")
    parser.add_argument("--gc", action="store_true",
                        help="full garbage collection after each read, as Streamlit's runner.postScriptGC=true does")
    args = parser.parse_args()

    table = read_features(args.table)
    config = TrainConfig(level=args.level, epochs=args.epochs, batch_size=args.batch_size)
    run_cli(TrainConfig(level=args.level, epochs=2), table)  # warm-up: TensorFlow start, tracing
    times: dict[str, list[float]] = {"cli": [], "job": []}
    cpu: dict[str, list[float]] = {"cli": [], "job": []}
    draws = []
    load_before = os.getloadavg()[0]
    for _ in range(args.repeats):
        for way in ("cli", "job"):
            c0 = time.process_time()
            if way == "cli":
                times[way].append(run_cli(config, table))
            else:
                wall, n = run_job(config, table, args.poll, args.gc)
                times[way].append(wall)
                draws.append(n)
            cpu[way].append(time.process_time() - c0)
    cli, job = statistics.median(times["cli"]), statistics.median(times["job"])
    cli_cpu, job_cpu = statistics.median(cpu["cli"]), statistics.median(cpu["job"])
    result = {
        "table": os.path.relpath(args.table, REPO), "level": args.level, "rows": int((table["slice"] >= 0).sum()
                                                                                   if args.level == "slice" else (table["slice"] < 0).sum()),
        "epochs": args.epochs, "batch_size": args.batch_size, "repeats": args.repeats, "poll_s": args.poll,
        "reader_gc": args.gc,
        "cli_wall_s": [round(t, 2) for t in times["cli"]], "job_wall_s": [round(t, 2) for t in times["job"]],
        "cli_median_s": round(cli, 2), "job_median_s": round(job, 2),
        "overhead": round(job / cli - 1, 4), "goal": GOAL, "met": job / cli - 1 <= GOAL,
        "cli_cpu_s": round(cli_cpu, 2), "job_cpu_s": round(job_cpu, 2), "cpu_overhead": round(job_cpu / cli_cpu - 1, 4),
        "reader_draws_per_run": draws,
        "load_avg_1min_before": round(load_before, 2), "load_avg_1min_after": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    out = RESULTS / f"train_overhead{'_gc' if args.gc else ''}.json"
    write_json(out, result)
    print(f"| way | median wall s | runs | CPU s |\n|---|---:|---|---:|\n"
          f"| CLI (train + progress listener) | {cli:.2f} | {result['cli_wall_s']} | {cli_cpu:.2f} |\n"
          f"| job + reader every {args.poll} s | {job:.2f} | {result['job_wall_s']} | {job_cpu:.2f} |\n\n"
          f"Overhead {result['overhead']:+.1%} wall, {result['cpu_overhead']:+.1%} CPU (goal <= {GOAL:.0%}: "
          f"{'met' if result['met'] else 'MISSED'}); load {result['load_avg_1min_before']} -> "
          f"{result['load_avg_1min_after']} on {result['cpus']} CPUs. Written to {out.relative_to(REPO)}.")


if __name__ == "__main__":
    main()
