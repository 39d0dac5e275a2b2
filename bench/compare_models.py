"""Seed MLP vs spectrogram CNN vs musicnn VGG transfer vs their ensemble, same data, same track folds.

    .venv/bin/python -m bench.compare_models [--dataset ogg flac] [--cache /tmp/cpunk-compare]

Datasets (``../shared/data``): ``ogg`` = the 369 OGG clips (every shared track; unbalanced: 100
classical, 100 rock, 99 jazz, 10 of each other genre), ``flac`` = the 100 lossless FLAC clips (10 per
genre). Each clip is decoded once into a cache (``--cache``): seed-schema feature rows (whole track +
ten 3-s slices), its uint8 log-mel spectrogram and musicnn embeddings of ten 3-s patches.

Protocol ``track``: 5 stratified folds grouped by track (``core.data.training_data.grouped_folds``, seed
42); every model is trained on the same four folds and predicts the held-out fold; a track's verdict
is the mean of its 3-s windows' probabilities. The ensemble averages the three models' track
probabilities. Writes ``bench/results/compare_<dataset>.json`` (per-genre F1, confusion matrices,
training seconds per fold) and prints the README table.

``--save PREFIX`` instead trains every model on all tracks of the dataset, saves them in the model
registry (``PREFIX-seed-mlp``, ``-mel-cnn``, ``-vgg-transfer``, ``-ensemble``; their cards carry
the comparison's out-of-fold metrics) and times ``core.predict.classify`` per 30-s clip with each
(``bench/results/inference.json``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATASETS = {"ogg": "gtzan", "flac": "gtzan_flac"}
VGG_COLUMNS = tuple(f"vgg{i:03d}" for i in range(256))


def _clip(path: str, track_id: str, label: str) -> tuple[pd.DataFrame, dict, np.ndarray, np.ndarray]:
    """One decode of a clip: seed feature rows, spectrogram cache row, musicnn patches and their starts."""
    from core.audio import load_audio
    from core.features import musicnn
    from core.features.extract import compute_signals, extract_signals
    from core.features.schema import SEED
    from core.features.spectrograms import spectrogram_row

    audio = load_audio(path)
    signals = compute_signals(audio.y, audio.sr, SEED.signals)
    extraction = extract_signals(signals, SEED)
    starts_s = extraction.slice_starts / audio.sr
    patches = musicnn.patches_at(musicnn.log_mel(musicnn.to_16k(audio.y, audio.sr)), starts_s)
    return (extraction.table(track_id, path, label), spectrogram_row(track_id, path, label, signals.log_mel),
            patches.astype(np.float16), starts_s)


def build_cache(data: Path, cache: Path, workers: int) -> None:
    """Decode every clip of ``data`` once; write seed.parquet, mel.parquet and vgg.parquet in ``cache``."""
    from core.data.dataset import discover, init_worker
    from core.data.store import write_parquet_atomic
    from core.features.spectrograms import write_spectrograms
    from core.models.transfer import embed

    tracks = discover(data)
    tables, mel_rows, vgg_parts = [], [], []
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=init_worker, initargs=(os.getpid(),)) as pool:
        futures = [pool.submit(_clip, t.path, t.track_id, t.label) for t in tracks]
        patches = []
        for i, (track, future) in enumerate(zip(tracks, futures), 1):
            table, mel_row, track_patches, starts_s = future.result()
            tables.append(table)
            mel_rows.append(mel_row)
            patches.append(track_patches)
            vgg_parts.append(pd.DataFrame({"track_id": track.track_id, "label": track.label,
                                           "patch": np.arange(len(starts_s)), "start_s": starts_s}))
            if i % 50 == 0:
                print(f"  {data.name}: {i}/{len(tracks)} clips decoded, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    embeddings = embed(np.concatenate(patches).astype(np.float32))
    vgg = pd.concat([pd.concat(vgg_parts, ignore_index=True), pd.DataFrame(embeddings, columns=list(VGG_COLUMNS))], axis=1)
    cache.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(pd.concat(tables, ignore_index=True), cache / "seed.parquet")
    write_spectrograms(mel_rows, cache / "mel.parquet")
    write_parquet_atomic(vgg, cache / "vgg.parquet")
    print(f"  {data.name}: cache written in {time.perf_counter() - t0:.0f} s -> {cache}", file=sys.stderr)


SEED_CONFIG = dict(architecture="seed_mlp", level="slice", epochs=120, batch_size=128)  # core.models.train defaults
CNN_CONFIG = dict(epochs=12, crops_per_track=2, batch_size=32)  # what the shared 2-core CPU allows
HEAD_CONFIG = dict(epochs=60, batch_size=64)
MODELS = ("seed_mlp", "cnn", "vgg_transfer")


def load_cache(cache: Path):
    """(seed feature table, spectrograms, musicnn embedding table) of one dataset's cache."""
    from core.features.spectrograms import read_spectrograms

    return pd.read_parquet(cache / "seed.parquet"), read_spectrograms(cache / "mel.parquet"), pd.read_parquet(cache / "vgg.parquet")


