"""How honest each shipped model is: calibrated confidence, sure-but-wrong verdicts, "unlike the genres it knows"
and "this doesn't sound like music", on GTZAN (from each card, cross-fitted) and on the checks.

    .venv/bin/python -m bench.honesty [--data ../shared/data] [--models NAME ...] [--cache /tmp/cpunk-patches]

Per model of the registry:

- GTZAN CV (from the card, each fold's calibration fitted without it): the ECE of the confidence shown on the
  held-out clean tracks (for models without a calibration: the card's track-grouped ECE, if any), the share
  of held-out tracks flagged novel, and the music detector's false alarms on held-out GTZAN tracks;
- real world (``realworld/``, 92 songs, a ``pop|rock`` label counts either): ``evaluate_audio`` through the same
  ``classify`` as the app: top-1, top-3, ECE, the share shown as sure and how many of those are wrong, the
  share flagged novel, the share judged not music (false alarms);
- not music: the files of ``nonmusic/`` and a generated battery (``core.data.nonmusic``) judged not music.

For tag-reading models with a training-song index it also measures novelty by leaving one genre out: the
index and threshold are built from the other nine genres (the threshold the ``quantile`` of their held-out
distances, as in training), and the left-out genre's tracks (whole and as 2-window crops) are scored against
them. It needs the GTZAN patch cache (``--cache``). "—" marks what a model cannot say. Writes
``bench/results/honesty.json`` and prints the README table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from core.models.model_card import ModelCard

ROOT = Path(__file__).resolve().parents[1]
BATTERY_PER_KIND = 2


def card_numbers(card: ModelCard) -> dict[str, Any]:
    """The card's cross-fitted GTZAN numbers: ECE, sure-but-wrong and novelty of held-out clean tracks, and the
    music detector's false alarms (None where the model has none)."""
    reliability = card.reliability
    held = ((reliability.get("calibration") or {}).get("held_out") or {})
    clean, every = held.get("clean tracks") or {}, held.get("all") or {}
    music = (reliability.get("music") or {}).get("rates") or {}
    return {"calibrated": "calibration" in reliability,
            "ece": clean.get("ece", card.metrics.ece if card.metrics else None),
            "ece_as_worded": clean.get("ece_as_worded"), "right_as_worded": clean.get("right_as_worded"),
            "ece_all_versions": every.get("ece"), "sure_wrong": clean.get("sure_wrong"),
            "sure_wrong_all_versions": every.get("sure_wrong"), "novel": clean.get("novel"),
            "sure_threshold": (reliability.get("calibration") or {}).get("sure"),
            "pair_threshold": (reliability.get("calibration") or {}).get("pair"),
            "music_false_alarm": music.get("music_tracks_flagged")}


def not_music_share(paths: list[Path], model: Any) -> float | None:
    """Share of ``paths`` the model judges not music (None: it cannot tell, or no file could be read)."""
    from core.predict import classify

    said = []
    for path in paths:
        try:
            said.append(classify(path, model).is_music)
        except Exception:  # a file the loader refuses is not counted either way
            continue
    if not said or any(s is None for s in said):
        return None
    return float(np.mean([s is False for s in said]))


def battery_files(folder: Path) -> list[Path]:
    """The generated non-music battery (``core.data.nonmusic.battery``, another seed than training's) written
    as WAV files into ``folder``."""
    import soundfile as sf

    from core.data import nonmusic

    files = []
    for clip in nonmusic.battery(seed=0, per_kind=BATTERY_PER_KIND):
        path = folder / f"{clip.name}.wav"
        sf.write(path, clip.y, clip.sr)
        files.append(path)
    return files


