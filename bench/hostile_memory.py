"""Server memory with 10 hostile visitors at once: ``python -m bench.hostile_memory [--sessions 10]``.

Starts ``streamlit run app.py`` in public mode on loopback (``--server.maxUploadSize 50`` as in README
"Deploying the demo", and ``server.disconnectedSessionTTL`` 5 s instead of 120 s so that "after" comes
soon) with no proxy in front, warms it with one analysis, then runs ``--sessions`` scripted visitors at once
(``tests/browser/hostile_client.py``: raw HTTP and Streamlit's websocket). Each: asks for files outside the
app, drops a distinct 10-minute WAV on Classify and retries while the server is busy (at most 15 tries),
PUTs 20 files of 5 MB with made-up ids (1 GB in all, over the 1,000 MB upload budget), sends junk over the
websocket, and leaves. Reports the server's resident memory (its process and children, psutil) before, at
its peak (sampled every 0.25 s) and after the sessions ended and their uploads were freed, with the load
average of the machine. Writes ``bench/results/hostile_memory.json``.

glibc keeps freed memory of a many-threaded server in its arenas; ``MALLOC_MMAP_THRESHOLD_=1048576`` in the
environment (passed on to the server) gives blocks of 1 MiB or more back to the system when freed:
``MALLOC_MMAP_THRESHOLD_=1048576 python -m bench.hostile_memory --out bench/results/hostile_memory_mmap.json``.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import threading
import time
from pathlib import Path

import psutil
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SONG_S = 600


def rss(pid: int) -> int:
    """Resident bytes of the process ``pid`` and its children."""
    try:
        process = psutil.Process(pid)
        return sum(p.memory_info().rss for p in (process, *process.children(recursive=True)))
    except psutil.Error:
        return 0


def song(seconds: float, seed: int) -> bytes:
    from synth_audio import synth

    y = synth("song", seconds=seconds, seed=0)[:, 0]
    y[seed] += 1e-3  # a distinct file (and digest) per visitor, the same music
    buffer = io.BytesIO()
    sf.write(buffer, y, 22_050, format="WAV")
    return buffer.getvalue()


def hostile(url: str, wav: bytes, report: dict) -> None:
    """One hostile visitor; counts what it saw in ``report``."""
    from hostile_client import Visitor, request

    for path in ("/../../etc/passwd", "/media/../../app.py", "/.streamlit/config.toml"):
        report["leaks"] += any(s in request(url, path=path).text for s in ("root:x:0", "import streamlit"))
    visitor = Visitor(url)
    visitor.load()
    visitor.connect(page="classify")
    visitor.finished(300)
    for _ in range(15):
        since = len(visitor.received)
        report["upload_statuses"] += visitor.drop_files("Drop one or many songs", [("long.wav", wav)])
        visitor.finished(600)
        text = visitor.texts(since)
        if "busy" in text:
            report["busy"] += 1
            time.sleep(2)
            continue
        report["analysed"] += "Rock" in text or "genre" in text.lower()
        break
    report["upload_statuses"] += [visitor.upload(b"\0" * 5_000_000, file_id=f"junk-{i}").status for i in range(20)]
    assert visitor.socket is not None
    visitor.socket.send(b"\xff" * 10_000)
    visitor.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "hostile_memory.json")
    args = parser.parse_args(argv)
    sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "browser")]
    from browser_harness import StreamlitServer
    from hostile_client import Visitor, request

    from core.atomic import write_json
    from core.modes import Limits
    from ui.classify_data import RESULTS_MB
    from ui.loaders import TABLES_MB

    shared = ROOT / "demo"  # any folder: the visitors never get to read it
    songs = [song(SONG_S, i) for i in range(args.sessions)]
    server = StreamlitServer({"CPUNK_MODE": "public", "CPUNK_ALLOWED_DIRS": str(shared),
                              "STREAMLIT_SERVER_MAX_UPLOAD_SIZE": "50",
                              "STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": "5"})
    load_start = os.getloadavg()
    with server:
        assert server.process is not None
        pid = server.process.pid
        warm = Visitor(server.url)  # loads the app and the default model, as the first real visitor would
        warm.load()
        warm.connect(page="classify")
        warm.finished(300)
        warm.drop_files("Drop one or many songs", [("warm.wav", song(30, 99_999))])
        warm.finished(600)
        warm.close()
        time.sleep(10)
        before = rss(pid)
        peak, done = [before], threading.Event()

        def sample() -> None:
            while not done.wait(0.25):
                peak.append(rss(pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        report = {"leaks": 0, "busy": 0, "analysed": 0, "upload_statuses": []}
        t0 = time.perf_counter()
        threads = [threading.Thread(target=hostile, args=(server.url, wav, report)) for wav in songs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=1_200)
        seconds = time.perf_counter() - t0
        for _ in range(120):  # the sessions end 5 s after their sockets closed; the sweeper frees their uploads
            metrics = request(server.url, path="/_stcore/metrics").text
            if 'cache_type="UploadedFileManager"' not in metrics:
                break
            time.sleep(1)
        time.sleep(5)
        done.set()
        sampler.join()
        after = rss(pid)
    statuses = report.pop("upload_statuses")
    mb = 1e6
    threshold = os.environ.get("MALLOC_MMAP_THRESHOLD_")
    default_out = args.out == ROOT / "bench" / "results" / "hostile_memory.json"
    result = {
        "command": (f"MALLOC_MMAP_THRESHOLD_={threshold} " if threshold else "") + "python -m bench.hostile_memory"
                   + (f" --sessions {args.sessions}" if args.sessions != 10 else "")
                   + ("" if default_out else f" --out {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}"),
        "malloc_mmap_threshold": threshold,
        "sessions": args.sessions,
        "each_session": f"3 reads outside the app, a {SONG_S // 60}-minute WAV dropped on Classify (retried while "
                        "busy), 20 uploads of 5 MB with made-up ids, junk on the websocket",
        "rss_before_mb": round(before / mb), "rss_peak_mb": round(max(peak) / mb), "rss_after_mb": round(after / mb),
        "peak_over_before_mb": round((max(peak) - before) / mb),
        "budgets_mb": {"analyses_kept": RESULTS_MB, "tables_kept": TABLES_MB,
                       "uploads_held": Limits().upload_memory_mb},
        "analyses_at_once": Limits().max_analyses,
        "busy_answers": report["busy"], "analysed": report["analysed"], "leaks": report["leaks"],
        "uploads_accepted": statuses.count(204), "uploads_refused": len(statuses) - statuses.count(204),
        "seconds": round(seconds, 1),
        "load_average_before": [round(x, 2) for x in load_start],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    write_json(args.out, result)
    print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
