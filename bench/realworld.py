"""Every shipped model on music it has never seen, next to its GTZAN cross-validation, in one run.

    .venv/bin/python -m bench.realworld [--data ../shared/data] [--models NAME ...]

For each model of the registry: ``core.models.evaluate_audio.evaluate_audio`` on ``realworld/`` (92 modern
studio songs, 7-s previews; labels ``metal``, ``rock``, ``pop``, ``hiphop`` and ``pop|rock``, either
counting) through the same ``classify`` path as the app, and the track-grouped cross-validation stored
in the model's card (which GTZAN tracks it was measured on is said per row). Writes
``bench/results/realworld.json`` and prints the README table.

It also records how the pre-trained ``MSD_musicnn`` tagger itself reads each single-label song
(:func:`tagger_reading`): which of the labels' own tags (metal, rock, pop, Hip-Hop) it scores highest.
That involves no GTZAN training at all, so it shows how far the check's labels (MUSDB18's, per artist)
agree with what a network trained on ~200k real songs hears.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.models.model_card import ModelCard

ROOT = Path(__file__).resolve().parents[1]


def gtzan_cv(card: ModelCard) -> dict:
    """The card's held-out GTZAN numbers: balanced accuracy, lowest genre recall, ECE, tracks."""
    if card.metrics is None:
        return {}
    tracks = card.metrics.tracks
    recalls = [g["recall"] for g in tracks["per_genre"].values() if g["support"]]
    return {"balanced_accuracy": tracks["balanced_accuracy"], "min_recall": min(recalls), "tracks": tracks["n"],
            "ece": card.metrics.ece}


LABEL_TAGS = {"metal": ("metal", "heavy metal"), "rock": ("rock",), "pop": ("pop",), "hiphop": ("Hip-Hop",)}


def tagger_reading(folder: Path, manifest: Path) -> dict:
    """For each single-label song, the label whose MSD tags the tagger scores highest (mean over 3-s patches)."""
    from core.audio import load_audio
    from core.features import musicnn
    from core.models.evaluate_audio import label_sets, read_manifest

    tagger = musicnn.load_tagger("msd_musicnn")
    tags = musicnn.tag_names("msd_musicnn")
    frame = read_manifest(manifest)
    songs = {}
    for file, labels in zip(frame["file"], label_sets(frame["label"])):
        if len(labels) != 1 or not labels <= set(LABEL_TAGS):
            continue
        audio = load_audio(folder / file)
        scores = tagger.predict(musicnn.patches(audio.y, audio.sr), verbose=0).mean(axis=0)
        reading = {g: float(max(scores[tags.index(t)] for t in names)) for g, names in LABEL_TAGS.items()}
        songs[file] = {"label": next(iter(labels)), "tagger": max(reading, key=reading.get), "scores": reading}
    agree = sum(s["label"] == s["tagger"] for s in songs.values())
    return {"songs": songs, "agree": agree, "n": len(songs)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--models", nargs="*", default=None, help="default: every model in the registry")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "realworld.json")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from core.atomic import write_json
    from core.models import registry
    from core.models.evaluate_audio import evaluate_audio

    folder = args.data / "realworld"
    names = args.models or [info.name for info in registry.list_models()]
    default = registry.default_name()
    result = {"benchmark": "real-world check (realworld/, 92 songs) + GTZAN track-grouped CV from each card",
              "command": "python -m bench.realworld", "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "load_average_1min": {"before": round(os.getloadavg()[0], 2)}, "default": default, "models": {}}
    for name in names:
        loaded = registry.load_model(name)
        t0 = time.perf_counter()
        report = evaluate_audio(folder, folder / "MANIFEST.tsv", loaded)
        per_label = report["per_label"]
        result["models"][name] = {
            "gtzan_cv": gtzan_cv(loaded.info.card), "trained_on": list(loaded.info.card.dataset.sources),
            "realworld": {"n": report["n"], "top1": report["top1"], "top3": report["top3"],
                          "single_label": report["single_label"], "pop_rock_top1": per_label.get("pop|rock", {}).get("top1"),
                          "balanced_accuracy": report["balanced_accuracy"], "ece": report["ece"],
                          "per_label": per_label, "failed": len(report["failed"])},
            "seconds": round(time.perf_counter() - t0, 1)}
        print(f"  {name}: {result['models'][name]['realworld']['top1']:.3f} in {result['models'][name]['seconds']} s",
              file=sys.stderr)
    result["tagger_reading"] = tagger_reading(folder, folder / "MANIFEST.tsv")
    print(f"MSD_musicnn tagger's strongest label tag = label on {result['tagger_reading']['agree']} of "
          f"{result['tagger_reading']['n']} single-label songs", file=sys.stderr)
    result["load_average_1min"]["after"] = round(os.getloadavg()[0], 2)
    write_json(args.out, result)
    print(table(result))
    return 0


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def table(result: dict) -> str:
    """The README's model table: real-world check and GTZAN CV per model."""
    lines = ["| model | real world: labelled songs top-1 | pop\\|rock top-1 | all top-1 | top-3 | ECE | "
             "GTZAN CV balanced acc. (tracks) | lowest genre recall |", "|---|---|---|---|---|---|---|---|"]
    for name, m in result["models"].items():
        rw, cv = m["realworld"], m["gtzan_cv"]
        marker = " (**default**)" if name == result["default"] else ""
        lines.append(f"| `{name}`{marker} | {_pct(rw['single_label']['top1'])} | {_pct(rw['pop_rock_top1'])} | "
                     f"{_pct(rw['top1'])} | {_pct(rw['top3'])} | {rw['ece']:.3f} | "
                     f"{_pct(cv.get('balanced_accuracy'))} ({cv.get('tracks', '—')}) | {_pct(cv.get('min_recall'))} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
