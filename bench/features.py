"""Feature-extraction benchmark and published-table check.

``python -m bench.features --data ../shared/data`` measures, side by side on clips of ``gtzan`` (OGG)
and ``gtzan_flac`` (FLAC), the CPU time per 30-s clip including its 10 slices of the fast extractor
(:func:`core.features.extract.extract`) and of the plain recipe (:mod:`core.features.reference`: whole track + cut
slices), the decode time, and the peak memory of loading and analysing a 10-minute 44.1 kHz stereo
WAV. Times are process CPU seconds with every numeric library pinned to one thread.
``--csv-check`` instead compares our rows with the published GTZAN tables (whole-track rows of the
FLAC and OGG clips vs ``features_30_sec.csv``; slice rows vs cut-and-analysed slices and
``features_3_sec_subset.csv``). Prints Markdown; writes ``bench/results/features.json`` (or
``features_csv.json``).
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_name] = "1"  # before numpy loads: timings are per core

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import soundfile as sf  # noqa: E402
import soxr  # noqa: E402

from core.audio import SAMPLE_RATE, AnalysisLimit, load_audio  # noqa: E402
from core.features import extract, reference  # noqa: E402
from core.features.schema import GENRES, GTZAN_KAGGLE, SEED, FeatureSchema, get_schema  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "features.json"
CSV_RESULTS = RESULTS.with_name("features_csv.json")
TOLERANCE = 0.02  # the published-table goal: median error per column within 2%
SLICE_GENRES = ("classical", "jazz", "rock")  # the genres of features_3_sec_subset.csv


def clips(folder: Path, per_genre: int, genres: tuple[str, ...] = GENRES) -> list[Path]:
    """The first ``per_genre`` clips of each genre folder, in name order."""
    return [p for g in genres for p in sorted((folder / g).glob(f"{g}.*"))[:per_genre]]


def track_name(path: Path) -> str:
    """``blues.00000`` for ``.../blues/blues.00000.flac``: the key of the published tables."""
    return path.name.rsplit(".", 1)[0]


# --------------------------------------------------------------------------- published tables
def published(csv: Path) -> pd.DataFrame:
    """A published GTZAN table indexed by file name without ``.wav``."""
    table = pd.read_csv(csv)
    return table.set_index(table["filename"].str.removesuffix(".wav"))


def scale_aware_error(ours: pd.DataFrame, table: pd.DataFrame, spread: pd.Series) -> pd.DataFrame:
    """``|ours - published| / max(|published|, column spread)`` per cell.

    The plain relative error wherever a value sits well away from zero; for values near zero
    (``harmony_mean`` and ``perceptr_mean`` always, some MFCC means sometimes) the error is relative
    to the column's standard deviation across the whole published table instead.
    """
    expected = table.loc[ours.index, ours.columns]
    return (ours - expected).abs() / expected.abs().clip(lower=spread[ours.columns], axis=1)


def relative_error(ours: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Plain ``|ours - published| / |published|`` per cell."""
    expected = table.loc[ours.index, ours.columns]
    return (ours - expected).abs() / expected.abs()


def track_rows(paths: list[Path], schema: FeatureSchema = GTZAN_KAGGLE) -> pd.DataFrame:
    """Our whole-track rows of ``paths``, indexed by track name."""
    rows = [extract.extract(load_audio(p).y, SAMPLE_RATE, schema).track for p in paths]
    return pd.DataFrame(rows, index=[track_name(p) for p in paths], columns=list(schema.columns))


def published_errors(paths: list[Path], csv: Path, schema: FeatureSchema = GTZAN_KAGGLE) -> dict[str, pd.DataFrame]:
    """Errors of our whole-track rows vs a published table: ``scale_aware`` and plain ``relative``."""
    table = published(csv)
    ours = track_rows(paths, schema)
    return {"scale_aware": scale_aware_error(ours, table, table[list(schema.columns)].std()),
            "relative": relative_error(ours, table)}


def column_summary(errors: pd.DataFrame) -> dict:
    """Median error per column across clips, and how many columns are within :data:`TOLERANCE`."""
    median = errors.median()
    return {"clips": len(errors), "columns_within_2pct": int((median <= TOLERANCE).sum()),
            "columns": len(median), "worst_column": str(median.idxmax()), "worst_median": float(median.max()),
            "median_error": {c: float(v) for c, v in median.items()}}


