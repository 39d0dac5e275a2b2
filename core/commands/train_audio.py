"""``python -m core train AUDIO... --architecture musicnn_linear``: train on audio folders (or manifests)
through frozen pre-trained taggers and save the model in the registry."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from core.commands.train_common import check_new_name, rebuild_command

ARCHITECTURES = ("musicnn_linear",)  # architectures trained on audio rather than on feature tables


def run_audio(args: argparse.Namespace) -> int:
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
        check_new_name(args)
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
    print(f"Saved {info.path} ({card.dataset.tracks} tracks, {card.training.patches} patches, "
          f"{card.training.seconds:.0f} s)" + (" as the default model" if args.default else ""))
    return 0


