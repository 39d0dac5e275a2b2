"""``python -m core evaluate-audio FOLDER --manifest MANIFEST.tsv --model NAME``: a model on unseen music."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

DESCRIPTION = """\
Classify every file of a labelled folder with a registered model and score it: top-1 and top-3
accuracy, balanced accuracy and per-genre recall of the single-label songs, each label's predictions
(confusion) and the expected calibration error. The manifest (TSV or CSV) has the columns file and
label; a label like pop|rock means either genre counts as right. Use it on music from outside the
training collection (e.g. ../shared/data/realworld) to see how a model generalises."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate-audio", help="score a saved model on a labelled folder of audio",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", help="folder holding the audio files")
    p.add_argument("--manifest", default=None, help="TSV/CSV with file,label (default: FOLDER/MANIFEST.tsv)")
    p.add_argument("--model", default=None, help="model name (default: the default model)")
    p.add_argument("--out", default=None, metavar="JSON", help="save the report (with every song's result) as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core import storage
    from core.models.evaluate_audio import ManifestError, evaluate_audio, format_scores, read_manifest
    from core.models.registry import RegistryError, load_model

    manifest = args.manifest or storage.child(args.folder, "MANIFEST.tsv")
    try:
        model = load_model(args.model)
        if model.note:
            print(f"note: {model.note}", file=sys.stderr)
        total = len(read_manifest(manifest))
        with tqdm(total=total, unit="song", file=sys.stderr) as bar:
            report = evaluate_audio(args.folder, manifest, model, progress=lambda _: bar.update(1))
    except (ManifestError, RegistryError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"model {model.name} on {args.folder}:")
    print(format_scores(report))
    for failure in report["failed"]:
        print(f"{failure['file']}: {failure['error']}", file=sys.stderr)
    if args.out:
        storage.write_json(args.out, report)
        print(f"Saved {args.out}")
    return 0
