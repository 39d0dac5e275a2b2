"""Give the registered models their inference export (``model.onnx``), checked against Keras, in place.

    .venv/bin/python scripts/export_models.py [MODELS_DIR] [--force]   (default: models/)

Models saved before the registry wrote exports have only ``model.keras``; this converts each one with
:func:`core.models.inference.export` (the registry's own conversion and check) and writes the file and the
card's ``inference`` record through the registry (:func:`core.models.registry.update_card`). A model
whose export fails its check keeps running through Keras and its card says why. A model that already has an
export is left as it is unless ``--force``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.atomic import write_bytes  # noqa: E402
from core.models import inference  # noqa: E402
from core.models.registry import list_models, load_model, models_dir, update_card  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="?", default=None, help="models folder (default: models/)")
    parser.add_argument("--force", action="store_true", help="export again models that have an export")
    args = parser.parse_args(argv)
    root = Path(args.models) if args.models else models_dir()
    for info in list_models(root):
        target = info.path / inference.EXPORT_FILE
        if target.is_file() and not args.force:
            print(f"{info.name}: has {inference.EXPORT_FILE}, left as it is")
            continue
        model = load_model(info.name, root).model
        try:
            made = inference.export(model, info.card)
        except inference.ExportError as exc:
            target.unlink(missing_ok=True)
            update_card(info.name, replace(info.card, inference=inference.not_exported(str(exc))), root)
            print(f"{info.name}: no export ({exc})")
            continue
        write_bytes(target, made.data)
        update_card(info.name, replace(info.card, inference=made.record), root)
        print(f"{info.name}: {inference.EXPORT_FILE} written, probabilities within "
              f"{made.record['max_abs_diff_probabilities']:.1e} of Keras")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
