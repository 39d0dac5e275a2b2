"""``python -m core import-csv CSV --out PATH``: a published GTZAN feature CSV as a feature table."""

from __future__ import annotations

import argparse
import sys

from core import storage
from core.data.store import FeatureTableError, read_features, store_from_table, write_parquet_atomic
from core.features.schema import GTZAN_KAGGLE


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import-csv", help="convert a published GTZAN feature CSV into the feature-store format",
        description="Read features_30_sec.csv (whole-track rows, slice -1) or features_3_sec.csv (slice rows "
                    "0-9 of each clip, start = 3 s x slice) and write them in feature-table layout with schema "
                    f"{GTZAN_KAGGLE.id}. Track ids are the clip names without '.wav' (e.g. blues.00000).")
    p.add_argument("csv", metavar="CSV")
    p.add_argument("--out", required=True, metavar="PATH", help="a .parquet file, or a store directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = storage.location(args.out)
    try:
        table = read_features(args.csv)
        if storage.name(out).lower().endswith(".parquet"):
            write_parquet_atomic(table, out)
        else:
            slices = int(table["slice"].max()) + 1
            store_from_table(out, table, GTZAN_KAGGLE, slices)
    except FeatureTableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(table):,} rows of {table['track_id'].nunique():,} tracks ({GTZAN_KAGGLE.id}) -> {out}")
    return 0
