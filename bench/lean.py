"""Lean inference, before (Keras) and after (the ONNX export on OpenVINO) in one run: ``python -m bench.lean``.

Each step runs twice, once with ``CPUNK_INFERENCE=keras`` (every model through Keras and TensorFlow, as
before the exports) and once on the exports (:mod:`core.models.inference`), with the shipped default model:

- the app server (``streamlit run app.py`` headless, threads as ``scripts/start.sh`` leaves them) in Debian's
  Chromium (the browser-test harness): the **first upload after start-up**, a 30-s GTZAN clip, from handing
  it to the page until the verdict shows (and the server's CPU seconds for it), twice: on a server without
  the analysis warm-up (``CPUNK_WARM_UP=0``: the upload as soon as the Classify page shows, as before the
  warm-up), and on a server with it, the upload once the warm-up is done (``warm_up_ready_s``: seconds from
  the first page shown until the server's CPU goes idle); then the rest of a Classify walkthrough (the waveform and
  spectrogram tabs) and the server's resident memory (**RSS after a walkthrough**); then **ten
  classifications at once** (ten tabs each given another 30-s clip together) and the RSS after them
  (and its peak); and whether the server mapped TensorFlow's libraries (``/proc/PID/maps``);
- a **warm 4-minute song** (eight 30-s GTZAN clips joined) classified in a fresh process: the median of
  seven runs after a first (wall and CPU seconds), and that process's peak memory;
- the same song on the export with 4, 16 and 32 windows per network call (the default is
  :data:`core.models.model_inputs.BATCH`): seconds and the process's peak memory;
- ``python -m core predict`` over the 92 real-world previews (``../shared/data/realworld``, 7 s each):
  **songs per minute** (wall clock of the command, start-up included) and whether the verdicts (music or
  not, genre, verdict in words) of the two runs are **identical** file by file.

The machine is shared: the load average is recorded with each step. Writes ``bench/results/lean.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from playwright.sync_api import Page, sync_playwright

from bench.classify_latency import server_cpu
from core.atomic import write_json
from core.models.model_inputs import BATCH
from core.models.registry import default_name

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
from browser_harness import (  # noqa: E402
    REPO_ROOT,
    StreamlitServer,
    count_reruns,
    file_uploader,
    launch_chromium,
    open_page,
    rerun_after,
    wait_for_app,
)

RESULTS = Path(__file__).resolve().parent / "results" / "lean.json"
GTZAN = REPO_ROOT.parent / "shared" / "data" / "gtzan_flac"
REALWORLD = REPO_ROOT.parent / "shared" / "data" / "realworld"
UPLOADER = "Drop one or many songs"
THREAD_LIMITS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
RUNTIMES = {"keras": "keras", "openvino": None}  # label: CPUNK_INFERENCE
GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
GOALS = {"rss_after_walkthrough_mb": 500, "first_upload_verdict_s": 1.0, "warm_4min_song_s": 1.0}
WARM_RUNS = 7  # warm runs of the 4-minute song (their median): the machine is shared
BATCHES = (4, 16, 32)  # besides BATCH (8): windows per network call compared on the export
COLUMNS = ("music", "genre", "verdict")  # what "identical verdicts" compares


def load() -> float:
    return round(os.getloadavg()[0], 2)


IDLE_CPU_S = 0.05  # server CPU seconds per IDLE_WINDOW_S below which the server counts as idle (warm-up done)
IDLE_WINDOW_S = 0.5


def env_for(runtime: str, warm_up: bool = True) -> dict[str, str | None]:
    return {**dict.fromkeys(THREAD_LIMITS), "CPUNK_INFERENCE": RUNTIMES[runtime], "CPUNK_WARM_UP": None if warm_up else "0"}


def until_idle(pid: int, limit_s: float = 120) -> float:
    """Seconds until the process ``pid`` spends less than :data:`IDLE_CPU_S` CPU seconds in :data:`IDLE_WINDOW_S`."""
    start = time.perf_counter()
    cpu = server_cpu(pid)
    while time.perf_counter() - start < limit_s:
        time.sleep(IDLE_WINDOW_S)
        now = server_cpu(pid)
        if now - cpu < IDLE_CPU_S:
            return time.perf_counter() - start - IDLE_WINDOW_S
        cpu = now
    return limit_s


def clip(genre: str, number: int) -> Path:
    return GTZAN / genre / f"{genre}.{number:05d}.flac"


def verdict_after(page: Page, path: Path) -> float:
    """Seconds from handing ``path`` to the uploader until the verdict shows."""
    field = file_uploader(page, UPLOADER).locator('input[type="file"]')
    start = time.perf_counter()
    field.set_input_files(str(path))
    page.locator(".cp-genre").first.wait_for(state="visible")
    return time.perf_counter() - start


def first_upload_without_warm_up(runtime: str) -> dict[str, object]:
    """A server without the warm-up: the first upload as soon as the Classify page shows."""
    with StreamlitServer(env=env_for(runtime, warm_up=False), timeout_s=300) as server, sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.set_default_timeout(300_000)
        open_page(page, f"{server.url}/classify", timeout_ms=300_000)
        cpu = server_cpu(server.process.pid)
        seconds = verdict_after(page, clip("jazz", 0))
        out = {"first_upload_no_warm_up_verdict_s": round(seconds, 3),
               "first_upload_no_warm_up_server_cpu_s": round(server_cpu(server.process.pid) - cpu, 3),
               "load_first_upload_no_warm_up": load()}
        browser.close()
    return out


def server_run(runtime: str) -> dict[str, object]:
    """The app server steps (warm-up, first upload, walkthrough, ten at once) for one runtime."""
    out: dict[str, object] = {}
    with StreamlitServer(env=env_for(runtime), timeout_s=300) as server, sync_playwright() as pw:
        out["rss_idle_mb"] = round(server.memory_mb()["rss"], 1)
        browser = launch_chromium(pw)
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        count_reruns(context)
        page = context.new_page()
        page.set_default_timeout(300_000)
        open_page(page, f"{server.url}/classify", timeout_ms=300_000)
        out["warm_up_ready_s"] = round(until_idle(server.process.pid), 2)
        cpu = server_cpu(server.process.pid)
        out["first_upload_verdict_s"] = round(verdict_after(page, clip("jazz", 0)), 3)
        out["first_upload_server_cpu_s"] = round(server_cpu(server.process.pid) - cpu, 3)
        out["load_first_upload"] = load()
        wait_for_app(page, timeout_ms=300_000)
        for tab in ("Waveform", "Mel spectrogram", "Genre over time"):
            rerun_after(page, page.get_by_role("tab", name=tab).click, timeout_ms=300_000)
        out["rss_after_walkthrough_mb"] = round(server.memory_mb()["rss"], 1)
        pages = []
        for _ in GENRES:
            tab = context.new_page()
            tab.set_default_timeout(600_000)
            open_page(tab, f"{server.url}/classify", timeout_ms=300_000)
            pages.append(tab)
        start = time.perf_counter()
        for tab, genre in zip(pages, GENRES):  # handed over together: the server classifies them at once
            file_uploader(tab, UPLOADER).locator('input[type="file"]').set_input_files(str(clip(genre, 1)))
        for tab in pages:
            tab.locator(".cp-genre").first.wait_for(state="visible")
        out["ten_at_once_s"] = round(time.perf_counter() - start, 2)
        memory = server.memory_mb()
        out["rss_after_ten_mb"], out["rss_peak_mb"] = round(memory["rss"], 1), round(memory["peak"], 1)
        out["tensorflow_mapped"] = server.maps("libtensorflow_framework")  # not OpenVINO's tensorflow frontend
        out["load_ten"] = load()
        browser.close()
    return out


def joined_song(folder: Path) -> Path:
    """Four minutes: eight 30-s GTZAN clips of different genres, one after the other (22,050 Hz WAV)."""
    parts = [sf.read(clip(genre, 2), dtype="float32")[0] for genre in GENRES[:8]]
    path = folder / "four-minutes.wav"
    sf.write(path, np.concatenate(parts), 22_050)
    return path


def song_worker(path: Path, batch: int) -> None:
    """In a fresh process: classify ``path`` once, then WARM_RUNS times, ``batch`` windows a network call; print the warm runs'
    seconds and the process's peak memory as JSON."""
    import resource

    from core.models import model_inputs
    from core.models.registry import load_model
    from core.predict import classify

    model_inputs.BATCH = batch
    model = load_model()
    classify(path, model)
    runs, cpu = [], []
    for _ in range(WARM_RUNS):
        start = time.process_time()  # every thread of the process
        runs.append(classify(path, model))
        cpu.append(time.process_time() - start)
    print(json.dumps({"seconds": [r.seconds for r in runs], "network": [r.stages["network"] for r in runs], "cpu": cpu,
                      "windows": len(runs[0].segment_starts), "duration_s": runs[0].audio.duration_s,
                      "tensorflow_loaded": "tensorflow" in sys.modules,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def warm_song(runtime: str, path: Path, batch: int = BATCH) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_LIMITS}
    if RUNTIMES[runtime]:
        env["CPUNK_INFERENCE"] = RUNTIMES[runtime]
    done = subprocess.run([sys.executable, "-m", "bench.lean", "--song-worker", str(path), "--batch", str(batch)],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return {"warm_4min_song_s": round(statistics.median(found["seconds"]), 3),
            "warm_4min_song_cpu_s": round(statistics.median(found["cpu"]), 3),
            "warm_4min_network_s": round(statistics.median(found["network"]), 3), "windows": found["windows"],
            "song_process_peak_mb": round(found["peak_mb"], 1), "tensorflow_loaded": found["tensorflow_loaded"],
            "load_song": load()}


def predict_run(runtime: str, folder: Path) -> tuple[dict[str, object], pd.DataFrame]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_LIMITS}
    if RUNTIMES[runtime]:
        env["CPUNK_INFERENCE"] = RUNTIMES[runtime]
    out = folder / f"predict-{runtime}.csv"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "core", "predict", str(REALWORLD), "--out", str(out)], cwd=REPO_ROOT,
                   env=env, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    table = pd.read_csv(out, keep_default_na=False)
    return ({"predict_files": len(table), "predict_seconds": round(seconds, 2),
             "predict_songs_per_minute": round(len(table) / seconds * 60, 1), "load_predict": load()}, table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS, help="the JSON (default: %(default)s)")
    parser.add_argument("--song-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=BATCH, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.song_worker:
        song_worker(args.song_worker, args.batch)
        return 0
    runs: dict[str, dict[str, object]] = {}
    tables = {}
    with tempfile.TemporaryDirectory() as tmp:
        song = joined_song(Path(tmp))
        for runtime in RUNTIMES:
            runs[runtime] = first_upload_without_warm_up(runtime) | server_run(runtime)
            runs[runtime].update(warm_song(runtime, song))
            found, tables[runtime] = predict_run(runtime, Path(tmp))
            runs[runtime].update(found)
        batches = {n: warm_song("openvino", song, n) for n in BATCHES}  # windows per network call, on the export
    before, after = (tables[r].set_index("path")[list(COLUMNS)] for r in RUNTIMES)
    differ = sorted(Path(p).name for p in before.index if not before.loc[p].equals(after.loc[p]))
    after_run = runs["openvino"]
    report = {
        "model": default_name(), "runs": runs,
        "export_batches": {n: {k: b[k] for k in ("warm_4min_song_s", "warm_4min_song_cpu_s", "warm_4min_network_s",
                                                  "song_process_peak_mb", "load_song")} for n, b in batches.items()},
        "verdicts": {"files": len(before), "identical": len(before) - len(differ), "differ": differ,
                     "compared": list(COLUMNS)},
        "goals": {name: {"goal": goal, "after": after_run[name], "met": after_run[name] <= goal}
                  for name, goal in GOALS.items()} | {
            "identical_verdicts": {"goal": len(before), "after": len(before) - len(differ), "met": not differ}},
        "cpus": os.cpu_count(), "load_average_1m_at_end": load(),
        "command": "python -m bench.lean",
    }
    write_json(args.out, report)
    rows = [("first upload after start-up to verdict, no warm-up, Chromium (s)", "first_upload_no_warm_up_verdict_s"),
            ("... the server's CPU seconds for it", "first_upload_no_warm_up_server_cpu_s"),
            ("warm-up done, seconds after the first page shows", "warm_up_ready_s"),
            ("first upload after the warm-up to verdict, Chromium (s)", "first_upload_verdict_s"),
            ("... the server's CPU seconds for it", "first_upload_server_cpu_s"),
            ("server RSS after a Classify walkthrough (MB)", "rss_after_walkthrough_mb"),
            ("server RSS after ten classifications at once (MB)", "rss_after_ten_mb"),
            ("server peak RSS (MB)", "rss_peak_mb"),
            ("ten classifications at once, all verdicts shown (s)", "ten_at_once_s"),
            ("warm 4-minute song (s)", "warm_4min_song_s"),
            ("... its CPU seconds", "warm_4min_song_cpu_s"),
            ("peak memory of the process classifying it (MB)", "song_process_peak_mb"),
            ("`core predict` songs per minute (92 previews of 7 s)", "predict_songs_per_minute"),
            ("TensorFlow in the server", "tensorflow_mapped")]
    print("| | Keras (before) | OpenVINO (after) |\n|---|---|---|")
    for label, key in rows:
        print(f"| {label} | {runs['keras'][key]} | {runs['openvino'][key]} |")
    print(f"\nidentical verdicts: {report['verdicts']['identical']} of {report['verdicts']['files']}; "
          f"load average {report['load_average_1m_at_end']} on {report['cpus']} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
