"""Explore page render time in a real browser: ``python -m bench.explore_render [--rows 10000 100000]``.

For each size, writes a made-up feature table (:func:`core.data.explore.synthetic_table`, seed schema,
whole-track rows only, 5 genres) to a temporary Parquet file, starts ``streamlit run app.py``
headless and drives Debian's Chromium (the browser-test harness) through what a presenter does:

- ``open``: type the table's path and press Enter until the first view (violins) has drawn
  (reading + validating the table, sampling, the figure, the browser drawing it; nothing cached);
- ``scatter``, ``pca``, ``ranking``, ``mislabels``, ``correlations``: switch to that tab (first time,
  so its analysis is computed) until drawn;
- ``filter``: deselect one genre (every cached view is recomputed for the new rows) until drawn;
- ``back``: return to the first tab with the same filter (cached: the warm path).

``seconds`` are wall-clock from the action to the drawn page, one run each, on a machine that may be
shared (the load average is recorded). ``cpu_seconds`` is the CPU time the Streamlit server and the
browser (every process this benchmark started) spent on the step: it hardly depends on other load,
and is roughly what the step takes on otherwise idle cores. Prints Markdown tables; writes
``bench/results/explore_render.json``. Goal: <= 2 s per step for 10,000 rows.
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

import psutil
import streamlit
from playwright.sync_api import sync_playwright

from core.data.explore import synthetic_table
from core.data.store import write_parquet_atomic
from core.features.schema import SEED

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
from browser_harness import (  # noqa: E402
    StreamlitServer,
    count_reruns,
    launch_chromium,
    open_page,
    rerun_after,
    wait_for_charts,
)

RESULTS = Path(__file__).resolve().parent / "results" / "explore_render.json"
GOAL_SECONDS = 2.0
TABS = {"scatter": "Scatter", "pca": "PCA map", "ranking": "Best features", "mislabels": "Likely mislabels",
        "correlations": "Correlations"}


def cpu_time() -> dict[int, float]:
    """CPU seconds (user + system) of every process this benchmark started (server, browser), by pid."""
    times = {}
    for proc in psutil.Process().children(recursive=True):
        try:
            cpu = proc.cpu_times()
            times[proc.pid] = cpu.user + cpu.system + cpu.children_user + cpu.children_system
        except psutil.Error:
            continue
    return times


def timed(page, action) -> tuple[float, float]:
    """Wall-clock and CPU seconds from ``action`` until the page has rerun and drawn its charts."""
    before, start = cpu_time(), time.perf_counter()
    rerun_after(page, action, start_timeout_ms=10_000, timeout_ms=300_000)
    wait_for_charts(page, timeout_ms=300_000)
    wall, after = time.perf_counter() - start, cpu_time()
    return wall, sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def measure(url: str, browser, table: Path) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds per step for one table (a fresh tab; nothing cached for this file yet)."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    count_reruns(context)
    page = context.new_page()
    page.set_default_timeout(300_000)
    open_page(page, f"{url}/explore", timeout_ms=120_000)
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Feature table").click()
    rerun_after(page, page.get_by_role("option", name="Another file or store folder (path)…").click)
    field = page.get_by_label("Path to a feature table")
    field.fill(str(table))
    steps = {"open": timed(page, lambda: field.press("Enter"))}
    for step, tab in TABS.items():
        steps[step] = timed(page, page.get_by_role("tab", name=tab).click)
    steps["filter"] = timed(page, page.locator('[data-testid="stSidebar"]').get_by_text("metal", exact=True).click)
    steps["back"] = timed(page, page.get_by_role("tab", name="Distributions").click)
    context.close()
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-explore-") as tmp, StreamlitServer({"CPUNK_DATA_DIR": ""}) as server, \
            sync_playwright() as pw:
        browser = launch_chromium(pw)
        for rows in args.rows:
            table = write_parquet_atomic(synthetic_table(SEED, n_tracks=rows, seed=rows), Path(tmp) / f"t{rows}.parquet")
            steps = measure(server.url, browser, table)
            results.append({"rows": rows, "seconds": {k: v[0] for k, v in steps.items()},
                            "cpu_seconds": {k: v[1] for k, v in steps.items()}})
        browser.close()
    steps = list(results[0]["seconds"])
    for measure_name in ("seconds", "cpu_seconds"):
        print(f"\n{measure_name}:\n\n| rows | " + " | ".join(steps) + " |")
        print("|---:|" + "---:|" * len(steps))
        for r in results:
            print(f"| {r['rows']:,} | " + " | ".join(f"{r[measure_name][s]:.2f}" for s in steps) + " |")
    report = {
        "benchmark": "explore_render", "command": " ".join(["python -m bench.explore_render", *(argv or sys.argv[1:])]),
        "goal_seconds_10k": GOAL_SECONDS, "results": results, "schema": SEED.id,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "streamlit": streamlit.__version__, "load_average_before": load_before,
                    "load_average_after": os.getloadavg()[0]},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp_file = RESULTS.with_suffix(".json.tmp")
    tmp_file.write_text(json.dumps(report, indent=2) + "\n")
    tmp_file.replace(RESULTS)
    print(f"\nSaved {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
