"""Dask vs the local pool for ``core predict``: ``python -m bench.dask_predict --songs 20 --rounds 2``.

Classifies the same folder of ``--songs`` generated four-minute MP3s (:func:`bench.whole_songs.batch_folder`)
with the default model three ways: ``python -m core predict FOLDER --workers 2`` (the local process pool),
and ``--engine dask`` with ``--workers 1`` and ``--workers 2`` (a local Dask cluster of that many
single-threaded processes, started by the command, writing its results store). Each run is the whole
command in a fresh process, timed from start to exit: imports, cluster start and model loading count,
as they do for a user. The three alternate for ``--rounds`` rounds so they share the machine's load.

Reports, per run: songs per minute of wall time (median over the rounds) and the CPU seconds per song
of the command's whole process tree (the command, its workers, the Dask scheduler and nannies; sampled
every 0.2 s, so a process's last < 0.2 s may be missed) — on a machine shared with other jobs the wall
time mostly measures the share of the cores the run got, the CPU seconds what it needed. Then Dask with
2 workers against the pool with 2, and the 1 -> 2 Dask worker scaling efficiency (rate with 2 / twice
the rate with 1), with the load average. Writes ``bench/results/dask_predict.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil

from bench.whole_songs import ROOT, _env, batch_folder

RESULTS = ROOT / "bench" / "results" / "dask_predict.json"
CONFIGS: dict[str, tuple[int, tuple[str, ...]]] = {
    "local pool, 2 workers": (2, ()),
    "dask, 1 worker": (1, ("--engine", "dask")),
    "dask, 2 workers": (2, ("--engine", "dask")),
}


def tree_cpu_s(process: psutil.Process, seen: dict[int, float]) -> None:
    """Record the user + system CPU seconds of ``process`` and its descendants in ``seen`` (by pid)."""
    for p in [process, *process.children(recursive=True)]:
        try:
            times = p.cpu_times()
        except psutil.Error:
            continue
        seen[p.pid] = max(seen.get(p.pid, 0.0), times.user + times.system)


def run_predict(folder: Path, workers: int, extra: tuple[str, ...]) -> dict:
    """``python -m core predict FOLDER --workers N [EXTRA...] --out CSV``: wall and CPU seconds, songs/min."""
    out_csv = Path(tempfile.mkdtemp()) / "predictions.csv"
    cmd = [sys.executable, "-m", "core", "predict", str(folder), "--out", str(out_csv), "--workers", str(workers),
           *extra]
    load, seen = os.getloadavg()[0], {}
    start = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=ROOT, env=_env(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watched = psutil.Process(child.pid)
    while child.poll() is None:
        tree_cpu_s(watched, seen)
        time.sleep(0.2)
    wall = time.perf_counter() - start
    n = len(list(folder.iterdir()))
    table = pd.read_csv(out_csv, keep_default_na=False) if out_csv.exists() else pd.DataFrame({"genre": []})
    out_csv.unlink(missing_ok=True)
    out_csv.parent.rmdir()
    return {"songs": n, "workers": workers, "exit": child.returncode, "classified": int((table["genre"] != "").sum()),
            "wall_s": round(wall, 1), "songs_per_min": round(n / wall * 60, 2),
            "cpu_s": round(sum(seen.values()), 1), "cpu_s_per_song": round(sum(seen.values()) / n, 3),
            "processes": len(seen), "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2),
            "stderr_tail": child.stderr.read().decode(errors="replace")[-300:] if child.stderr else ""}


def summarise(result: dict) -> None:
    """Medians over the rounds, Dask 2 workers / pool 2 workers, Dask scaling 1 -> 2, load average now."""
    runs = result["runs"]
    rate = {name: round(statistics.median(r["songs_per_min"] for r in rs), 2) for name, rs in runs.items()}
    cpu = {name: round(statistics.median(r["cpu_s_per_song"] for r in rs), 3) for name, rs in runs.items()}
    result["songs_per_min"], result["cpu_s_per_song"] = rate, cpu
    result["dask_2_vs_pool_2"] = {"songs_per_min": round(rate["dask, 2 workers"] / rate["local pool, 2 workers"], 3),
                                  "cpu_s_per_song": round(cpu["dask, 2 workers"] / cpu["local pool, 2 workers"], 3)}
    result["dask_scaling_efficiency_1_to_2"] = round(rate["dask, 2 workers"] / (2 * rate["dask, 1 worker"]), 3)
    result["load_after"] = [round(v, 2) for v in os.getloadavg()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", type=int, default=20, help="four-minute MP3s in the folder")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the three runs, alternating")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from core.atomic import write_json

    folder = batch_folder(args.songs)
    result: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "platform": platform.platform(terse=True)},
                    "command": "python -m bench.dask_predict " + " ".join(sys.argv[1:] if argv is None else argv),
                    "songs": args.songs, "load_before": [round(v, 2) for v in os.getloadavg()],
                    "runs": {name: [] for name in CONFIGS}}
    for round_ in range(args.rounds):
        for name, (workers, extra) in CONFIGS.items():
            print(f"round {round_ + 1}: {name}", file=sys.stderr, flush=True)
            run = run_predict(folder, workers, extra)
            result["runs"][name].append(run)
            write_json(args.out, result)
            if run["exit"] != 0 or run["classified"] != args.songs:
                raise SystemExit(f"{name}: exit {run['exit']}, {run['classified']} of {args.songs} classified")
        summarise(result)  # after every round: an interrupted run keeps its figures
        write_json(args.out, result)
    print("| run | songs/min (median) | each round | CPU s per song (median) | load average before each |\n"
          "|---|---|---|---|---|")
    for name, runs in result["runs"].items():
        print(f"| {name} | {result['songs_per_min'][name]} | {', '.join(str(r['songs_per_min']) for r in runs)} | "
              f"{result['cpu_s_per_song'][name]} | {', '.join(str(r['load_before']) for r in runs)} |")
    print(f"Dask 2 workers / pool 2 workers: {result['dask_2_vs_pool_2']}; "
          f"Dask scaling 1 -> 2 workers: {result['dask_scaling_efficiency_1_to_2']}")
    print(f"saved {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
