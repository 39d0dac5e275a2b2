"""How well do models generalise to audio of tracks they never saw? (chooses the shipped default model)

Every candidate is trained in the same 5 grouped folds over GTZAN's 1,000 tracks (StratifiedGroupKFold
by track on the published features_30_sec.csv). For each fold, the shared clips whose tracks are in
the held-out fold are classified from *our extractor's* features of their audio (OGG, lossy): at
track level (the verdict the app shows) and at segment level (each window alone), with windows of
several lengths. Candidates:

- ``csv30``: seed MLP on the CSV's whole-track rows (gtzan-kaggle schema; 1,000 balanced tracks).
- ``csv30+ogg``: the same plus our whole-track rows of the training folds' OGG clips (lossy copies).
- ``ogg-slices``: seed MLP on our seed-schema 3-s slice rows of the training folds' OGG clips
  (unbalanced: ~100 clips for classical/jazz/rock, ~10 for the others).
- ``ogg-kaggle-slices``: seed MLP on our gtzan-kaggle 3-s slice rows of the training folds' OGG clips.

Run: ``python -m bench.generalisation --data ../shared/data`` (features of the clips are cached in
``--cache``, default /tmp/cpunk-bench; the first run extracts them, ~10 CPU-min). Writes
bench/results/generalisation.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

WINDOWS = (3.0, 6.0, 10.0, 15.0)  # segment lengths compared (seconds)
HOP = 1.5
RESULTS = Path(__file__).resolve().parent / "results"
FOLDS = 5
SEED = 42


def _clip_rows(path: str, track_id: str, label: str) -> list[dict]:
    """Feature rows of one clip: per schema, the whole track (window 0) and windows of each length."""
    from core.audio import load_audio
    from core.features.extract import compute_signals, extract_signals
    from core.features.schema import GTZAN_KAGGLE
    from core.features.schema import SEED as SEED_SCHEMA

    audio = load_audio(path)
    signals = compute_signals(audio.y, audio.sr, SEED_SCHEMA.signals | GTZAN_KAGGLE.signals)
    rows = []
    for schema, windows in ((GTZAN_KAGGLE, WINDOWS), (SEED_SCHEMA, (3.0,))):
        for window in windows:
            ex = extract_signals(signals, schema, slice_seconds=window, hop_seconds=HOP)
            if window == windows[0]:
                rows.append({"schema": schema.name, "track_id": track_id, "label": label, "window": 0.0,
                             "start_s": 0.0, "values": ex.track})
            for start, values in zip(ex.slice_starts / audio.sr, ex.slices):
                rows.append({"schema": schema.name, "track_id": track_id, "label": label, "window": window,
                             "start_s": float(start), "values": values})
    return rows


def clip_features(data: Path, cache: Path, workers: int = 2) -> dict[str, pd.DataFrame]:
    """Per schema, a table of our features of the shared OGG clips (cached as Parquet)."""
    from core.data.dataset import discover, init_worker
    from core.features.schema import GTZAN_KAGGLE
    from core.features.schema import SEED as SEED_SCHEMA

    files = {s.name: cache / f"clips-{s.name}.parquet" for s in (GTZAN_KAGGLE, SEED_SCHEMA)}
    if not all(f.exists() for f in files.values()):
        tracks = discover(data / "gtzan")
        rows: list[dict] = []
        t0 = time.perf_counter()
        with ProcessPoolExecutor(workers, initializer=init_worker, initargs=(os.getpid(),)) as pool:
            futures = [pool.submit(_clip_rows, t.path, Path(t.track_id).name, t.label) for t in tracks]
            for i, future in enumerate(futures, 1):
                rows += future.result()
                if i % 25 == 0:
                    print(f"  {i}/{len(tracks)} clips, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        cache.mkdir(parents=True, exist_ok=True)
        for schema in (GTZAN_KAGGLE, SEED_SCHEMA):
            part = [r for r in rows if r["schema"] == schema.name]
            frame = pd.DataFrame({k: [r[k] for r in part] for k in ("track_id", "label", "window", "start_s")})
            values = pd.DataFrame(np.vstack([r["values"] for r in part]), columns=list(schema.columns))
            pd.concat([frame, values], axis=1).to_parquet(files[schema.name])
    return {name: pd.read_parquet(path) for name, path in files.items()}


def _as_table(clips: pd.DataFrame, schema_name: str, window: float) -> pd.DataFrame:
    """Clip rows of one window length (0: whole track) in feature-table layout."""
    from core.features.schema import IDENTITY_COLUMNS, get_schema

    schema = get_schema(schema_name)
    part = clips[clips["window"] == window].reset_index(drop=True)
    ident = pd.DataFrame({
        "track_id": part["track_id"], "path": "", "label": part["label"],
        "slice": -1 if window == 0 else part.groupby("track_id").cumcount(),
        "start_s": part["start_s"], "duration_s": 30.0 if window == 0 else window, "schema_version": schema.id})
    return pd.concat([ident, part[list(schema.columns)]], axis=1)[list(IDENTITY_COLUMNS) + list(schema.columns)]


def _recalls(y: np.ndarray, predicted: np.ndarray, classes: tuple[str, ...]) -> dict[str, float]:
    return {c: float((predicted[y == i] == i).mean()) for i, c in enumerate(classes) if (y == i).any()}


def _scores(y: np.ndarray, probs: np.ndarray, classes: tuple[str, ...]) -> dict:
    predicted = probs.argmax(axis=1)
    recalls = _recalls(y, predicted, classes)
    return {"n": int(len(y)), "accuracy": round(float((predicted == y).mean()), 4),
            "balanced_accuracy": round(float(np.mean(list(recalls.values()))), 4),
            "recall": {c: round(r, 3) for c, r in recalls.items()}}


CANDIDATES = {
    # name: (schema of the clip rows it is tested on, level, training rows builder)
    "csv30": ("gtzan-kaggle", "track", lambda csv, ck, cs, train: csv[csv["track_id"].isin(train)]),
    "csv30+ogg": ("gtzan-kaggle", "track", lambda csv, ck, cs, train: pd.concat(
        [csv[csv["track_id"].isin(train)], _as_table(ck[ck["track_id"].isin(train)], "gtzan-kaggle", 0.0)])),
    "ogg-slices": ("seed", "slice", lambda csv, ck, cs, train: _as_table(cs[cs["track_id"].isin(train)], "seed", 3.0)),
    "ogg-kaggle-slices": ("gtzan-kaggle", "slice",
                          lambda csv, ck, cs, train: _as_table(ck[ck["track_id"].isin(train)], "gtzan-kaggle", 3.0)),
}


def run_candidates(csv: pd.DataFrame, clips: dict[str, pd.DataFrame], names: list[str]) -> dict:
    """Train every candidate in the same grouped folds and score it on the held-out clips' audio."""
    from core.data.training_data import grouped_folds, training_rows
    from core.models.builders import predict_proba
    from core.models.train import TrainConfig, train

    csv_rows = training_rows(csv, "track")
    classes = csv_rows.classes
    folds = grouped_folds(csv_rows, FOLDS, SEED)
    results = {}
    for name in names:
        schema_name, level, build = CANDIDATES[name]
        test_clips = clips[schema_name]
        windows = sorted(set(test_clips["window"]) - {0.0})
        collected: dict[str, list] = {"y": [], "whole": [], **{f"mean{w:g}": [] for w in windows},
                                      **{f"seg{w:g}": [] for w in windows}, **{f"segy{w:g}": [] for w in windows}}
        t0 = time.perf_counter()
        for train_index, test_index in folds:
            train_tracks = set(csv_rows.groups[train_index])
            test_tracks = set(csv_rows.groups[test_index])
            assert not train_tracks & test_tracks
            model, _ = train(TrainConfig(level=level), build(csv, clips["gtzan-kaggle"], clips["seed"], train_tracks),
                             classes=classes)
            held = test_clips[test_clips["track_id"].isin(test_tracks)]
            whole = held[held["window"] == 0.0].sort_values("track_id")
            y = whole["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
            collected["y"].append(y)
            collected["whole"].append(predict_proba(model, whole[list(model_columns(schema_name))].to_numpy()))
            for w in windows:
                seg = held[held["window"] == w]
                probs = predict_proba(model, seg[list(model_columns(schema_name))].to_numpy())
                collected[f"seg{w:g}"].append(probs)
                collected[f"segy{w:g}"].append(seg["label"].map({c: i for i, c in enumerate(classes)}).to_numpy())
                means = pd.DataFrame(probs).groupby(seg["track_id"].to_numpy()).mean().loc[whole["track_id"]]
                collected[f"mean{w:g}"].append(means.to_numpy())
        y = np.concatenate(collected["y"])
        out = {"level": level, "schema": schema_name, "seconds": round(time.perf_counter() - t0, 1),
               "track_whole_row": _scores(y, np.vstack(collected["whole"]), classes) if level == "track" else None}
        for w in windows:
            out[f"track_mean_of_{w:g}s_windows"] = _scores(y, np.vstack(collected[f"mean{w:g}"]), classes)
            out[f"segments_{w:g}s"] = _scores(np.concatenate(collected[f"segy{w:g}"]),
                                              np.vstack(collected[f"seg{w:g}"]), classes)
        results[name] = out
        print(f"{name}: {json.dumps({k: v['balanced_accuracy'] for k, v in out.items() if isinstance(v, dict)})}",
              file=sys.stderr)
    return results


def model_columns(schema_name: str) -> tuple[str, ...]:
    from core.features.schema import get_schema

    return get_schema(schema_name).columns


def markdown(results: dict) -> str:
    """One line per candidate and test: accuracy and balanced accuracy over the held-out clips."""
    lines = ["| candidate | test | clips/segments | accuracy | balanced accuracy |", "|---|---|---|---|---|"]
    for name, out in results.items():
        for test, s in out.items():
            if isinstance(s, dict) and "accuracy" in s:
                lines.append(f"| {name} | {test} | {s['n']} | {s['accuracy']:.1%} | {s['balanced_accuracy']:.1%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/cpunk-bench"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--extract-only", action="store_true", help="only build the clip feature cache")
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    args = parser.parse_args(argv)
    clips = clip_features(args.data, args.cache, args.workers)
    if args.extract_only:
        return 0
    from core.atomic import write_json
    from core.data.store import read_features

    csv = read_features(args.data / "features" / "features_30_sec.csv")
    results = run_candidates(csv, clips, args.candidates)
    out = RESULTS / "generalisation.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    write_json(out, {**previous, "folds": FOLDS, "seed": SEED, "hop_s": HOP,
                     "candidates": {**previous.get("candidates", {}), **results}})
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
