"""Seed MLP vs spectrogram CNN vs musicnn VGG transfer vs their ensemble, same data, same track folds.

    .venv/bin/python -m bench.compare_models [--dataset ogg flac] [--cache /tmp/cpunk-compare]

Datasets (``../shared/data``): ``ogg`` = the 369 OGG clips (every shared track; unbalanced: 100
classical, 100 rock, 99 jazz, 10 of each other genre), ``flac`` = the 100 lossless FLAC clips (10 per
genre). Each clip is decoded once into a cache (``--cache``; :func:`core.models.network_train.clip_tables`,
the same as ``python -m core train``): seed-schema feature rows (whole track + ten 3-s slices), its uint8
log-mel spectrogram and musicnn embeddings of ten 3-s patches. Every model is trained with the settings of
:class:`core.models.network_train.NetworkRecipe` (``core train``'s defaults).

Protocol ``track``: 5 stratified folds grouped by track (``core.data.training_data.grouped_folds``, seed
42); every model is trained on the same four folds and predicts the held-out fold; a track's verdict
is the mean of its 3-s windows' probabilities. The ensemble averages the three models' track
probabilities. Writes ``bench/results/compare_<dataset>.json`` (per-genre F1, confusion matrices,
training seconds per fold) and prints the README table.

``--time MODEL...`` instead times ``core.predict.classify`` per 30-s clip with registry models
(``bench/results/inference.json``). The bench never writes into ``models/``: the shipped ``clips100-*``
models are trained by the ``python -m core train ...`` command in their cards.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATASETS = {"ogg": "gtzan", "flac": "gtzan_flac"}
MODELS = ("seed_mlp", "cnn", "vgg_transfer")


def load_cache(data: Path, cache: Path, workers: int):
    """(seed feature table, spectrograms, musicnn embedding table) of one dataset, decoded once into ``cache``."""
    from core.models.network_train import clip_tables
    from core.models.transfer_data import collect_tracks

    clips = clip_tables(collect_tracks([data]), workers=workers, cache=cache,
                        progress=lambda msg: print(f"  {data.name}: {msg}", file=sys.stderr))
    return clips.seed, clips.spectrograms, clips.vgg


def fold_predictions(table: pd.DataFrame, spectrograms, vgg: pd.DataFrame, train_tracks: set[str],
                     test_tracks: list[str], classes: tuple[str, ...], seed: int,
                     models: tuple[str, ...] = MODELS) -> dict[str, tuple[np.ndarray, float]]:
    """Per model: track probabilities of ``test_tracks`` (in that order) and training seconds."""
    from core.data.training_data import track_average, training_rows
    from core.models.builders import predict_proba
    from core.models.cnn import track_probabilities, train_cnn
    from core.models.network_train import NetworkRecipe, head_rows, train_head
    from core.models.train import train

    recipe = NetworkRecipe(seed=seed)
    out = {}
    rows = training_rows(table, "slice", classes)
    fit_rows = rows.subset(np.flatnonzero(np.isin(rows.groups, list(train_tracks))))
    test_rows = rows.subset(np.flatnonzero(np.isin(rows.groups, test_tracks)))
    t0 = time.perf_counter()
    model, _ = train(replace(recipe.mlp, seed=seed), fit_rows, classes=classes)
    seconds = time.perf_counter() - t0
    tracks, _, probs = track_average(test_rows.groups, test_rows.y, predict_proba(model, test_rows.x))
    out["seed_mlp"] = (pd.DataFrame(probs, index=tracks).loc[test_tracks].to_numpy(), seconds)

    if "cnn" in models:
        position = {t: i for i, t in enumerate(spectrograms.track_ids)}
        t0 = time.perf_counter()
        model, _ = train_cnn(spectrograms.subset(np.array([position[t] for t in sorted(train_tracks)])), classes,
                             seed=seed, epochs=recipe.cnn_epochs, crops_per_track=recipe.cnn_crops,
                             batch_size=recipe.cnn_batch_size)
        seconds = time.perf_counter() - t0
        test_set = spectrograms.subset(np.array([position[t] for t in test_tracks]))
        out["cnn"] = (track_probabilities(model, test_set), seconds)

    x, y, _ = head_rows(vgg, train_tracks, classes)
    t0 = time.perf_counter()
    model, _ = train_head(x, y, len(classes), recipe)
    seconds = time.perf_counter() - t0
    x, y, groups = head_rows(vgg, set(test_tracks), classes)
    tracks, _, probs = track_average(groups, y, predict_proba(model, x))
    out["vgg_transfer"] = (pd.DataFrame(probs, index=tracks).loc[test_tracks].to_numpy(), seconds)
    return out


def compare(name: str, data: Path, cache: Path, workers: int, folds: int, seed: int, out: Path,
            models: tuple[str, ...] = MODELS) -> dict:
    """Out-of-fold track predictions of every model on one dataset; metrics, JSON, printed table."""
    from core.atomic import write_json
    from core.data.training_data import grouped_folds, training_rows
    from core.models.evaluate import metrics
    from core.models.network_train import NetworkRecipe

    table, spectrograms, vgg = load_cache(data, cache, workers)
    recipe = NetworkRecipe(seed=seed)
    track_rows = training_rows(table, "track")
    classes, tracks, y = track_rows.classes, track_rows.groups, track_rows.y
    probs = {m: np.zeros((len(tracks), len(classes))) for m in models}
    seconds: dict[str, list[float]] = {m: [] for m in models}
    for k, (train_index, test_index) in enumerate(grouped_folds(track_rows, folds, seed), 1):
        found = fold_predictions(table, spectrograms, vgg, set(tracks[train_index]), list(tracks[test_index]),
                                 classes, seed, models)
        for m, (p, s) in found.items():
            probs[m][test_index] = p
            seconds[m].append(s)
        print(f"  {name} fold {k}/{folds}: " + ", ".join(
            f"{m} {(probs[m][test_index].argmax(1) == y[test_index]).mean():.2f} ({s:.0f} s)"
            for m, (_, s) in found.items()), file=sys.stderr)
    probs["ensemble"] = np.mean([probs[m] for m in models], axis=0)
    results = {m: {"tracks": metrics(y, p, classes), "train_seconds_per_fold": seconds.get(m)}
               for m, p in probs.items()}
    for pair in [p for p in (("seed_mlp", "vgg_transfer"), ("cnn", "vgg_transfer")) if set(p) <= set(models)] * (len(models) > 2):
        p = np.mean([probs[m] for m in pair], axis=0)
        results["+".join(pair)] = {"tracks": metrics(y, p, classes), "train_seconds_per_fold": None}
    report = {"dataset": name, "tracks": int(len(tracks)), "tracks_per_genre": {c: int((y == i).sum()) for i, c in enumerate(classes)},
              "protocol": f"track: {folds} stratified folds grouped by track (seed {seed}); every model on the same folds",
              "models": list(models), "ensemble": "mean of the track probabilities of " + ", ".join(models),
              "configs": {"seed_mlp": recipe.mlp.to_dict(),
                          "cnn": {"epochs": recipe.cnn_epochs, "crops_per_track": recipe.cnn_crops,
                                  "batch_size": recipe.cnn_batch_size},
                          "vgg_transfer": {"epochs": recipe.head_epochs, "batch_size": recipe.head_batch_size}},
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "load_average_1min": round(os.getloadavg()[0], 2), "results": results,
              "track_probabilities": {"tracks": list(map(str, tracks)), "classes": list(classes),
                                      **{m: np.round(p, 5).tolist() for m, p in probs.items()}}}
    write_json(out / f"compare_{name}.json", report)
    return report


def time_inference(names: list[str], clips: list[Path], out: Path) -> dict:
    """Median and max seconds of :func:`core.predict.classify` per 30-s clip for each model (after a warm-up)."""
    import statistics

    from core.atomic import write_json
    from core.models import registry
    from core.predict import classify

    result = {"benchmark": "core.predict.classify per 30-s clip (decode, features, model inputs, network; "
                           "segments every 1.5 s)", "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "clips": [c.name for c in clips], "load_average_1min": round(os.getloadavg()[0], 2), "models": {}}
    for model_name in names:
        t0 = time.perf_counter()
        loaded = registry.load_model(model_name)
        load_s = time.perf_counter() - t0
        classify(clips[0], loaded)  # warm-up
        seconds = [classify(c, loaded).seconds for c in clips]
        result["models"][model_name] = {"load_s": round(load_s, 3), "median_s": round(statistics.median(seconds), 3),
                                        "max_s": round(max(seconds), 3)}
        print(f"  {model_name}: {result['models'][model_name]}", file=sys.stderr)
    write_json(out / "inference.json", result)
    return result


def table_markdown(report: dict) -> str:
    """The README rows of one dataset's report."""
    lines = [f"| model ({report['dataset']}, {report['tracks']} tracks) | track acc. | balanced acc. | macro F1 | "
             "train s/fold |", "|---|---|---|---|---|"]
    for m, r in report["results"].items():
        t = r["tracks"]
        f1 = np.mean([g["f1"] for g in t["per_genre"].values() if g["support"]])
        train_s = f"{np.mean(r['train_seconds_per_fold']):.0f}" if r["train_seconds_per_fold"] else "—"
        lines.append(f"| {m} | {t['accuracy']:.1%} | {t['balanced_accuracy']:.1%} | {f1:.2f} | {train_s} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/cpunk-compare"))
    parser.add_argument("--dataset", nargs="+", choices=sorted(DATASETS), default=["ogg", "flac"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--cache-only", action="store_true", help="build the caches and stop")
    parser.add_argument("--time", nargs="+", metavar="MODEL", help="instead of comparing: time classify per 30-s "
                        "clip (one FLAC clip of each genre) with these registry models")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.time:
        from core.features.schema import GENRES

        clips = [sorted((args.data / "gtzan_flac" / g).glob("*.flac"))[-1] for g in GENRES]
        time_inference(args.time, clips, args.out)
        return 0
    for name in args.dataset:
        if args.cache_only:
            load_cache(args.data / DATASETS[name], args.cache, args.workers)
        else:
            print(table_markdown(compare(name, args.data / DATASETS[name], args.cache, args.workers, args.folds,
                                         args.seed, args.out, tuple(args.models))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
