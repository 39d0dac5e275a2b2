"""Classify page latency in a real browser: ``python -m bench.classify_latency [--clip PATH] [--fresh PATH...] [--repeats 5]``.

Starts ``streamlit run app.py`` headless with the shipped default model, opens the Classify page in
Debian's Chromium (the browser-test harness) and uploads a 30-s clip (default: a GTZAN FLAC from
``../shared/data``, else a synthetic WAV):

- ``cold``: the first upload after the server started: model loading, decode, network, figures, drawing;
- ``fresh``: each ``--fresh`` file uploaded once after that (other audio, the model loaded: what a
  visitor's new song costs);
- ``warm``: the same audio uploaded again under a new name (removed first), answered from the
  content-hash cache: the rerun, the figures and the browser drawing them. Repeated ``--repeats`` times.

``--baseline DIR`` measures the app of another checkout (``git worktree add --detach DIR <commit>``)
the same way in the same run. The server runs as ``scripts/start.sh`` runs it: the libraries' own
thread counts (the browser tests' server uses one thread per library).

Each step records wall-clock seconds from handing the file to the page until the verdict is shown
(``verdict_s``) and until every chart has drawn and the script is idle (``drawn_s``), and the CPU
seconds it cost: the Streamlit server process (``server_cpu_s``, from /proc) and the page's renderer
main thread (``browser_cpu_s``, Chrome's TaskDuration metric). On a shared, overloaded machine the
wall-clock numbers mostly measure waiting for a core (the load average is recorded); the CPU seconds
are what the step needs, i.e. about its wall-clock time on an idle machine. Prints a Markdown table;
writes ``bench/results/classify_latency.json``. Goal: warm result drawn in <= 1 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import streamlit
from playwright.sync_api import Page, sync_playwright

from core.atomic import write_json
from core.models.registry import default_name

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
from browser_harness import (  # noqa: E402
    REPO_ROOT,
    StreamlitServer,
    file_uploader,
    launch_chromium,
    new_tab,
    rerun_after,
    wait_for_app,
)

RESULTS = Path(__file__).resolve().parent / "results" / "classify_latency.json"
DEFAULT_CLIP = REPO_ROOT.parent / "shared" / "data" / "gtzan_flac" / "jazz" / "jazz.00000.flac"
UPLOADER = "Drop one or many songs"
CHARTS = 2  # drawn on arrival: genre timeline and 'why this genre' (waveform, spectrogram: tabs)
GOAL_SECONDS = 1.0
# what the browser tests' server limits to one thread; unset here, as scripts/start.sh leaves them
THREAD_LIMITS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def synthetic_clip(folder: Path) -> Path:
    """30 s of a chord over a 120-bpm click (when the development data is missing)."""
    t = np.arange(30 * 22_050) / 22_050
    y = 0.3 * (np.sin(2 * np.pi * 220 * t) + np.sin(2 * np.pi * 277 * t)) + 0.3 * (np.mod(t, 0.5) < 0.01)
    path = folder / "synthetic-song.wav"
    sf.write(path, y.astype(np.float32), 22_050)
    return path


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def browser_cpu(cdp) -> float:
    """Seconds the page's renderer main thread has spent in tasks so far."""
    return next(m["value"] for m in cdp.send("Performance.getMetrics")["metrics"] if m["name"] == "TaskDuration")


def upload(page: Page, path: Path, pid: int, cdp) -> dict[str, float]:
    """Wall-clock seconds from handing ``path`` to the uploader until the verdict shows and until all is
    drawn, and the CPU seconds the server and the page spent on it."""
    field = file_uploader(page, UPLOADER).locator('input[type="file"]')
    cpu_server, cpu_browser = server_cpu(pid), browser_cpu(cdp)
    start = time.perf_counter()
    field.set_input_files(str(path))
    page.locator(".cp-genre").wait_for(state="visible")
    verdict = time.perf_counter() - start
    page.wait_for_function(
        f"""() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
                  .filter(c => c.querySelector('.main-svg')).length >= {CHARTS}""")
    wait_for_app(page, timeout_ms=300_000)
    drawn = time.perf_counter() - start
    page.wait_for_timeout(300)  # let the last paint finish before reading the CPU counters
    return {"verdict_s": round(verdict, 3), "drawn_s": round(drawn, 3),
            "server_cpu_s": round(server_cpu(pid) - cpu_server, 3), "browser_cpu_s": round(browser_cpu(cdp) - cpu_browser, 3)}


def remove_uploads(page: Page) -> None:
    while page.locator('[data-testid="stFileChipDeleteBtn"]').count():
        rerun_after(page, page.locator('[data-testid="stFileChipDeleteBtn"]').first.click)


def measure(url: str, pid: int, clip: Path, repeats: int, folder: Path, fresh: list[Path]) -> dict[str, object]:
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = new_tab(browser, f"{url}/classify", timeout_ms=300_000)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        cold = upload(page, clip, pid, cdp)
        new = []
        for path in fresh:
            remove_uploads(page)
            new.append({"clip": path.name, **upload(page, path, pid, cdp)})
        warm = []
        for i in range(repeats):
            remove_uploads(page)
            warm.append(upload(page, Path(shutil.copyfile(clip, folder / f"again-{i}-{clip.name}")), pid, cdp))
        browser.close()
    return {"cold": cold, "fresh": new, "warm": warm,
            "warm_median": {k: round(statistics.median(w[k] for w in warm), 3) for k in warm[0]}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=None, help="audio file (default: a 30-s GTZAN FLAC)")
    parser.add_argument("--repeats", type=int, default=5, help="warm uploads (default 5)")
    parser.add_argument("--fresh", type=Path, nargs="*", default=[], help="other audio, each uploaded once after the first")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the JSON (default: %(default)s)")
    parser.add_argument("--baseline", type=Path, help="a checkout of the commit to compare with")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        clip = args.clip or (DEFAULT_CLIP if DEFAULT_CLIP.is_file() else synthetic_clip(Path(tmp)))
        runs = {}
        for label, root in (("after", REPO_ROOT), *((("baseline", args.baseline.resolve()),) if args.baseline else ())):
            with StreamlitServer(timeout_s=300, root=root, env=dict.fromkeys(THREAD_LIMITS)) as server:
                runs[label] = measure(server.url, server.process.pid, clip, args.repeats, Path(tmp), args.fresh)
        result = runs.pop("after")
        if runs:
            result["baseline"] = {"code": str(args.baseline), **runs["baseline"]}
    report = {"clip": clip.name, "model": default_name(), **result, "goal_warm_drawn_s": GOAL_SECONDS,
              "load_average_1m_at_end": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
              "python": platform.python_version(), "streamlit": streamlit.__version__,
              "command": "python -m bench.classify_latency " + " ".join(sys.argv[1:] if argv is None else argv)}
    write_json(args.out, report)
    print(f"Classify page, {clip.name} (load average {report['load_average_1m_at_end']} on {report['cpus']} CPUs)\n")
    print("| step | verdict shown (s) | all drawn (s) | server CPU (s) | browser CPU (s) |\n|---|---|---|---|---|")
    for label, run in (("", result), *((("baseline: ", result["baseline"]),) if "baseline" in result else ())):
        steps = [("cold", run["cold"]), *((f"fresh: {f['clip']}", f) for f in run["fresh"]),
                 *((f"warm {i}", w) for i, w in enumerate(run["warm"], 1)), ("warm median", run["warm_median"])]
        for name, r in steps:
            print(f"| {label}{name} | {r['verdict_s']} | {r['drawn_s']} | {r['server_cpu_s']} | {r['browser_cpu_s']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