def slice_differences(paths: list[Path], csv: Path) -> dict:
    """How our slice rows (whole-track frames) differ from cut-and-analyse slices and the 3-s table."""
    table = published(csv)
    spread = table[list(GTZAN_KAGGLE.columns)].std()
    vs_cut, vs_csv, cut_vs_csv = [], [], []
    for path in paths:
        y = load_audio(path).y
        ours = extract.extract(y, SAMPLE_RATE, GTZAN_KAGGLE).slices
        cut = reference.reference_slices(y, SAMPLE_RATE, GTZAN_KAGGLE)
        names = [f"{track_name(path)}.{i}" for i in range(len(ours))]
        frame = lambda rows: pd.DataFrame(rows, index=names, columns=list(GTZAN_KAGGLE.columns))  # noqa: E731
        known = [n for n in names if n in table.index]
        vs_cut.append(scale_aware_error(frame(ours), frame(cut), spread))
        vs_csv.append(scale_aware_error(frame(ours).loc[known], table, spread))
        cut_vs_csv.append(scale_aware_error(frame(cut).loc[known], table, spread))
    return {name: column_summary(pd.concat(errs)) for name, errs in
            (("ours_vs_cut_slices", vs_cut), ("ours_vs_published_3s", vs_csv), ("cut_slices_vs_published_3s", cut_vs_csv))}


# --------------------------------------------------------------------------- speed
def time_clip(path: Path, schema: FeatureSchema) -> dict:
    """CPU seconds to decode one clip, and to extract its track + slice rows fast and by the recipe."""
    t0 = time.process_time()
    y = load_audio(path).y
    t1 = time.process_time()
    fast = extract.extract(y, SAMPLE_RATE, schema)
    t2 = time.process_time()
    reference.reference_row(y, SAMPLE_RATE, schema)
    reference.reference_slices(y, SAMPLE_RATE, schema)
    t3 = time.process_time()
    return {"clip": str(path), "slices": len(fast.slices), "decode_s": t1 - t0, "fast_s": t2 - t1, "reference_s": t3 - t2}


def speed(data: Path, per_genre: int, schema: FeatureSchema) -> dict:
    """Per-clip timings on ``gtzan`` and ``gtzan_flac`` (the same track names), with medians."""
    extract.extract(np.random.default_rng(0).uniform(-0.5, 0.5, 5 * SAMPLE_RATE).astype(np.float32))  # JIT warm-up
    out = {}
    for folder in ("gtzan", "gtzan_flac"):
        rows = [time_clip(p, schema) for p in clips(data / folder, per_genre)]
        med = {k: float(np.median([r[k] for r in rows])) for k in ("decode_s", "fast_s", "reference_s")}
        med["speedup"] = med["reference_s"] / med["fast_s"]
        out[folder] = {"median": med, "clips": rows}
    return out


# --------------------------------------------------------------------------- memory
_MEMORY_PROBE = """
import os, sys, json
for n in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[n] = "1"
import numpy as np, psutil
from core.audio import load_audio
from core.features.extract import extract
from core.features.schema import SEED
extract(np.random.default_rng(0).uniform(-0.5, 0.5, 5 * 22050).astype(np.float32))  # imports and JIT done
def high_water() -> int:  # this process's peak RSS (ru_maxrss would include the parent's, kept over exec)
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0]) * 1024
open("/proc/self/clear_refs", "w").write("5")  # reset the peak to the current RSS
base = psutil.Process().memory_info().rss
audio = load_audio(sys.argv[1])
rows = extract(audio.y, audio.sr, SEED)
peak = high_water()
print(json.dumps({"baseline_mb": base / 2**20, "peak_mb": peak / 2**20, "above_baseline_mb": (peak - base) / 2**20,
                  "analysed_s": audio.duration_s, "slices": len(rows.slices)}))
"""


def long_file(data: Path, folder: Path, minutes: float) -> Path:
    """A ``minutes``-long 44.1 kHz stereo WAV of concatenated clips (a temporary test file)."""
    sources = clips(data / "gtzan_flac", 10)
    y = np.concatenate([load_audio(p).y for p in sources])[: int(minutes * 60 * SAMPLE_RATE)]
    y44 = soxr.resample(y, SAMPLE_RATE, 44_100)
    path = folder / "long.wav"
    sf.write(path, np.stack([y44, 0.8 * y44], axis=1), 44_100, subtype="PCM_16")
    return path


