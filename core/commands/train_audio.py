"""``python -m core train AUDIO... --architecture ARCH``: train on audio folders (or manifests) and save the
model in the registry: ``musicnn_linear`` (the default model's recipe: frozen pre-trained taggers and a
calibrated linear layer, :mod:`core.models.transfer_train`), or a network of
:mod:`core.models.network_train` (``mel_cnn``, ``vgg_transfer``, ``ensemble``; ``seed_mlp`` with ``--audio``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.commands.train_common import check_new_name, rebuild_command

if TYPE_CHECKING:
    from core.models.model_card import ModelCard

ARCHITECTURES = ("musicnn_linear", "mel_cnn", "vgg_transfer", "ensemble")  # trained on audio, never on tables


def _say(message: str) -> None:
    print(f"  {message}", file=sys.stderr)


def _transfer(args: argparse.Namespace) -> tuple[Any, ModelCard]:
    from core.models.transfer_train import recipe_from_args, train_transfer

    folds = 5 if args.evaluate == "track" else 1
    recipe = recipe_from_args(args.backbones, args.outputs, args.augment, args.c, args.seed, folds,
                              nonmusic_per_kind=args.music_detector)
    return train_transfer(args.features, recipe, cache=Path(args.cache) if args.cache else None, workers=args.workers,
                          evaluate=folds > 1, limit=args.limit_tracks, progress=_say, command=rebuild_command(args))


def _network(args: argparse.Namespace) -> tuple[Any, ModelCard]:
    from core.models.network_train import NetworkRecipe, train_network
    from core.models.train import TrainConfig

    if args.evaluate or args.music_detector or args.check:
        raise ValueError(f"--evaluate, --music-detector and --check are for musicnn_linear, not {args.architecture}.")
    mlp = TrainConfig(architecture="seed_mlp", level=args.level, epochs=args.epochs, batch_size=args.batch_size,
                      validation_fraction=args.validation, balance_classes=not args.no_balance, seed=args.seed,
                      model_config=json.loads(args.model_config))
    recipe = NetworkRecipe(seed=args.seed, mlp=mlp, cnn_epochs=args.cnn_epochs, cnn_crops=args.cnn_crops,
                           head_epochs=args.head_epochs)
    return train_network(args.features, args.architecture, recipe, workers=args.workers,
                         cache=Path(args.cache) if args.cache else None, limit=args.limit_tracks, progress=_say,
                         command=rebuild_command(args))


def run_audio(args: argparse.Namespace) -> int:
    """Train ``--architecture`` on audio folders and save it in the registry."""
    from core.audio import AudioError
    from core.data.dataset import DatasetError
    from core.models import registry
    from core.models.evaluate_audio import ManifestError, evaluate_audio, format_scores

    try:
        if not args.name or args.holdout:
            raise ValueError(f"--architecture {args.architecture} on audio trains into the registry: give --name "
                             "(not --out or --holdout).")
        check_new_name(args)
        model, card = (_transfer if args.architecture == "musicnn_linear" else _network)(args)
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
    patches = f"{card.training.patches} patches" if card.training.patches else f"{card.dataset.rows} feature rows"
    print(f"Saved {info.path} ({card.dataset.tracks} tracks, {patches}, {card.training.seconds:.0f} s)"
          + (" as the default model" if args.default else ""))
    return 0


