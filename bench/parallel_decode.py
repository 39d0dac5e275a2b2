"""Concurrent decodes: ``python -m bench.parallel_decode [--files 4] [--seconds 60] [--repeats 3]``.

Decodes ``--files`` different 44.1-kHz stereo files (generated tones and noise, MP3 and FLAC, cached in the
temporary folder) with :func:`core.audio.load_audio`, one file per thread, all threads started together, in
two ways in the same run (so both share the machine's load):

- ``one_at_a_time``: every call of ``load_audio`` under one process-wide lock, as before (the decoder's stderr
  lock was held for a whole decode, so a server decoded one file at a time);
- ``now``: ``load_audio`` as it is (decoders run in parallel; each call reads the decoder's stderr lines written
  while it ran from one shared capture, :class:`core.audio.DecoderMessages`).

Reports the fastest of ``--repeats`` wall-clock seconds for all files, per format, with 1 thread (the files one
after another) and with one thread per file, the speed-up over ``one_at_a_time``, the CPU count and the load
average. Writes ``bench/results/parallel_decode.json``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SR = 44_100


def files(n: int, seconds: float, fmt: str) -> list[Path]:
    """``n`` different stereo files of ``seconds`` (seeded tones and noise), kept in the temporary folder."""
    import soundfile as sf

    folder = Path(tempfile.gettempdir()) / "cpunk-parallel-decode"
    folder.mkdir(exist_ok=True)
    out = []
    for i in range(n):
        path = folder / f"song{i}-{seconds:g}s.{fmt.lower()}"
        if not path.exists():
            rng = np.random.default_rng(i)
            t = np.arange(int(seconds * SR)) / SR
            y = 0.3 * np.sin(2 * np.pi * (220 + 40 * i) * t) + 0.05 * rng.standard_normal(len(t))
            stereo = np.stack([y, np.roll(y, 100)], axis=1).astype(np.float32)
            sf.write(path.with_suffix(".tmp"), stereo, SR, format=fmt,
                     **({"subtype": "MPEG_LAYER_III"} if fmt == "MP3" else {}))
            path.with_suffix(".tmp").rename(path)
        out.append(path)
    return out


def wall(paths: list[Path], threads: int, decode: Callable[[Path], object]) -> float:
    """Seconds to decode every path with ``threads`` threads (each its share of the files)."""
    shares = [paths[k::threads] for k in range(threads)]
    start = threading.Barrier(threads + 1)

    def work(share: list[Path]) -> None:
        start.wait()
        for path in share:
            decode(path)

    workers = [threading.Thread(target=work, args=(share,)) for share in shares]
    for w in workers:
        w.start()
    start.wait()
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    from core.atomic import write_json
    from core.audio import load_audio

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "parallel_decode.json")
    args = parser.parse_args(argv)
    whole = threading.Lock()

    def one_at_a_time(path: Path) -> object:
        with whole:
            return load_audio(path)

    modes: dict[str, Callable[[Path], object]] = {"one_at_a_time": one_at_a_time, "now": load_audio}
    load_before = os.getloadavg()[0]
    results: dict[str, dict] = {}
    for fmt in ("MP3", "FLAC"):
        paths = files(args.files, args.seconds, fmt)
        load_audio(paths[0])  # warm-up: libraries and caches
        found: dict[str, dict[str, float]] = {}
        for threads in (1, args.files):
            for mode, decode in modes.items():
                best = min(wall(paths, threads, decode) for _ in range(args.repeats))
                found.setdefault(mode, {})[f"{threads}_threads_s"] = round(best, 3)
        results[fmt] = {**found, "speedup_now_over_one_at_a_time": round(
            found["one_at_a_time"][f"{args.files}_threads_s"] / found["now"][f"{args.files}_threads_s"], 2)}
        print(f"{fmt}: {results[fmt]}")
    report = {"benchmark": f"load_audio of {args.files} different {args.seconds:g}-s 44.1-kHz stereo files, one thread "
                           "per file started together (and 1 thread for comparison); fastest of "
                           f"{args.repeats}", "command": "python -m bench.parallel_decode "
                           f"--files {args.files} --seconds {args.seconds:g} --repeats {args.repeats}",
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpu_count": os.cpu_count(),
              "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)], "results": results}
    write_json(args.out, report)
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