def memory(data: Path, minutes: float = 10.0) -> dict:
    """Peak RSS above the post-import baseline while loading and analysing a ``minutes``-long file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = long_file(data, Path(tmp), minutes)
        size = path.stat().st_size
        root = Path(__file__).resolve().parents[1]
        done = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(path)], cwd=root, check=True,
                              capture_output=True, text=True)
    return {"file": f"{minutes:g} min, 44.1 kHz stereo 16-bit WAV", "file_mb": size / 2**20,
            "limit_s": AnalysisLimit().max_seconds, **json.loads(done.stdout.strip().splitlines()[-1])}


# --------------------------------------------------------------------------- report
def markdown(results: dict) -> str:
    lines: list[str] = []
    if "speed" in results:
        lines += [f"Feature extraction, schema {results['schema']}, CPU seconds per 30-s clip incl. its 10 slices "
                  f"(medians; 1 thread; {results['machine']}).", "",
                  "| clips | n | decode | fast | reference | speed-up |", "|---|---|---|---|---|---|"]
        for folder, r in results["speed"].items():
            m = r["median"]
            lines.append(f"| {folder} | {len(r['clips'])} | {m['decode_s']:.3f} | {m['fast_s']:.3f} | "
                         f"{m['reference_s']:.3f} | {m['speedup']:.1f}x |")
        mem = results["memory"]
        lines += ["", f"Peak memory, {mem['file']} ({mem['file_mb']:.0f} MB; {mem['analysed_s']:.0f} s analysed): "
                  f"{mem['above_baseline_mb']:.0f} MB above the {mem['baseline_mb']:.0f} MB baseline."]
    if "csv" in results:
        lines += ["", "Whole-track rows (gtzan-kaggle) vs features_30_sec.csv, median error per column across clips "
                  "(scale-aware: relative to max(|published|, column std); relative: to |published|):", "",
                  "| clips | error | n | columns within 2% | worst column | its median error |", "|---|---|---|---|---|---|"]
        for name, kinds in results["csv"].items():
            for kind, s in kinds.items():
                lines.append(f"| {name} | {kind} | {s['clips']} | {s['columns_within_2pct']}/{s['columns']} | "
                             f"{s['worst_column']} | {s['worst_median']:.2%} |")
    if "slices" in results:
        lines += ["", "Slice rows (gtzan-kaggle), median scale-aware difference per column:", "",
                  "| comparison | slices | columns within 2% | worst column | its median |", "|---|---|---|---|---|"]
        for name, s in results["slices"].items():
            lines.append(f"| {name} | {s['clips']} | {s['columns_within_2pct']}/{s['columns']} | "
                         f"{s['worst_column']} | {s['worst_median']:.1%} |")
    return "\n".join(lines)


def write_json(results: dict, path: Path = RESULTS) -> None:
    """Write atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1))
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.features", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="the shared data folder")
    parser.add_argument("--per-genre", type=int, default=2, help="speed clips per genre and folder (default 2)")
    parser.add_argument("--schema", default=SEED.name, help="schema timed (default seed)")
    parser.add_argument("--csv-check", action="store_true",
                        help="instead of speed and memory: compare with the published 30-s table (FLAC and OGG) "
                             f"and 3-s table (slices), into {CSV_RESULTS.name}")
    parser.add_argument("--csv-per-genre", type=int, default=10, help="clips per genre for --csv-check (default 10)")
    parser.add_argument("--slice-clips", type=int, default=3, help="clips per genre for the slice comparison")
    parser.add_argument("--out", type=Path, help=f"JSON results file (default {RESULTS.name} or {CSV_RESULTS.name})")
    args = parser.parse_args(argv)
    if not (args.data / "gtzan_flac").is_dir():
        parser.error(f"no gtzan_flac folder under {args.data}")
    results: dict = {"machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}"}
    if args.csv_check:
        csv30 = args.data / "features" / "features_30_sec.csv"
        results["csv"] = {}
        for folder in ("gtzan_flac", "gtzan"):
            errors = published_errors(clips(args.data / folder, args.csv_per_genre), csv30)
            results["csv"][folder] = {kind: column_summary(e) for kind, e in errors.items()}
        flac = clips(args.data / "gtzan_flac", args.slice_clips, SLICE_GENRES)
        results["slices"] = slice_differences(flac, args.data / "features" / "features_3_sec_subset.csv")
    else:
        schema = get_schema(args.schema)
        results.update(schema=schema.id, speed=speed(args.data, args.per_genre, schema), memory=memory(args.data))
    print(markdown(results))
    write_json(results, args.out or (CSV_RESULTS if args.csv_check else RESULTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
