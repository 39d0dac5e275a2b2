"""What each augmentation buys: the default recipe trained with one augmented copy of every track per kind.

    .venv/bin/python -m bench.augmentation [--data ../shared/data] [--cache /tmp/cpunk-patches]

For ``none`` (clean audio only), each kind of :mod:`core.data.augment` alone, and the whole modern chain:
the default model's recipe (``core.models.transfer_train``, musicnn MSD tag logits, calibrated logistic
regression at the default model's C) on all 369 shared GTZAN tracks (FLAC where there is one), its
track-grouped 5-fold cross-validation, and the real-world check (``realworld/``, through
``core.predict.classify``). The clean patches are computed once and cached; each kind adds four
augmented patches per track (from a random offset). Writes ``bench/results/augmentation.json`` and prints
the README table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("none", "loudness", "compression", "eq", "codec", "downmix", "noise", "room", "chain")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/cpunk-patches"))
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "augmentation.json")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from core.atomic import write_json
    from core.data.augment import MODERN_CHAIN
    from core.features.schema import SEED
    from core.models import registry
    from core.models.evaluate_audio import evaluate_audio
    from core.models.registry import LoadedModel, ModelInfo
    from core.models.transfer_data import EmbeddingSpec
    from core.models.transfer_train import TransferRecipe, train_transfer

    default = registry.model_info(registry.default_name())
    c = default.card.architecture.config.get("c_chosen", 1.0)
    sources = [args.data / "gtzan_flac", args.data / "gtzan"]
    realworld = args.data / "realworld"
    result = {"benchmark": "default recipe with one augmented copy per track per kind: GTZAN track CV and real-world check",
              "command": "python -m bench.augmentation", "c": c, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "load_average_1min": {"before": round(os.getloadavg()[0], 2)}, "kinds": {}}
    for kind in args.kinds:
        chain = MODERN_CHAIN if kind in ("chain", "none") else (kind,)
        spec = EmbeddingSpec(backbones=("msd_musicnn",), outputs=("logits",), variants=0 if kind == "none" else 1,
                             chain=chain, augmented_patches=4)
        t0 = time.perf_counter()
        model, card = train_transfer(sources, TransferRecipe(spec=spec, c=(c,)), cache=args.cache, workers=args.workers)
        loaded = LoadedModel.of_keras(model, ModelInfo(f"augment-{kind}", Path(), card), SEED)
        check = evaluate_audio(realworld, realworld / "MANIFEST.tsv", loaded)
        if card.metrics is None:
            raise SystemExit("the recipe was not evaluated on held-out folds")
        cv = card.metrics.tracks
        result["kinds"][kind] = {
            "gtzan_balanced_accuracy": cv["balanced_accuracy"], "gtzan_min_recall": min(g["recall"] for g in cv["per_genre"].values()),
            "gtzan_ece": card.metrics.ece, "realworld_top1": check["top1"], "realworld_top3": check["top3"],
            "realworld_single_label_top1": check["single_label"]["top1"],
            "realworld_pop_rock_top1": check["per_label"].get("pop|rock", {}).get("top1"), "seconds": round(time.perf_counter() - t0)}
        print(f"  {kind}: {result['kinds'][kind]}", file=sys.stderr)
        write_json(args.out, result)
    result["load_average_1min"]["after"] = round(os.getloadavg()[0], 2)
    write_json(args.out, result)
    print(table(result))
    return 0


def table(result: dict) -> str:
    """README rows: each augmentation next to none."""
    lines = ["| augmentation (one copy per track) | GTZAN CV balanced acc. | lowest genre recall | real world top-1 | "
             "labelled top-1 | pop\\|rock top-1 | top-3 |", "|---|---|---|---|---|---|---|"]
    for kind, r in result["kinds"].items():
        lines.append(f"| {kind} | {r['gtzan_balanced_accuracy']:.1%} | {r['gtzan_min_recall']:.0%} | {r['realworld_top1']:.1%} | "
                     f"{r['realworld_single_label_top1']:.1%} | {r['realworld_pop_rock_top1']:.1%} | {r['realworld_top3']:.1%} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
