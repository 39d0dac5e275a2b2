"""``python -m core train FEATURES...``: train a network on feature-table rows and save it (registry or --out)."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any, Callable

import pandas as pd
from tqdm import tqdm

from core.commands.train_common import check_new_name, ctrl_c_sets, jsonl_writer, rebuild_command, save_run


def load_tables(paths: list[str]) -> pd.DataFrame:
    """Read and concatenate feature tables; they must share one schema."""
    from core.data.store import FeatureTableError, feature_schema_of, read_features

    tables = [read_features(p) for p in paths]
    schemas = {feature_schema_of(t).id for t in tables}
    if len(schemas) > 1:
        raise FeatureTableError(f"The tables use different feature schemas: {', '.join(sorted(schemas))}.")
    return pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]


def run_table(args: argparse.Namespace) -> int:
    """Train on feature tables (Ctrl-C stops early and keeps the best epoch)."""
    from core.data.store import FeatureTableError
    from core.features.extract import SLICE_SECONDS
    from core.models import registry
    from core.models.model_card import Metrics, Protocol, model_card
    from core.models.train import TrainConfig, train

    stop = threading.Event()
    with ctrl_c_sets(stop):
        try:
            if args.name:
                check_new_name(args)
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
                listeners.append(jsonl_writer(args.report_jsonl))
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
    saved = save_run(args, model, card)
    best = history.epochs[history.best_epoch - 1] if history.best_epoch else None
    summary = f" best epoch {history.best_epoch}" + (
        f" (val_acc {best.val_accuracy:.3f})" if best and best.val_accuracy is not None else "")
    print(f"Saved {saved} ({len(history.rows or ())} {config.level} rows, {history.seconds:.1f} s;{summary})"
          + (" as the default model" if args.default and not args.out else ""))
    return 0
