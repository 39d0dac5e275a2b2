"""Reliability figures: the bad-input matrix (cases tried, crashes, data lost) and server memory over
many sequential uploads.

    .venv/bin/python bench/reliability.py                 # matrix + 100 uploads -> bench/results/reliability.json
    .venv/bin/python bench/reliability.py --uploads 0     # the matrix only

The matrix is ``tests/bad_input_cases.py`` run at the ``core`` level; "data lost" counts cases that
wrote, changed or removed a file beside their input or left a temporary file, plus any change to the
models directory. The upload run starts ``streamlit run app.py`` headless, uploads N different short
clips one after another on the Classify page in Chromium (each replaces the previous one) and records
the server's resident memory (RSS, with its child processes) after the first upload and every 10th.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "browser")]
from bad_input_cases import CASES, available, problems, run_case  # noqa: E402

RESULTS = REPO / "bench" / "results" / "reliability.json"
UPLOADER = "Drop one or many songs"


def models_digest() -> str:
    from core.models.registry import models_dir

    digest = hashlib.sha256()
    for path in sorted(models_dir().rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(models_dir())).encode() + path.read_bytes())
    return digest.hexdigest()


def run_matrix() -> dict:
    before = models_digest()
    rows = []
    with tempfile.TemporaryDirectory(prefix="cpunk-matrix-") as tmp:
        for i, case in enumerate(CASES):
            if not available(case):
                rows.append({"case": case.name, "verdict": "skipped"})
                continue
            folder = Path(tmp) / f"case-{i}"
            folder.mkdir()
            outcome = run_case(case, folder)
            wrong = problems(case, outcome)
            rows.append({"case": case.name, "target": case.target, "verdict": outcome.verdict,
                         "message": outcome.message[:200], "peak_mb": round(outcome.peak_mb, 1),
                         "lost": bool(outcome.changed or outcome.left_in_temp), "problems": wrong})
            print(f"{outcome.verdict:9s} {'OK ' if not wrong else 'BAD'} {case.name}: {outcome.message[:90]}")
    tried = [r for r in rows if r["verdict"] != "skipped"]
    return {"cases": len(CASES), "tried": len(tried), "skipped": len(rows) - len(tried),
            "refused_with_message": sum(r["verdict"] == "refused" for r in tried),
            "accepted": sum(r["verdict"] == "accepted" for r in tried),
            "crashes": sum(r["verdict"] == "crash" for r in tried),
            "wrong_outcome": sum(bool(r["problems"]) for r in tried),
            "data_lost": sum(r["lost"] for r in tried) + (models_digest() != before),
            "rows": rows}


def server_rss_mb(pid: int) -> float:
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def run_uploads(n: int, seconds: float) -> dict:
    from browser_harness import StreamlitServer, launch_chromium, new_tab, rerun_after, upload_files
    from playwright.sync_api import sync_playwright

    samples: list[tuple[int, float]] = []
    errors = 0
    t = np.arange(int(seconds * 22_050)) / 22_050
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cpunk-uploads-") as tmp, StreamlitServer() as server, \
            sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = new_tab(browser, f"{server.url}/classify", width=1200, timeout_ms=180_000)
        for i in range(1, n + 1):
            rng = np.random.default_rng(i)  # every clip different: no answer comes from the cache
            y = 0.3 * np.sin(2 * np.pi * rng.uniform(80, 800) * t) + 0.2 * (np.mod(t, rng.uniform(0.3, 0.7)) < 0.01)
            path = Path(tmp) / f"upload-{i:03d}.wav"
            sf.write(path, (y + 0.02 * rng.uniform(-1, 1, len(t))).astype(np.float32), 22_050)
            if page.locator('[data-testid="stFileChipDeleteBtn"]').count():
                rerun_after(page, page.locator('[data-testid="stFileChipDeleteBtn"]').first.click)
            upload_files(page, UPLOADER, path, timeout_ms=180_000)
            ok = page.locator(".cp-genre").count() == 1 and not page.locator('[data-testid="stException"]').count()
            errors += not ok
            path.unlink()
            if i == 1 or i % 10 == 0:
                samples.append((i, round(server_rss_mb(server.process.pid), 1)))
                print(f"upload {i}: server RSS {samples[-1][1]} MB, errors so far {errors}")
        browser.close()
    first, last = samples[0][1], samples[-1][1]
    return {"uploads": n, "clip_seconds": seconds, "errors": errors, "rss_mb_after_first": first,
            "rss_mb_at_end": last, "growth_mb": round(last - first, 1),
            "growth_mb_second_half": round(last - dict(samples).get(n // 2 // 10 * 10 or 1, first), 1),
            "rss_samples": samples, "wall_s": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=100, help="sequential uploads (0: skip; default 100)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each uploaded clip (default 5 s)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = {"matrix": run_matrix(), "command": " ".join(["bench/reliability.py", *sys.argv[1:]]),
              "machine": f"{psutil.cpu_count()} CPUs, load {psutil.getloadavg()[0]:.1f} at start"}
    if args.uploads:
        result["uploads"] = run_uploads(args.uploads, args.seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    summary = {k: v for k, v in result["matrix"].items() if k != "rows"}
    print(json.dumps({"matrix": summary, "uploads": {k: v for k, v in result.get("uploads", {}).items()
                                                      if k != "rss_samples"}}, indent=1))


if __name__ == "__main__":
    main()