def leave_one_genre_out(card: ModelCard, cache: Path, quantile: float) -> dict[str, Any]:
    """Per GTZAN genre: the share of its tracks (whole, and 2-window crops) flagged novel by an index and a
    threshold built from the other nine genres; also those nine genres' own held-out share (cross-fitted)."""
    from sklearn.model_selection import StratifiedGroupKFold

    from core.data.training_data import track_average
    from core.models.calibration import CROP_WINDOWS
    from core.models.neighbours import NeighbourIndex, novelty_threshold
    from core.models.transfer_data import CachedTables, EmbeddingSpec, collect_tracks

    config = card.architecture.config
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in config["spec"].items()}
    spec = EmbeddingSpec(**fields)
    table = CachedTables(cache, spec, collect_tracks(list(card.dataset.sources))).load_or_build().table
    clean = table[table["variant"] == 0]
    x, groups = clean[spec.columns()].to_numpy(np.float64), clean["track_id"].astype(str).to_numpy()
    ids, labels, vectors = track_average(groups, clean["label"].astype(str).to_numpy(), x)
    rng = np.random.default_rng(spec.seed)
    crop = {t: x[groups == t][s:s + CROP_WINDOWS] for t in ids
            for s in [int(rng.integers(0, max((groups == t).sum() - CROP_WINDOWS, 0) + 1))]}
    out: dict[str, Any] = {"quantile": quantile, "genres": {}}
    for genre in sorted(set(labels)):
        known = labels != genre
        kid, klabels, kvec = ids[known], labels[known], vectors[known]
        held, held_crops = [], []
        for train, test in StratifiedGroupKFold(int(config.get("folds", 5)), shuffle=True,
                                                random_state=spec.seed).split(kid, klabels, kid):
            index = NeighbourIndex.build(kvec[train], kid[train], klabels[train])
            held += [index.distance(kvec[i]) for i in test]
            held_crops += [index.distance(crop[kid[i]]) for i in test]
        threshold = novelty_threshold(np.r_[held, held_crops], quantile)
        index = NeighbourIndex.build(kvec, kid, klabels)
        unknown = ids[~known]
        out["genres"][genre] = {
            "tracks": int(len(unknown)),
            "flagged": float(np.mean([index.distance(vectors[ids == t][0]) > threshold for t in unknown])),
            "flagged_crops": float(np.mean([index.distance(crop[t]) > threshold for t in unknown])),
            "known_flagged": float(np.mean(np.r_[held, held_crops] > threshold))}
    flagged = [g["flagged"] for g in out["genres"].values()]
    out["mean_flagged"] = float(np.mean(flagged))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--models", nargs="*", default=None, help="default: every model in the registry")
    parser.add_argument("--cache", type=Path, default=None, help="GTZAN patch cache (leave-one-genre-out novelty)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "honesty.json")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from core.atomic import write_json
    from core.models import registry
    from core.models.evaluate_audio import evaluate_audio
    from core.models.neighbours import NeighbourIndex

    realworld, nonmusic = args.data / "realworld", args.data / "nonmusic"
    names = args.models or [info.name for info in registry.list_models()]
    result: dict[str, Any] = {
        "benchmark": "honesty: calibrated confidence, sure-but-wrong, novelty and non-music detection per model",
        "command": "python -m bench.honesty" + (f" --cache {args.cache}" if args.cache else ""),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "default": registry.default_name(),
        "models": {}}
    with tempfile.TemporaryDirectory() as scratch:
        battery = battery_files(Path(scratch))
        nonmusic_files = [nonmusic / f for f in pd.read_csv(nonmusic / "MANIFEST.tsv", sep="\t")["file"]]
        for name in names:
            loaded = registry.load_model(name)
            t0 = time.perf_counter()
            report = evaluate_audio(realworld, realworld / "MANIFEST.tsv", loaded)
            music = [s.get("music") for s in report["songs"]]
            entry: dict[str, Any] = {
                "gtzan_cv": card_numbers(loaded.info.card),
                "realworld": {k: report.get(k) for k in ("n", "top1", "top3", "ece", "mean_confidence", "sure",
                                                          "sure_wrong", "novel", "ece_as_worded", "right_as_worded",
                                                          "genres_named")}
                | {"music_false_alarm": None if any(m is None for m in music) else float(np.mean([m is False for m in music]))},
                "nonmusic_files": {"n": len(nonmusic_files), "flagged": not_music_share(nonmusic_files, loaded)},
                "battery": {"n": len(battery), "flagged": not_music_share(battery, loaded) if battery else None}}
            novelty = loaded.info.card.reliability.get("novelty")
            if novelty and args.cache:
                entry["leave_one_genre_out"] = leave_one_genre_out(loaded.info.card, args.cache,
                                                                   NeighbourIndex.from_dict(novelty).quantile)
            entry["seconds"] = round(time.perf_counter() - t0, 1)
            result["models"][name] = entry
            print(f"  {name}: {entry['seconds']} s", file=sys.stderr)
    write_json(args.out, result)
    print(table(result))
    return 0


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def table(result: dict[str, Any]) -> str:
    """The README's honesty table, one row per model, then the leave-one-genre-out novelty rows."""
    lines = ["| model | ECE GTZAN CV: top genre / as worded | ECE real world: top genre / as worded | "
             "real world: verdicts right as worded (naming 1 / 2 / 3 genres) | sure-but-wrong (real world) | "
             "real world top-1 / top-3 | novel: GTZAN CV / real world | not music: nonmusic/ files, generated battery | "
             "false alarms: GTZAN CV / real world |", "|---|---|---|---|---|---|---|---|---|"]
    for name, m in result["models"].items():
        cv, rw = m["gtzan_cv"], m["realworld"]
        marker = " (**default**)" if name == result["default"] else ""
        calibrated = "" if cv["calibrated"] else " (not calibrated)"
        sure = "—" if rw["sure"] is None else f"{_pct(rw['sure_wrong'])} of {_pct(rw['sure'])} shown sure"
        named = rw.get("genres_named")
        worded = "—" if named is None else f"{_pct(rw['right_as_worded'])} ({named['1']} / {named['2']} / {named['3']})"
        lines.append(f"| `{name}`{marker} | {_num(cv['ece'])} / {_num(cv.get('ece_as_worded'))}{calibrated} | "
                     f"{_num(rw['ece'])} / {_num(rw.get('ece_as_worded'))} | {worded} | {sure} | "
                     f"{_pct(rw['top1'])} / {_pct(rw['top3'])} | {_pct(cv['novel'])} / {_pct(rw['novel'])} | "
                     f"{_pct(m['nonmusic_files']['flagged'])}, {_pct(m['battery']['flagged'])} | "
                     f"{_pct(cv['music_false_alarm'])} / {_pct(rw['music_false_alarm'])} |")
    for name, m in result["models"].items():
        logo = m.get("leave_one_genre_out")
        if logo:
            per = ", ".join(f"{g} {_pct(v['flagged'])}" for g, v in logo["genres"].items())
            lines.append(f"\n`{name}`, a genre it was not trained on flagged novel (whole tracks; mean "
                         f"{_pct(logo['mean_flagged'])}): {per}.")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
