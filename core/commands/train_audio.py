"""``python -m core train AUDIO... --architecture ARCH``: train on audio folders (or manifests) and save the
model (registry or --out): ``musicnn_linear`` (the default model's recipe: frozen pre-trained taggers and a
calibrated linear layer, :mod:`core.models.transfer_train`), or a network of
:mod:`core.models.network_train` (``mel_cnn``, ``vgg_transfer``, ``ensemble``; ``seed_mlp`` with ``--audio``).
Ctrl-C stops at the next track, setting or batch and keeps nothing, and --report-jsonl gets each stage's
progress and each network's epochs (what the Train page draws)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.commands.train_common import check_new_name, ctrl_c_sets, jsonl_writer, rebuild_command, save_run

if TYPE_CHECKING:
    from core.models.model_card import ModelCard

ARCHITECTURES = ("musicnn_linear", "mel_cnn", "vgg_transfer", "ensemble")  # trained on audio, never on tables


def _say(message: str) -> None:
    print(f"  {message}", file=sys.stderr)


def _stages(args: argparse.Namespace, stop: threading.Event) -> Any:
    """The run's :class:`core.models.train.Stages`: its reports go to ``--report-jsonl``, ``stop`` ends it."""
    from core.models.train import Stages

    return Stages(jsonl_writer(args.report_jsonl) if args.report_jsonl else None, stop)


def _genres(args: argparse.Namespace) -> tuple[str, ...] | None:
    return tuple(g.strip() for g in args.genres.split(",") if g.strip()) if args.genres else None


def _transfer(args: argparse.Namespace, stop: threading.Event) -> tuple[Any, ModelCard]:
    from core.models.transfer_train import recipe_from_args, train_transfer

    folds = 5 if args.evaluate == "track" else 1
    recipe = recipe_from_args(args.backbones, args.outputs, args.augment, args.c, args.seed, folds,
                              nonmusic_per_kind=args.music_detector)
    return train_transfer(args.features, recipe, cache=Path(args.cache) if args.cache else None, workers=args.workers,
                          evaluate=folds > 1, limit=args.limit_tracks, genres=_genres(args), progress=_say,
                          stages=_stages(args, stop), command=rebuild_command(args), source=args.source)


def _network(args: argparse.Namespace, stop: threading.Event) -> tuple[Any, ModelCard]:
    """--model-config is the builder settings of the network trained (the ensemble: of its seed_mlp)."""
    from core.models.network_train import NetworkRecipe, train_network
    from core.models.train import TrainConfig

    if args.evaluate or args.music_detector or args.check:
        raise ValueError(f"--evaluate, --music-detector and --check are for musicnn_linear, not {args.architecture}.")
    config = json.loads(args.model_config)
    builder = {"mel_cnn": "cnn_config", "vgg_transfer": "head_config"}.get(args.architecture)
    mlp = TrainConfig(architecture="seed_mlp", level=args.level, epochs=args.epochs, batch_size=args.batch_size,
                      validation_fraction=args.validation, balance_classes=not args.no_balance, seed=args.seed,
                      model_config={} if builder else config)
    recipe = NetworkRecipe(seed=args.seed, mlp=mlp, cnn_epochs=args.cnn_epochs, cnn_crops=args.cnn_crops,
                           head_epochs=args.head_epochs, **({builder: config} if builder else {}))
    return train_network(args.features, args.architecture, recipe, workers=args.workers,
                         cache=Path(args.cache) if args.cache else None, limit=args.limit_tracks, genres=_genres(args),
                         progress=_say, stages=_stages(args, stop), command=rebuild_command(args), source=args.source)


def run_audio(args: argparse.Namespace) -> int:
    """Train ``--architecture`` on audio folders and save it (registry or --out)."""
    from core.audio import AudioError
    from core.data.dataset import DatasetError
    from core.models import registry
    from core.models.evaluate_audio import ManifestError, evaluate_audio, format_scores
    from core.models.train import TrainingStopped

    stop = threading.Event()
    try:
        if args.holdout:
            raise ValueError(f"--architecture {args.architecture} on audio does not take --holdout (musicnn_linear "
                             "measures itself with --evaluate track).")
        if args.name:
            check_new_name(args)
        with ctrl_c_sets(stop):
            model, card = (_transfer if args.architecture == "musicnn_linear" else _network)(args, stop)
    except TrainingStopped:
        print("Stopped before the model was made; nothing saved.", file=sys.stderr)
        return 1
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
              f" ({h['sure']:.0%} of them, {h['sure_wrong'] or 0:.1%} of those wrong); as worded (one, two or three "
              f"genres) right {h['right_as_worded']:.1%}, ECE {h['ece_as_worded']:.3f}; novel {h['novel']:.1%}",
              file=sys.stderr)
    if args.check:
        try:
            with tempfile.TemporaryDirectory(prefix="cpunk-check-") as tmp:  # the check reads the model as saved
                loaded = registry.load_model("checked", registry.save_model("checked", model, card, tmp).path.parent)
                report = evaluate_audio(args.check, Path(args.check) / "MANIFEST.tsv", loaded)
        except (ManifestError, OSError) as exc:
            print(f"error: the check could not run: {exc}", file=sys.stderr)
            return 2
        print(format_scores(report), file=sys.stderr)
        card = dataclasses.replace(card, realworld={k: report[k] for k in (
            "folder", "n", "top1", "top3", "single_label", "balanced_accuracy", "per_label", "ece", "sure", "sure_wrong", "novel",
            "music", "created")})
    saved = save_run(args, model, card)
    patches = f"{card.training.patches} patches" if card.training.patches else f"{card.dataset.rows} feature rows"
    print(f"Saved {saved} ({card.dataset.tracks} tracks, {patches}, {card.training.seconds:.0f} s)"
          + (" as the default model" if args.default and not args.out else ""))
    return 0


