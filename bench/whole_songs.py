"""Whole songs: ``python -m bench.whole_songs [--baseline DIR] [--models ...] [--batch-songs 16]``.

Times :func:`core.predict.classify` on 44.1 kHz stereo MP3 and WAV files of 30 s, 2, 4 and 10 minutes
(generated: chords, bass, drums and noise that change every few seconds) and on a real-music MP3 (a
4-minute medley of 7-s previews of studio songs from ``../shared/data/realworld``, when present; it
is written to a temporary folder and never kept). For every model in the registry:

- ``warm``: bytes to verdict + timeline + explanation (``classify``, which ends with ``explain``:
  ``verdict_wall_s``, ``verdict_cpu_s``), then the feature description too (``describe``: ``wall_s``,
  ``cpu_s``), with the model loaded and warmed up on two other files, a WAV and an MP3 (the default model on every file,
  the others on the MP3s of ``--other-lengths``); the fastest of ``--repeats``; seconds per minute
  of audio, each stage's seconds (``Classification.stages``: decode incl. the 22,050-Hz resampling,
  resample 16 kHz, feature STFT, feature rows, musicnn log-mel, network, display spectrogram; stages
  that ran in a second thread can add up to more than the wall time), the peak memory above the
  process's memory before the call, the windows read of those in the song, and the load average;
- ``first``: the same in a fresh process that has imported the libraries but not loaded the model
  (the first upload after the server starts): model loading + first classify + explain; the default
  model, on the MP3s of ``--first-lengths``.

``--baseline DIR`` measures a checkout of another commit (``git worktree add --detach DIR <commit>``;
``--baseline-models``: which models there) the same way in the same run, so before and after share the machine's load. The batch part runs
``python -m core predict --workers 2`` over ``--batch-songs`` four-minute MP3s (also one worker
with ``--batch-one-worker``; the baseline over ``--baseline-batch-songs``) and reports songs per
minute and the windows each song's verdict read. The JSON is rewritten after
every step, so an interrupted run keeps what it measured.

Each measurement runs in its own process (``--child``); the parent imports no TensorFlow. The load
average is recorded before and after: on a loaded machine wall-clock times mostly measure waiting
for a core and the CPU seconds are closer to what an idle machine needs. Writes
``bench/results/whole_songs.json`` and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SR = 44_100
LENGTHS_MIN = (0.5, 2.0, 4.0, 10.0)
AUDIO_DIR = Path(tempfile.gettempdir()) / "cpunk_whole_songs"
REALWORLD = ROOT.parent / "shared" / "data" / "realworld"


# --- audio ---------------------------------------------------------------------------------------

def song(seconds: float, seed: int = 0) -> np.ndarray:
    """Generated stereo music (samples, 2) float32: a chord, bass and drums changing every 4-12 s."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    out = np.zeros((n, 2), np.float32)
    start = 0
    while start < n:
        length = min(n - start, int(rng.uniform(4, 12) * SR))
        t = np.arange(length) / SR
        root = 110 * 2 ** (rng.integers(0, 12) / 12)
        chord = sum(np.sin(2 * np.pi * root * r * t) for r in (2, 2 * 1.26, 2 * 1.5)) / 3
        bass = np.sin(2 * np.pi * root * t) * (0.5 + 0.5 * np.sign(np.sin(2 * np.pi * rng.uniform(1, 3) * t)))
        beat = 60 / rng.uniform(70, 170)
        drums = np.exp(-((t % beat) * rng.uniform(20, 60))) * rng.uniform(-1, 1, length)
        mix = rng.uniform(0.1, 0.5) * chord + 0.3 * bass + rng.uniform(0.1, 0.6) * drums + 0.02 * rng.uniform(-1, 1, length)
        pan = rng.uniform(0.3, 0.7)
        out[start:start + length] = (0.4 * mix[:, None] * [pan, 1 - pan]).astype(np.float32)
        start += length
    return out


