"""``python -m core evaluate FEATURES... --protocol track``: honest accuracy of a training recipe."""

from __future__ import annotations

import argparse
import json
import sys

from core import storage

DESCRIPTION = """\
Train and test the seed MLP (or --architecture) on feature tables with one protocol and print a
report (accuracy, top-3, per-genre precision/recall/F1, confusion matrix); --out saves it as JSON.

  seed   random split of the rows, as the seed project did: slices of one track end up in train
         and test, so the number is inflated (reported for comparison only)
  track  stratified k-fold grouped by track (--folds): no track is in train and test; slice
         accuracy and track accuracy (slice probabilities averaged per track)
  file   a split file (CSV with columns track_id,split; split = train, valid or test)"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="measure a training recipe with an evaluation protocol",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("features", nargs="+", metavar="FEATURES", help="feature store, .parquet or GTZAN CSV")
    p.add_argument("--protocol", choices=("seed", "track", "file"), default="track", help="default: %(default)s")
    p.add_argument("--level", choices=("slice", "track"), default="slice", help="rows to train on (default: %(default)s)")
    p.add_argument("--folds", type=int, default=5, help="folds of the track protocol (default: %(default)s)")
    p.add_argument("--split-file", default=None, metavar="CSV", help="track_id,split file for --protocol file")
    p.add_argument("--test-fraction", type=float, default=0.2, help="test share of the seed protocol (default: %(default)s)")
    p.add_argument("--architecture", default="seed_mlp", help="default: %(default)s")
    p.add_argument("--epochs", type=int, default=120, help="default: %(default)s")
    p.add_argument("--validation", type=float, default=0.2, metavar="FRACTION",
                   help="share of the training tracks held out to pick the best epoch (default: %(default)s)")
    p.add_argument("--no-balance", action="store_true", help="do not weight genres by inverse frequency")
    p.add_argument("--seed", type=int, default=42, help="default: %(default)s")
    p.add_argument("--out", default=None, metavar="JSON", help="save the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.commands.train_table import load_tables
    from core.data.store import FeatureTableError
    from core.models.evaluate import evaluate, format_report
    from core.models.train import TrainConfig

    config = TrainConfig(architecture=args.architecture, level=args.level, epochs=args.epochs,
                         validation_fraction=args.validation, balance_classes=not args.no_balance,
                         seed=args.seed)
    try:
        table = load_tables(args.features)
        report = evaluate(args.protocol, config, table, folds=args.folds, split_file=args.split_file,
                          test_fraction=args.test_fraction, source=" + ".join(args.features),
                          progress=lambda msg: print(msg, file=sys.stderr))
    except (FeatureTableError, ValueError, KeyError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.out:
        storage.write_json(args.out, report.to_dict())
        print(f"Saved {args.out}")
    print(json.dumps(report.summary()))
    return 0
