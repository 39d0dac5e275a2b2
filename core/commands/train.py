"""``python -m core train FEATURES... --name NAME``: train a model and save it in the registry."""
# With --architecture musicnn_linear the positional arguments are audio dataset folders instead.

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shlex
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pandas as pd
from tqdm import tqdm

from core import storage

if TYPE_CHECKING:
    from core.models.model_card import ModelCard

NONMUSIC_PER_KIND = 6  # --music-detector: 6 clips of each of the battery's 29 kinds (174 clips; a few CPU minutes, cached)

DESCRIPTION = """\
Train a model on one or more feature tables (a Parquet store or file from `python -m core extract`,
or a published GTZAN CSV) and save it as models/<NAME>/ (model.keras + model.json).

--level slice trains on the 3-s slice rows (a track's verdict is then the mean of its segments);
--level track trains on the whole-track rows. Tables given together must share a feature schema.
About --validation of the tracks (grouped by track) are held out to pick the best epoch; use 0 to
train on every row for the full number of epochs. Ctrl-C stops early and keeps the best epoch.

--holdout PROTOCOL first holds out a fifth of the rows (seed) or tracks (track) as a test set, trains on
the rest, scores the test set and the saved models that can read it, and stores all of it in model.json
(what the Train page runs, as this command in a process of its own). --out FOLDER writes the model folder
there instead of into the registry; --report-jsonl FILE appends one JSON line per finished epoch.

--architecture musicnn_linear trains on audio instead: the arguments are dataset folders (one
sub-folder per genre, or manifests); a track found in several folders is taken from the first, so list
lossless copies first. Every track is cut into 3-s patches, clean and --augment augmented copies
(loudness, compression, EQ, MP3, stereo fold-down, random crops), which frozen pre-trained musicnn
taggers (--backbones) describe; a calibrated logistic regression (--c) is trained on them.
The default recipe reads the 50 tag logits of musicnn's MSD_musicnn (tags learned from real songs).
--evaluate track first measures the recipe with 5 track-grouped folds (and calibrates on them);
--music-detector fits the check that says "this doesn't sound like music" on the tag logits of the
training tracks against a generated battery of non-music (speech, noise, tones, hum, clicks, applause,
room tone, animals, effects; core.data.nonmusic, seeded by --seed) and stores it in model.json.
--check FOLDER scores the final model on a labelled folder (FOLDER/MANIFEST.tsv) and stores the result
in model.json: a check only, never used for training or tuning."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train a model on feature tables and save it",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("features", nargs="+", metavar="FEATURES", help="feature store, .parquet or GTZAN CSV")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--name", help="model name (folder under the models directory)")
    where.add_argument("--out", metavar="FOLDER", help="write the model folder here, outside the registry")
    p.add_argument("--level", choices=("slice", "track"), default="slice", help="rows to train on (default: %(default)s)")
    p.add_argument("--architecture", default="seed_mlp", help="model builder (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=120, help="default: %(default)s")
    p.add_argument("--batch-size", type=int, default=128, help="default: %(default)s")
    p.add_argument("--validation", type=float, default=0.2, metavar="FRACTION",
                   help="share of tracks held out to pick the best epoch (default: %(default)s)")
    p.add_argument("--no-balance", action="store_true", help="do not weight genres by inverse frequency")
    p.add_argument("--seed", type=int, default=42, help="random seed (default: %(default)s)")
    p.add_argument("--segment-seconds", type=float, default=None,
                   help="window length classify uses for segments (default: 3 s)")
    p.add_argument("--evaluate", choices=("track", "seed"), default=None,
                   help="first measure the recipe with this protocol (5 folds for track) and store the "
                        "result in model.json's metrics")
    p.add_argument("--holdout", choices=("seed", "track"), default=None,
                   help="hold out a test set under this protocol, score it and compare the saved models")
    p.add_argument("--genres", default=None, help="comma-separated genres to train on (default: all in the table)")
    p.add_argument("--model-config", default="{}", metavar="JSON",
                   help='builder settings, e.g. \'{"learning_rate": 0.001, "dropout": 0.2}\'')
    p.add_argument("--report-jsonl", metavar="FILE", default=None, help="append each finished epoch as a JSON line")
    p.add_argument("--stop-with-parent", action="store_true",
                   help="exit when the process that started this one ends (for training jobs)")
    p.add_argument("--default", action="store_true", help="make it the default model")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model of that name")
    p.add_argument("--notes", default="", help="free text stored in model.json")
    p.add_argument("--source", default=None, help="what model.json names as the training data (default: the paths)")
    audio = p.add_argument_group("musicnn_linear (audio folders)")
    audio.add_argument("--backbones", nargs="+", default=["msd_musicnn"], help="pre-trained networks (default: %(default)s)")
    audio.add_argument("--outputs", nargs="+", default=["logits"], choices=("embedding", "logits"),
                       help="their outputs the head reads (default: %(default)s)")
    audio.add_argument("--augment", type=int, default=0, metavar="N", help="augmented copies per track (default: %(default)s)")
    audio.add_argument("--c", type=float, nargs="+", default=None, metavar="C",
                       help="inverse L2 strengths of the head; with --evaluate track the one with the lowest "
                            "balanced log-loss on held-out tracks is kept (default: 0.03 0.1 0.3 1 3 10 30)")
    audio.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes decoding audio (default: all cores)")
    audio.add_argument("--cache", default=None, metavar="DIR", help="keep patch features here to skip them next time")
    audio.add_argument("--limit-tracks", type=int, default=None, metavar="N",
                       help="only the first N tracks of each genre (quick trials)")
    audio.add_argument("--music-detector", type=int, nargs="?", const=NONMUSIC_PER_KIND, default=0, metavar="N",
                       help="also fit the detector that says \"this doesn't sound like music\" (tag logits only): "
                            f"the training tracks against N generated non-music clips of each kind (default N: "
                            f"{NONMUSIC_PER_KIND}); speech needs espeak-ng")
    audio.add_argument("--check", default=None, metavar="FOLDER",
                       help="score the model on a labelled folder (FOLDER/MANIFEST.tsv) and store it in model.json")
    p.set_defaults(func=run)


def load_tables(paths: list[str]) -> pd.DataFrame:
    """Read and concatenate feature tables; they must share one schema."""
    from core.data.store import FeatureTableError, feature_schema_of, read_features

    tables = [read_features(p) for p in paths]
    schemas = {feature_schema_of(t).id for t in tables}
    if len(schemas) > 1:
        raise FeatureTableError(f"The tables use different feature schemas: {', '.join(sorted(schemas))}.")
    return pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]


@contextlib.contextmanager
def ctrl_c_sets(event: threading.Event) -> Iterator[None]:
    """While inside, Ctrl-C sets ``event`` (training then stops cleanly) instead of raising."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda *_: event.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def exit_with_parent(interval_s: float = 1.0) -> None:
    """From now on, exit (status 3) once the process that started this one is gone: nobody is left to read
    the result. A daemon thread checks every ``interval_s`` seconds."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        os._exit(3)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


# Options that say where a run writes or how a job talks to it, not what it trains.
_PLUMBING = {"--out": True, "--report-jsonl": True, "--stop-with-parent": False, "--workers": True}


def rebuild_command(args: argparse.Namespace) -> str:
    """The ``python -m core train ...`` that rebuilds this run's model: the command line as given (the
    job plumbing of :data:`_PLUMBING` left out). Relative paths are relative to the repository root."""
    given = args.argv[1:]
    kept, skip = [], False
    for part in given:
        flag = part.split("=", 1)[0]
        if skip:
            skip = False
        elif flag in _PLUMBING:
            skip = _PLUMBING[flag] and "=" not in part
        else:
            kept.append(part)
    return shlex.join(["python", "-m", "core", "train", *kept])


def _jsonl_writer(path: str) -> Callable[[Any], None]:
    def write(report: Any) -> None:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(dataclasses.asdict(report)) + "\n")
    return write


def run_transfer(args: argparse.Namespace) -> int:
    """``--architecture musicnn_linear``: train on audio folders through frozen pre-trained taggers."""
    from core.audio import AudioError
    from core.data.dataset import DatasetError
    from core.models import registry
    from core.models.evaluate_audio import ManifestError, evaluate_audio, format_scores
    from core.models.transfer_train import recipe_from_args, train_transfer

    folds = 5 if args.evaluate == "track" else 1
    try:
        if not args.name or args.holdout:
            raise ValueError("--architecture musicnn_linear trains into the registry: give --name (not --out or --holdout).")
        registry.check_name(args.name)
        if not args.overwrite and (registry.models_dir() / args.name).exists():
            raise registry.RegistryError(f"A model named {args.name!r} already exists; use --overwrite.")
        recipe = recipe_from_args(args.backbones, args.outputs, args.augment, args.c, args.seed, folds,
                                  nonmusic_per_kind=args.music_detector)
        model, card = train_transfer(args.features, recipe, cache=Path(args.cache) if args.cache else None,
                                     workers=args.workers, evaluate=folds > 1, limit=args.limit_tracks,
                                     progress=lambda msg: print(f"  {msg}", file=sys.stderr),
                                     command=rebuild_command(args))
    except (DatasetError, AudioError, registry.RegistryError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    card = dataclasses.replace(card, notes=args.notes)
    if card.metrics:
        m = card.metrics
        print(f"  held-out folds: track accuracy {m.tracks['accuracy']:.3f}, balanced "
              f"{m.tracks['balanced_accuracy']:.3f}, ECE {m.ece:.3f}", file=sys.stderr)
    held = card.reliability.get("calibration", {}).get("held_out", {})
    for kind, h in held.items():
        print(f"  calibrated on held-out {kind}: ECE {h['ece']:.3f}, sure from {card.reliability['calibration']['sure']:.0%}"
              f" ({h['sure']:.0%} of them, {h['sure_wrong'] or 0:.1%} of those wrong), novel {h['novel']:.1%}",
              file=sys.stderr)
    info = registry.save_model(args.name, model, card, overwrite=args.overwrite)
    if args.check:
        try:
            loaded = registry.load_model(args.name)
            report = evaluate_audio(args.check, Path(args.check) / "MANIFEST.tsv", loaded)
        except (ManifestError, OSError) as exc:
            print(f"error: the check could not run: {exc}", file=sys.stderr)
            return 2
        print(format_scores(report), file=sys.stderr)
        card = dataclasses.replace(card, realworld={k: report[k] for k in (
            "folder", "n", "top1", "top3", "single_label", "balanced_accuracy", "per_label", "ece", "sure", "sure_wrong", "novel",
            "music", "created")})
        info = registry.save_model(args.name, model, card, overwrite=True)
    if args.default:
        registry.set_default(args.name)
    print(f"Saved {info.path} ({card.dataset.tracks} tracks, {card.training.patches} patches, "
          f"{card.training.seconds:.0f} s)" + (" as the default model" if args.default else ""))
    return 0


def run(args: argparse.Namespace) -> int:
    from core.data.store import FeatureTableError
    from core.features.extract import SLICE_SECONDS
    from core.models import registry
    from core.models.model_card import Metrics, Protocol, model_card
    from core.models.train import TrainConfig, train

    if args.architecture == "musicnn_linear":
        return run_transfer(args)
    if args.stop_with_parent:
        exit_with_parent()
    stop = threading.Event()
    with ctrl_c_sets(stop):
        try:
            if args.name:
                registry.check_name(args.name)
                if not args.overwrite and (registry.models_dir() / args.name).exists():
                    raise registry.RegistryError(f"A model named {args.name!r} already exists; use --overwrite.")
            model_config = json.loads(args.model_config)
            if not isinstance(model_config, dict):
                raise ValueError("--model-config must be a JSON object.")
            table = load_tables(args.features)
            classes = tuple(g.strip() for g in args.genres.split(",") if g.strip()) if args.genres else None
            if classes is not None:
                table = table[table["label"].isin(classes)]
        except (FeatureTableError, registry.RegistryError, OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        config = TrainConfig(architecture=args.architecture, level=args.level, epochs=args.epochs,
                             batch_size=args.batch_size, validation_fraction=args.validation,
                             balance_classes=not args.no_balance, seed=args.seed, model_config=model_config)
        source = args.source or " + ".join(args.features)
        protocol: Protocol | None = None
        metrics: Metrics | None = None
        if args.evaluate:
            from core.models.evaluate import evaluate

            print(f"Evaluating the recipe ({args.evaluate} protocol) ...", file=sys.stderr)
            report = evaluate(args.evaluate, config, table, source=source,
                              progress=lambda msg: print(f"  {msg}", file=sys.stderr))
            protocol = Protocol(report.protocol, f"{report.protocol}: {len(report.folds) or 1} fold(s) of held-out "
                                f"{report.level} rows (seed {config.seed})", folds=len(report.folds) or None,
                                notes=tuple(report.notes))
            metrics = Metrics(report.tracks, rows=report.rows)
            print("  " + ", ".join(f"{k} {v:.3f}" for k, v in report.summary().items()), file=sys.stderr)
        with tqdm(total=args.epochs, unit="epoch", file=sys.stderr) as bar:
            def show(report) -> None:
                bar.update(1)
                val = "" if report.val_accuracy is None else f" val_acc {report.val_accuracy:.3f}"
                bar.set_postfix_str(f"loss {report.loss:.3f} acc {report.accuracy:.3f}{val}")
            listeners: list[Callable[[Any], None]] = [show]
            if args.report_jsonl:
                listeners.append(_jsonl_writer(args.report_jsonl))
            try:
                if args.holdout:
                    from core.models.evaluate import train_holdout

                    result = train_holdout(config, table, args.holdout, classes=classes, callbacks=listeners,
                                           stop=stop, source=source)
                    model, history = result.model, result.history
                    protocol, metrics = result.protocol_card(), result.metrics_card()
                else:
                    model, history = train(config, table, callbacks=listeners, stop=stop, classes=classes)
            except (FeatureTableError, ValueError, KeyError) as exc:
                bar.close()
                print(f"error: {str(exc).strip(chr(39))}", file=sys.stderr)
                return 2
    if history.best_epoch == 0:
        print("Stopped before the first epoch ended; nothing saved.", file=sys.stderr)
        return 1
    if history.stopped:
        print(f"Stopped after {len(history.epochs)} epochs; keeping the best one.", file=sys.stderr)
    card = model_card(model, config, history, sources=(args.source,) if args.source else tuple(args.features),
                      command=rebuild_command(args), protocol=protocol, metrics=metrics, notes=args.notes,
                      segment_seconds=args.segment_seconds or SLICE_SECONDS)
    if args.out:
        saved = _save_folder(args.out, model, card)
    else:
        saved = registry.save_model(args.name, model, card, overwrite=args.overwrite).path
        if args.default:
            registry.set_default(args.name)
    best = history.epochs[history.best_epoch - 1] if history.best_epoch else None
    summary = f" best epoch {history.best_epoch}" + (
        f" (val_acc {best.val_accuracy:.3f})" if best and best.val_accuracy is not None else "")
    print(f"Saved {saved} ({len(history.rows or ())} {config.level} rows, {history.seconds:.1f} s;{summary})"
          + (" as the default model" if args.default and not args.out else ""))
    return 0


def _save_folder(out: str, model: Any, card: ModelCard) -> storage.Location:
    """Write the model folder ``out`` outside the registry: on disk as the registry writes its folders (atomic),
    to a URL written in a temporary folder first and then uploaded file by file."""
    from core.models import registry

    where = storage.location(out)
    if isinstance(where, Path):
        return registry.save_model(where.name, model, card, where.parent, overwrite=True).path
    with tempfile.TemporaryDirectory(prefix="cpunk-model-") as tmp:
        storage.put_folder(registry.save_model(storage.name(where), model, card, tmp).path, where)
    return where