def medley(seconds: float) -> np.ndarray | None:
    """Real music: the realworld previews (mono, 44.1 kHz) joined to ``seconds``, as stereo; None without them."""
    import soundfile as sf

    files = sorted(REALWORLD.glob("*.flac"))
    if not files:
        return None
    parts, total = [], 0
    for f in files:
        y, sr = sf.read(f, dtype="float32", always_2d=True)
        if sr != SR:
            continue
        parts.append(y.mean(axis=1))
        total += len(parts[-1])
        if total >= seconds * SR:
            break
    y = np.concatenate(parts)[: int(seconds * SR)]
    return np.stack([y, y], axis=1)


def audio_files(lengths: list[float], wav: bool) -> dict[str, Path]:
    """Generated files (cached under the temporary folder): name -> path."""
    import soundfile as sf

    AUDIO_DIR.mkdir(exist_ok=True)
    wanted: dict[str, Path] = {}
    for minutes in lengths:
        for ext in ("mp3", "wav") if wav else ("mp3",):
            wanted[f"{minutes:g} min {ext.upper()}"] = AUDIO_DIR / f"song_{minutes:g}min.{ext}"
    real = AUDIO_DIR / "realworld_medley_4min.mp3"
    for name, path in wanted.items():
        if not path.exists():
            y = song(float(name.split()[0]) * 60)
            sf.write(path.with_suffix(".tmp"), y, SR, format=path.suffix[1:].upper(),
                     **({"subtype": "PCM_16"} if path.suffix == ".wav" else {}))
            path.with_suffix(".tmp").rename(path)
    if not real.exists():
        y = medley(240.0)
        if y is not None:
            sf.write(real.with_suffix(".tmp"), y, SR, format="MP3")
            real.with_suffix(".tmp").rename(real)
    if real.exists():
        wanted["4 min real MP3 (medley)"] = real
    return wanted


def batch_folder(n: int) -> Path:
    """``n`` four-minute MP3s (4 distinct generated songs, hard-linked) in a folder of their own."""
    import soundfile as sf

    folder = AUDIO_DIR / f"batch_{n}"
    folder.mkdir(parents=True, exist_ok=True)
    distinct = []
    for seed in range(4):
        path = AUDIO_DIR / f"batch_song_{seed}.mp3"
        if not path.exists():
            sf.write(path.with_suffix(".tmp"), song(240.0, seed=100 + seed), SR, format="MP3")
            path.with_suffix(".tmp").rename(path)
        distinct.append(path)
    for i in range(n):
        link = folder / f"song_{i:03d}.mp3"
        if not link.exists():
            os.link(distinct[i % 4], link)
    return folder


# --- one measurement in its own process ------------------------------------------------------------

class PeakRss:
    """Peak resident memory above the level at entry, sampled every 10 ms by a thread."""

    def __enter__(self) -> "PeakRss":
        import psutil

        self._process = psutil.Process()
        self.before = self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def above_mb(self) -> float:
        return round((self.peak - self.before) / 2**20, 1)


def _classify_once(model, data: bytes) -> dict:
    from core.predict import classify

    with PeakRss() as memory:
        cpu0, t0 = time.process_time(), time.perf_counter()
        result = classify(data, model)
        verdict_wall, verdict_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        result.describe(6)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    minutes = result.audio.duration_s / 60
    return {"verdict_wall_s": round(verdict_wall, 3), "verdict_cpu_s": round(verdict_cpu, 3),
            "verdict_cpu_s_per_min": round(verdict_cpu / minutes, 3),
            "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "wall_s_per_min": round(wall / minutes, 3),
            "cpu_s_per_min": round(cpu / minutes, 3), "peak_mb_above": memory.above_mb,
            "stages_s": {k: round(v, 3) for k, v in getattr(result, "stages", {}).items()},
            "windows": len(result.segment_starts), "windows_in_song": getattr(result, "windows", None),
            "genre": result.genre, "audio_s": round(result.audio.duration_s, 1),
            "load": round(os.getloadavg()[0], 2)}