def head_rows(vgg: pd.DataFrame, tracks: set[str], classes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(embeddings, labels, track ids) of the patches of ``tracks``."""
    part = vgg[vgg["track_id"].isin(tracks)]
    index = {c: i for i, c in enumerate(classes)}
    return (part[list(VGG_COLUMNS)].to_numpy(np.float32), part["label"].map(index).to_numpy(np.int64),
            part["track_id"].to_numpy(str))


def train_head(x: np.ndarray, y: np.ndarray, n_classes: int, seed: int):
    """The vgg_head fitted on patch embeddings (class-balanced, fixed epochs)."""
    from core.keras_env import seed_everything, tf
    from core.models.builders import build_model
    from core.models.train import class_weights, fit

    seed_everything(seed)
    per_class = class_weights(y)
    weights = np.array([per_class[int(c)] for c in y], dtype=np.float32)
    data = tf.data.Dataset.from_tensor_slices((x, y, weights)).shuffle(len(y), seed=seed).batch(HEAD_CONFIG["batch_size"])
    model = build_model("vgg_head", x, n_classes)
    return model, fit(model, data, HEAD_CONFIG["epochs"], monitor="loss")


def fold_predictions(table: pd.DataFrame, spectrograms, vgg: pd.DataFrame, train_tracks: set[str],
                     test_tracks: list[str], classes: tuple[str, ...], seed: int,
                     models: tuple[str, ...] = MODELS) -> dict[str, tuple[np.ndarray, float]]:
    """Per model: track probabilities of ``test_tracks`` (in that order) and training seconds."""
    from core.data.training_data import track_average, training_rows
    from core.models.builders import predict_proba
    from core.models.cnn import track_probabilities, train_cnn
    from core.models.train import TrainConfig, train

    out = {}
    rows = training_rows(table, "slice", classes)
    fit_rows = rows.subset(np.flatnonzero(np.isin(rows.groups, list(train_tracks))))
    test_rows = rows.subset(np.flatnonzero(np.isin(rows.groups, test_tracks)))
    t0 = time.perf_counter()
    model, _ = train(TrainConfig(**SEED_CONFIG, seed=seed), fit_rows, classes=classes)
    seconds = time.perf_counter() - t0
    tracks, _, probs = track_average(test_rows.groups, test_rows.y, predict_proba(model, test_rows.x))
    out["seed_mlp"] = (pd.DataFrame(probs, index=tracks).loc[test_tracks].to_numpy(), seconds)

    if "cnn" in models:
        position = {t: i for i, t in enumerate(spectrograms.track_ids)}
        t0 = time.perf_counter()
        model, _ = train_cnn(spectrograms.subset(np.array([position[t] for t in sorted(train_tracks)])), classes,
                             seed=seed, **CNN_CONFIG)
        seconds = time.perf_counter() - t0
        test_set = spectrograms.subset(np.array([position[t] for t in test_tracks]))
        out["cnn"] = (track_probabilities(model, test_set), seconds)

    x, y, _ = head_rows(vgg, train_tracks, classes)
    t0 = time.perf_counter()
    model, _ = train_head(x, y, len(classes), seed)
    seconds = time.perf_counter() - t0
    x, y, groups = head_rows(vgg, set(test_tracks), classes)
    tracks, _, probs = track_average(groups, y, predict_proba(model, x))
    out["vgg_transfer"] = (pd.DataFrame(probs, index=tracks).loc[test_tracks].to_numpy(), seconds)
    return out


def compare(name: str, cache: Path, folds: int, seed: int, out: Path, models: tuple[str, ...] = MODELS) -> dict:
    """Out-of-fold track predictions of every model on one dataset; metrics, JSON, printed table."""
    from core.atomic import write_json
    from core.data.training_data import grouped_folds, training_rows
    from core.models.evaluate import metrics

    table, spectrograms, vgg = load_cache(cache)
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
              "configs": {"seed_mlp": SEED_CONFIG, "cnn": CNN_CONFIG, "vgg_transfer": HEAD_CONFIG},
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "load_average_1min": round(os.getloadavg()[0], 2), "results": results,
              "track_probabilities": {"tracks": list(map(str, tracks)), "classes": list(classes),
                                      **{m: np.round(p, 5).tolist() for m, p in probs.items()}}}
    write_json(out / f"compare_{name}.json", report)
    return report


def network_card(model, architecture: str, inputs: list[str], config: dict, history, seed_rows, seed: int,
                 source: str, report: dict | None, dataset: str, prefix: str):
    """The card of a network: :func:`core.models.model_card.model_card` (seed-feature statistics of the same
    tracks for explanations) with its ``inputs``, the settings it was really trained with, the comparison's
    out-of-fold metrics and, in ``notes``, that this bench (not ``core train``) builds it."""
    from dataclasses import replace

    from core.models.model_card import Metrics, Protocol, model_card
    from core.models.train import TrainConfig, TrainHistory

    history = TrainHistory(history.epochs, history.best_epoch, history.monitor, history.stopped,
                           history.early_stopped, history.seconds, seed_rows, None)
    key = {"seed_mlp": "seed_mlp", "mel_cnn": "cnn", "vgg_transfer": "vgg_transfer", "ensemble": "ensemble"}[architecture]
    protocol = Protocol("track", report["protocol"], folds=5) if report else None
    metrics = Metrics(report["results"][key]["tracks"]) if report and key in report["results"] else None
    card = model_card(model, TrainConfig(**SEED_CONFIG, seed=seed), history, sources=(source,), command="",
                      protocol=protocol, metrics=metrics)
    built = f"Built by `python -m bench.compare_models --dataset {dataset} --save {prefix}` on every track"
    if architecture != "seed_mlp":
        return replace(card, inputs=tuple(inputs), training=replace(card.training, config={
            "architecture": architecture, **config, "seed": seed}), notes=f"{built}; `python -m core train` cannot "
            f"train {architecture} from audio yet (issue 23, item 2).")
    return replace(card, notes=f"{built}. `core train` trains the same recipe on a seed feature table of these "
                               "clips (`python -m core extract` first); not checked to give the same weights.")


def save_models(name: str, cache: Path, prefix: str, seed: int, out: Path) -> list[str]:
    """Train every model on all tracks of a dataset and save them (and their ensemble) in the registry."""
    import json

    from core.data.training_data import training_rows
    from core.models import registry
    from core.models.cnn import train_cnn
    from core.models.model_inputs import ensemble_model
    from core.models.train import TrainConfig, TrainHistory, train
    from core.models.transfer import transfer_model

    table, spectrograms, vgg = load_cache(cache)
    report_file = out / f"compare_{name}.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else None
    rows = training_rows(table, "slice")
    source = f"shared GTZAN clips ({name}, {len(spectrograms)} tracks)"
    mlp, mlp_history = train(TrainConfig(**SEED_CONFIG, seed=seed), rows)
    cnn, cnn_history = train_cnn(spectrograms, rows.classes, seed=seed, **CNN_CONFIG)
    x, y, _ = head_rows(vgg, set(rows.groups), rows.classes)
    head, head_history = train_head(x, y, len(rows.classes), seed)
    vgg_model = transfer_model(head)
    total = TrainHistory([], 0, "loss", False, False, mlp_history.seconds + cnn_history.seconds + head_history.seconds)
    members = {"seed_mlp": (mlp, ["features"], SEED_CONFIG, mlp_history),
               "mel_cnn": (cnn, ["log_mel"], CNN_CONFIG, cnn_history),
               "vgg_transfer": (vgg_model, ["musicnn"], HEAD_CONFIG, head_history),
               "ensemble": (ensemble_model([("features", mlp), ("log_mel", cnn), ("musicnn", vgg_model)]),
                            ["features", "log_mel", "musicnn"], {}, total)}
    names = []
    for architecture, (model, inputs, config, history) in members.items():
        model_name = f"{prefix}-{architecture.replace('_', '-')}"
        registry.save_model(model_name, model, network_card(model, architecture, inputs, config, history, rows, seed,
                                                            source, report, name, prefix), overwrite=True)
        names.append(model_name)
        print(f"  saved {model_name} ({history.seconds:.0f} s training)", file=sys.stderr)
    return names


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
    parser.add_argument("--save", metavar="PREFIX", help="instead of comparing: train every model on all tracks of "
                        "the (first) dataset, save PREFIX-seed-mlp, -mel-cnn, -vgg-transfer, -ensemble, time classify")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    for name in args.dataset:
        cache = args.cache / name
        if not (cache / "vgg.parquet").exists():
            build_cache(args.data / DATASETS[name], cache, args.workers)
    if args.cache_only:
        return 0
    if args.save:
        names = save_models(args.dataset[0], args.cache / args.dataset[0], args.save, args.seed, args.out)
        from core.features.schema import GENRES

        clips = [sorted((args.data / "gtzan_flac" / g).glob("*.flac"))[-1] for g in GENRES]
        time_inference(names, clips, args.out)
        return 0
    for name in args.dataset:
        print(table_markdown(compare(name, args.cache / name, args.folds, args.seed, args.out, tuple(args.models))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
