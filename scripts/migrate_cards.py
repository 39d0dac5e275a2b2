"""Migrate model cards (``model.json``) of format 1 to the typed card of format 2, in place.

    .venv/bin/python scripts/migrate_cards.py [MODELS_DIR]   (default: models/)

Format 1 was an untyped dict with three writers; format 2 is :class:`core.models.model_card.ModelCard`.
Per-genre statistics become named (mean, std, q25, median, q75), the dataset names its sources as a
list, metrics keep the held-out track (and row) reports, and every card gets the ``command`` that rebuilds
its model (or, for models no ``core train`` command builds yet, a note saying so). Each card is read
with ``ModelCard.from_json`` and written by the registry; a card already of format 2 is left as it is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.models.model_card import CARD_FORMAT, ModelCard  # noqa: E402
from core.models.registry import META_FILE, update_card  # noqa: E402

STATISTICS = ("mean", "std", "q25", "median", "q75")  # format 1's positional order
BENCH = "python -m bench.compare_models --dataset flac --save clips100"


def _stats(old: dict[str, Any]) -> dict[str, Any]:
    names = old.get("statistics", STATISTICS)
    return {"level": old["level"], "genres": {genre: {column: dict(zip(names, values)) for column, values in cols.items()}
                                              for genre, cols in old["genres"].items()}}


def _metrics(old: dict[str, Any]) -> dict[str, Any] | None:
    if not old:
        return None
    if "tracks" in old:
        return {k: old[k] for k in ("tracks", "rows", "ece", "ece_uncalibrated") if k in old} | (
            {"comparison": old["comparison"]} if "comparison" in old else {})
    per_genre = old["per_genre_tracks"]  # `core train --evaluate` of format 1: a summary and per-genre tracks
    return {"tracks": {"n": int(sum(g["support"] for g in per_genre.values())), "accuracy": old["track_accuracy"],
                       "top3_accuracy": old["track_top3"], "balanced_accuracy": old["track_balanced_accuracy"],
                       "per_genre": per_genre}}


def _protocol(old: dict[str, Any], card: dict[str, Any]) -> dict[str, Any] | None:
    if not old:
        return None
    if "detail" in old:
        return {"name": old["name"], "detail": old["detail"], "folds": 5}
    return {"name": old["name"], "detail": f"{old['name']}: {old['folds']} fold(s) of held-out {old['level']} rows "
                                           f"(seed {card['training']['config']['seed']})",
            "folds": old["folds"], "notes": old.get("notes", [])}


def _command(old: dict[str, Any]) -> tuple[str, str]:
    """(the ``core train`` command that rebuilds the model or "", a note to add)."""
    name, arch, training = old["name"], old["architecture"]["name"], old["training"]
    if "command" in training:
        return training["command"], ""
    if name.startswith("clips100-"):
        built = f"Built by `{BENCH}` on every track"
        if arch == "seed_mlp":
            return "", (f"{built}. `core train` trains the same recipe on a seed feature table of these clips "
                        "(`python -m core extract` first); not checked to give the same weights.")
        return "", f"{built}; `python -m core train` cannot train {arch} from audio yet (issue 23, item 2)."
    config = training["config"]
    sources = old["dataset"]["source"].split(" + ")
    parts = ["python", "-m", "core", "train", *sources, "--name", name, "--level", config["level"]]
    if config["validation_fraction"] != 0.2:
        parts += ["--validation", f"{config['validation_fraction']:g}"]
    if old["protocol"]:
        parts += ["--evaluate", old["protocol"]["name"]]
    return " ".join(parts), ""


def _training(old: dict[str, Any]) -> dict[str, Any]:
    training = old["training"]
    if "recipe" in training:
        return {"config": training["recipe"], "seconds": training["seconds"], "patches": training["patches"],
                "augmented_patches": training["augmented_patches"]}
    config = dict(training["config"])
    if old["name"].startswith("clips100-"):  # format 1 recorded a made-up TrainConfig for these
        config = {"architecture": "seed_mlp", "level": "slice", "epochs": 120, "batch_size": 128,
                  "validation_fraction": 0.2, "monitor": "val_loss", "patience": None, "balance_classes": True,
                  "seed": 42, "model_config": {}} if old["architecture"]["name"] == "seed_mlp" else {
            "architecture": old["architecture"]["name"], **{"mel_cnn": {"epochs": 12, "crops_per_track": 2, "batch_size": 32},
                                                            "vgg_transfer": {"epochs": 60, "batch_size": 64},
                                                            "ensemble": {}}[old["architecture"]["name"]], "seed": 42}
    return {"config": config, "seconds": training["history"]["seconds"], "history": training["history"]}


def migrate(old: dict[str, Any]) -> dict[str, Any]:
    """The format-2 card of a format-1 ``model.json``."""
    dataset = old["dataset"]
    command, note = _command(old)
    new = {
        "format": CARD_FORMAT, "name": old["name"], "created": old["created"], "architecture": old["architecture"],
        "inputs": old.get("inputs", ["features"]), "feature_schema": old["feature_schema"], "level": old["level"],
        "segment_seconds": old["segment_seconds"], "classes": old["classes"], "command": command,
        "training": _training(old),
        "dataset": {"sources": dataset.get("sources") or dataset["source"].split(" + "),
                    "fingerprint": dataset["fingerprint"],
                    "tracks": dataset.get("tracks") or sum(dataset["tracks_per_class"].values()),
                    "tracks_per_class": dataset["tracks_per_class"],
                    "rows": dataset.get("rows"), "rows_per_class": dataset.get("rows_per_class")},
        "calibration": old.get("calibration"), "feature_stats": _stats(old["feature_stats"]),
        "realworld": old.get("realworld"), "reliability": {},
        "notes": " ".join(filter(None, [old.get("notes", ""), note])),
    }
    new["protocol"] = _protocol(old["protocol"], new)
    new["metrics"] = _metrics(old["metrics"])
    return new


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "models"
    for path in sorted(root.glob(f"*/{META_FILE}")):
        old = json.loads(path.read_text(encoding="utf-8"))
        if path.parent.name.startswith("_") or old.get("format") == CARD_FORMAT:
            continue
        update_card(path.parent.name, ModelCard.from_json(migrate(old)), root)
        print(f"migrated {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