def child(spec: dict) -> dict:
    """Runs in a fresh process (``--child``): the measurements of one model described by ``spec``."""
    import core.predict  # noqa: F401  (TensorFlow and the libraries, before any timing)
    from core.models.registry import load_model

    files = {name: Path(p).read_bytes() for name, p in spec["files"].items()}
    if spec["mode"] == "first":
        name, data = next(iter(files.items()))
        t0 = time.perf_counter()
        model = load_model(spec["model"])
        load_s = time.perf_counter() - t0
        out = _classify_once(model, data)
        return {name: {**out, "load_model_s": round(load_s, 3), "first_verdict_s": round(load_s + out["verdict_wall_s"], 3),
                       "first_s": round(load_s + out["wall_s"], 3)}}
    model = load_model(spec["model"])
    for warmup in spec["warmup"]:  # the first decode of a format costs more (the MP3 decoder's set-up)
        _classify_once(model, Path(warmup).read_bytes())
    results = {}
    for name, data in files.items():
        runs = [_classify_once(model, data) for _ in range(spec["repeats"])]
        results[name] = min(runs, key=lambda r: r["wall_s"])
    return results


def _env(code: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_ENABLE_ONEDNN_OPTS", "PYTHONPATH")}
    return {**env, "PYTHONPATH": str(code), "TF_CPP_MIN_LOG_LEVEL": "2"}


def run_child(code: Path, spec: dict) -> dict:
    """``child(spec)`` in a fresh Python whose ``core`` comes from the checkout ``code``."""
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)], cwd=code,
                         env=_env(code), capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"child failed ({code}, {spec['model']}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def batch(code: Path, folder: Path, workers: int) -> dict:
    """``python -m core predict FOLDER --workers N``: songs per minute, the load average after."""
    out_csv = Path(tempfile.mkdtemp()) / "predictions.csv"
    cmd = [sys.executable, "-m", "core", "predict", str(folder), "--out", str(out_csv), "--workers", str(workers)]
    load, t0 = os.getloadavg()[0], time.perf_counter()
    done = subprocess.run(cmd, cwd=code, env=_env(code), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    n = len(list(folder.iterdir()))
    genres, analysed = [], ""
    if out_csv.exists():
        import pandas as pd

        table = pd.read_csv(out_csv, keep_default_na=False)
        genres, analysed = table["genre"].tolist(), str(table["analysed"].iloc[0])
        shutil.rmtree(out_csv.parent)
    return {"songs": n, "workers": workers, "wall_s": round(wall, 1), "exit": done.returncode,
            "songs_per_min": round(n / wall * 60, 1), "classified": sum(g != "" for g in genres),
            "analysed": analysed, "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2)}



# --- the run ------------------------------------------------------------------------------------

def _models(code: Path) -> tuple[list[str], str]:
    registry = code / "models"
    names = sorted(p.parent.name for p in registry.glob("*/model.json") if not p.parent.name.startswith("_"))
    return names, json.loads((registry / "default.json").read_text())["default"]


def measure(code: Path, label: str, models: list[str] | None, files: dict[str, Path], repeats: int,
            other_lengths: list[float], first_lengths: list[float], save: Callable[[dict], None]) -> dict:
    """Every model's warm (and the default's first-call) times with the checkout ``code``. The default
    model reads every file; the others the MP3s of ``other_lengths`` minutes. ``save`` hears each step."""
    names, default = _models(code)
    names = [n for n in names if models is None or n in models]
    warmup = [AUDIO_DIR / "warmup.wav", AUDIO_DIR / "warmup.mp3"]
    for path in warmup:
        if path.exists():
            continue
        import soundfile as sf

        sf.write(path, song(20.0, seed=7), SR)
    out: dict = {"code": str(code), "default_model": default, "models": {}}
    others = {f"{m:g} min MP3" for m in other_lengths}
    for name in [default] + [n for n in names if n != default]:
        if name not in names:
            continue
        own = files if name == default else {k: v for k, v in files.items() if k in others}
        print(f"[{label}] {name}: warm", file=sys.stderr, flush=True)
        warm = run_child(code, {"mode": "warm", "model": name, "files": {k: str(v) for k, v in own.items()},
                                "warmup": [str(p) for p in warmup], "repeats": repeats})
        out["models"][name] = {"warm": warm, "first": {}}
        save(out)
        if name != default:
            continue
        for key in (f"{m:g} min MP3" for m in first_lengths):
            print(f"[{label}] {name}: first call, {key}", file=sys.stderr, flush=True)
            out["models"][name]["first"].update(run_child(code, {"mode": "first", "model": name,
                                                                 "files": {key: str(files[key])}}))
            save(out)
    return out


def _table(runs: dict) -> str:
    lines = ["| code | model | file | warm verdict wall s (CPU s) | + description wall s (CPU s) | verdict CPU s/min | "
             "first call: verdict s | peak MB | windows | load | genre |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, run in runs.items():
        for model, m in run["models"].items():
            for file, w in m["warm"].items():
                first = m["first"].get(file, {}).get("first_verdict_s", "")
                lines.append(f"| {label} | {model} | {file} | {w['verdict_wall_s']} ({w['verdict_cpu_s']}) | "
                             f"{w['wall_s']} ({w['cpu_s']}) | {w['verdict_cpu_s_per_min']} | {first} | "
                             f"{w['peak_mb_above']} | {w['windows']} | {w['load']} | {w['genre']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", type=Path, help="a checkout of the commit to compare with")
    parser.add_argument("--models", nargs="*", help="model names (default: every model in the registry)")
    parser.add_argument("--lengths", nargs="*", type=float, default=list(LENGTHS_MIN), help="minutes")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-wav", action="store_true", help="MP3 only")
    parser.add_argument("--other-lengths", nargs="*", type=float, default=[0.5, 4.0],
                        help="minutes of MP3 for the models other than the default")
    parser.add_argument("--first-lengths", nargs="*", type=float, default=[4.0, 10.0],
                        help="minutes of MP3 for the default model's first call")
    parser.add_argument("--baseline-models", nargs="*", help="models measured in the baseline (default: --models)")
    parser.add_argument("--batch-songs", type=int, default=8, help="four-minute songs in the batch (0: skip)")
    parser.add_argument("--baseline-batch-songs", type=int, help="songs in the baseline's batch (default: --batch-songs)")
    parser.add_argument("--batch-one-worker", action="store_true", help="also run the batch with one worker")
    parser.add_argument("--out", type=Path, default=RESULTS / "whole_songs.json")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    from core.atomic import write_json

    result: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "platform": platform.platform(terse=True)},
                    "load_before": [round(v, 2) for v in os.getloadavg()],
                    "command": "python -m bench.whole_songs " + " ".join(sys.argv[1:] if argv is None else argv),
                    "runs": {}, "batch": {}}

    def save(_: object = None) -> None:  # after every step: a long run interrupted keeps what it measured
        write_json(args.out, {**result, "load_after": [round(v, 2) for v in os.getloadavg()]})

    files = audio_files(args.lengths, wav=not args.no_wav)
    result["files"] = {k: str(v.name) for k, v in files.items()}
    codes = {"after": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    for label, code in codes.items():
        models = (args.baseline_models or args.models) if label == "baseline" else args.models

        def keep(out: dict, label: str = label) -> None:
            result["runs"][label] = out
            save()

        measure(code, label, models, files, args.repeats, args.other_lengths, args.first_lengths, keep)
    for label, code in codes.items():
        songs = args.batch_songs if label == "after" or args.baseline_batch_songs is None else args.baseline_batch_songs
        if not songs:
            continue
        for workers in (2, 1) if args.batch_one_worker and label == "after" else (2,):
            print(f"[{label}] batch of {songs} songs, workers {workers}", file=sys.stderr, flush=True)
            result["batch"][f"{label}, {workers} worker(s)"] = batch(code, batch_folder(songs), workers)
            save()
    save()
    runs, batches = result["runs"], result["batch"]
    print(_table(runs))
    for label, b in batches.items():
        print(f"batch {label}: {b['songs']} songs in {b['wall_s']} s = {b['songs_per_min']} songs/min")
    print(f"saved {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
