"""Cost of live training updates: ``python -m bench.train_overhead [--epochs 40 --repeats 3]``.

Trains the same configuration (seed MLP on the 3-s slices of ``demo/gtzan_kaggle.parquet`` by default,
with the Train page's track hold-out) two ways, alternating so that changing load on a shared machine
hits both alike:

- ``cli``: ``python -m core train TABLE --holdout track ... --out FOLDER`` in a process of its own;
- ``job``: the same command as the Train page runs it, a :class:`core.jobs.TrainProcess` in a
  :mod:`core.jobs` background job (epoch reports streamed back through ``--report-jsonl``), while a
  reader polls its snapshot every ``--poll`` seconds and builds the Train page's curves figure and its
  JSON (what the page's fragment does on every refresh, minus the websocket).

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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.atomic import write_json
from core.data.store import read_features
from core.jobs import JobRegistry, TrainProcess
from ui.train_views import METRICS, curve

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
GOAL = 0.10


def run_cli(args: list[str]) -> tuple[float, float]:
    """Wall and child CPU seconds of ``python -m core train ARGS --out FOLDER``."""
    with tempfile.TemporaryDirectory(prefix="cpunk-bench-") as tmp:
        before = os.times()
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "core", "train", *args, "--out", str(Path(tmp) / "run")],
                       cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall, after = time.perf_counter() - start, os.times()
    return wall, after.children_user + after.children_system - before.children_user - before.children_system


def run_job(args: list[str], epochs: int, poll_s: float, collect: bool) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (this process + the training process) and how many times the reader drew
    the curves (``collect``: a full GC after each)."""
    jobs, draws = JobRegistry(), 0
    before, c0 = os.times(), time.process_time()
    start = time.perf_counter()
    job = jobs.start(TrainProcess(args), epochs, owner="bench")
    while not job.wait(poll_s):
        snap = job.snapshot()
        for metric in METRICS:
            curve(snap.epochs, snap.total_epochs, metric).to_json()
        if collect:
            gc.collect()
        draws += 1
    wall, after = time.perf_counter() - start, os.times()
    child = after.children_user + after.children_system - before.children_user - before.children_system
    return wall, child + time.process_time() - c0, draws


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
    command = [args.table, "--holdout", "track", "--level", args.level, "--epochs", str(args.epochs),
               "--batch-size", str(args.batch_size), "--seed", "42"]
    run_cli([args.table, "--level", args.level, "--epochs", "2"])  # warm-up: file caches
    times: dict[str, list[float]] = {"cli": [], "job": []}
    cpu: dict[str, list[float]] = {"cli": [], "job": []}
    draws = []
    load_before = os.getloadavg()[0]
    for _ in range(args.repeats):
        for way in ("cli", "job"):
            if way == "cli":
                wall, used = run_cli(command)
            else:
                wall, used, n = run_job(command, args.epochs, args.poll, args.gc)
                draws.append(n)
            times[way].append(wall)
            cpu[way].append(used)
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
          f"| CLI (`core train` process) | {cli:.2f} | {result['cli_wall_s']} | {cli_cpu:.2f} |\n"
          f"| Train page job (same process) + reader every {args.poll} s | {job:.2f} | {result['job_wall_s']} | {job_cpu:.2f} |\n\n"
          f"Overhead {result['overhead']:+.1%} wall, {result['cpu_overhead']:+.1%} CPU (goal <= {GOAL:.0%}: "
          f"{'met' if result['met'] else 'MISSED'}); load {result['load_avg_1min_before']} -> "
          f"{result['load_avg_1min_after']} on {result['cpus']} CPUs. Written to {out.relative_to(REPO)}.")


if __name__ == "__main__":
    main()
