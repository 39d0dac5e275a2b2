"""The model registry: ``<models dir>/<name>/{model.keras, model.json}`` plus ``default.json``.

The models directory is ``$CPUNK_MODELS_DIR`` or ``<repo>/models``. Every write goes to a temporary
folder or file inside the models directory and is renamed into place, so an interrupted save leaves
either the old state or the new one, never a half-written model or a broken default; :func:`recover`
puts back a model whose overwrite was killed between its renames (at start-up and before each save:
reading the registry never changes it). Models load
with ``safe_mode=True`` (no arbitrary code) and are refused when their feature schema is not the
one the running extractor produces. A saved model also gets its inference export (``model.onnx``, checked
against the Keras network: :mod:`core.models.inference`), which :func:`load_model` runs without TensorFlow;
the Keras network loads only when asked for (:attr:`LoadedModel.model`: training, evaluation).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.atomic import remove_temporaries, temporary_dir, write_json
from core.features.schema import FeatureSchema, get_schema
from core.models import inference
from core.models.model_card import CardError, ModelCard

if TYPE_CHECKING:
    from core.keras_env import keras

MODELS_ENV = "CPUNK_MODELS_DIR"
MODEL_FILE = "model.keras"
META_FILE = "model.json"
DEFAULT_FILE = "default.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class RegistryError(ValueError):
    """A registry operation that cannot be done; the message says why and what to do."""


class SchemaMismatchError(RegistryError):
    """The model expects features of a schema other than the one the running code extracts."""


def models_dir() -> Path:
    """The models directory: ``$CPUNK_MODELS_DIR`` or ``models/`` at the repository root."""
    return Path(os.environ.get(MODELS_ENV) or Path(__file__).resolve().parents[2] / "models")


def _root(root: str | os.PathLike | None) -> Path:
    return Path(root) if root is not None else models_dir()


def check_name(name: str) -> str:
    """``name`` if it is a valid model name (letters, digits, '.', '_', '-'; 64 at most)."""
    if not _NAME.match(name or ""):
        raise RegistryError(f"Invalid model name {name!r}: use letters, digits, '.', '_' or '-' "
                            "(at most 64, starting with a letter or digit).")
    return name


@dataclass(frozen=True)
class ModelInfo:
    """A model folder and its card (``model.json``)."""

    name: str
    path: Path
    card: ModelCard = field(repr=False)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.card.classes

    @property
    def schema_id(self) -> str:
        return self.card.feature_schema.id

    @property
    def level(self) -> str:
        return self.card.level


@dataclass
class LoadedModel:
    """A loaded model: its description, feature schema and runnable network (the export, or Keras)."""

    info: ModelInfo
    schema: FeatureSchema
    network: inference.Network
    keras_model: keras.Model | None = field(default=None, repr=False)

    @classmethod
    def of_keras(cls, model: keras.Model, info: ModelInfo, schema: FeatureSchema) -> LoadedModel:
        """A model held in memory (not loaded from the registry), run through Keras."""
        return cls(info, schema, inference.KerasNetwork(model, info.card), model)

    @property
    def model(self) -> keras.Model:
        """The Keras network (loaded on first use, with TensorFlow: training and evaluation need it)."""
        if self.keras_model is None:
            self.keras_model = (self.network.model if isinstance(self.network, inference.KerasNetwork)
                                else _load_keras(self.info))
        return self.keras_model

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def note(self) -> str:
        """Why the model runs through Keras (a sentence), or "" when it runs on its export."""
        return f"Model {self.name!r} {self.network.note}." if self.network.note else ""

    @property
    def classes(self) -> tuple[str, ...]:
        return self.info.classes


def read_card(folder: Path) -> ModelCard:
    """The card in ``folder``; :class:`RegistryError` saying what is wrong with it."""
    try:
        data = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(f"{folder.name}: {META_FILE} is missing; the folder is not a model.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{folder.name}: {META_FILE} is not valid JSON ({exc}).") from None
    try:
        return ModelCard.from_json(data)
    except CardError as exc:
        raise RegistryError(f"{folder.name}: {META_FILE} is incomplete or tampered: {exc}") from None


def recover(root: str | os.PathLike | None = None) -> list[str]:
    """Finish what killed saves left in the models directory; returns the names of the models put back.

    A model whose overwrite was killed between its two renames (old folder moved aside as
    ``.old-<name>-<hex8>``, new one not yet moved in) is put back, so a crash never makes a model
    disappear; old folders whose replacement is in place and the temporaries of ended saves are removed.
    Run at start-up (the app, the commands that read models) and before every save; reads never write.
    """
    base = _root(root)
    if not base.is_dir():
        return []
    restored = []
    for old in base.glob(".old-*"):
        name = old.name[len(".old-"):-9]
        if not _NAME.match(name):
            continue
        if (base / name / MODEL_FILE).is_file():
            shutil.rmtree(old, ignore_errors=True)
        elif not (base / name).exists() and (old / MODEL_FILE).is_file() and (old / META_FILE).is_file():
            try:
                os.replace(old, base / name)
                restored.append(name)
            except OSError:  # another process got there first
                pass
    with contextlib.suppress(OSError):  # a read-only registry: nothing to clean
        remove_temporaries(base)
    return restored


def list_models(root: str | os.PathLike | None = None) -> list[ModelInfo]:
    """Every complete model in the directory (folders with both files), sorted by name."""
    base = _root(root)
    if not base.is_dir():
        return []
    found = []
    for folder in sorted(base.iterdir()):
        if folder.is_dir() and _NAME.match(folder.name) and (folder / MODEL_FILE).is_file():
            try:
                found.append(ModelInfo(folder.name, folder, read_card(folder)))
            except RegistryError:
                continue
    return found


def model_info(name: str, root: str | os.PathLike | None = None) -> ModelInfo:
    """The description of model ``name``; a clear error when there is no such model."""
    folder = _root(root) / check_name(name)
    if not (folder / MODEL_FILE).is_file():
        known = ", ".join(m.name for m in list_models(root)) or "none"
        raise RegistryError(f"No model named {name!r} in {_root(root)} (available: {known}).")
    return ModelInfo(name, folder, read_card(folder))


def check_schema(info: ModelInfo) -> FeatureSchema:
    """The running schema the model needs; :class:`SchemaMismatchError` if it differs."""
    wanted = info.card.feature_schema
    try:
        schema = get_schema(wanted.id)
    except KeyError as exc:
        raise SchemaMismatchError(f"Model {info.name!r} cannot be used: {exc.args[0]}") from None
    if tuple(schema.columns) != wanted.columns:
        raise SchemaMismatchError(
            f"Model {info.name!r} was trained on other feature columns than {schema.id} has now; retrain it.")
    return schema


def load_model(name: str | None = None, root: str | os.PathLike | None = None) -> LoadedModel:
    """Load model ``name`` (the default when None), refusing other feature schemas."""
    name = name or default_name(root)
    if name is None:
        raise RegistryError(f"No model chosen and no default model set in {_root(root)}.")
    info = model_info(name, root)
    schema = check_schema(info)
    try:
        network = inference.load_network(info.path, MODEL_FILE, info.card)
    except Exception as exc:  # the runtimes raise many types for a damaged file
        raise RegistryError(
            f"Model {name!r} could not be loaded: its {inference.EXPORT_FILE} or {MODEL_FILE} is damaged "
            f"({type(exc).__name__}). Retrain or re-save the model.") from exc
    return LoadedModel(info, schema, network)


def _load_keras(info: ModelInfo) -> keras.Model:
    try:
        return inference.load_keras(info.path / MODEL_FILE)
    except Exception as exc:  # Keras raises many types for a damaged file
        raise RegistryError(
            f"Model {info.name!r} could not be loaded: its {MODEL_FILE} is missing or is not a valid Keras model file "
            f"({type(exc).__name__}). Retrain or re-save the model.") from exc


def _inference_copy(model: keras.Model) -> keras.Model:
    """The same network and weights without optimizer state (a third of the size on disk)."""
    copy = model.__class__.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def save_model(name: str, model: keras.Model, card: ModelCard, root: str | os.PathLike | None = None,
               *, overwrite: bool = False) -> ModelInfo:
    """Write ``model``, its inference export and its ``card`` as model ``name`` atomically (temp folder, then
    rename); the one writer of ``model.json``. The card's ``inference`` records the export's check against
    Keras, or why the model has no export (it then runs through Keras)."""
    card = replace(card, name=name)
    files: dict[str, bytes] = {}
    try:
        made = inference.export(model, card)
        files[inference.EXPORT_FILE] = made.data
        card = replace(card, inference=made.record)
    except inference.ExportError as exc:
        card = replace(card, inference=inference.not_exported(str(exc)))
    final = _save(_root(root) / check_name(name), model, card.to_json(), overwrite, files)
    return ModelInfo(name, final, card)


def update_card(name: str, card: ModelCard, root: str | os.PathLike | None = None) -> ModelInfo:
    """Replace the card of saved model ``name`` (its network unchanged), atomically: e.g. to store what a
    module fitted afterwards in ``card.reliability``, or a migrated card."""
    folder = _root(root) / check_name(name)
    if not (folder / MODEL_FILE).is_file():
        raise RegistryError(f"No model named {name!r} in {_root(root)}.")
    card = replace(card, name=name)
    write_json(folder / META_FILE, card.to_json())
    return ModelInfo(name, folder, card)


def save_backbone(folder: Path, model: keras.Model, description: dict[str, Any]) -> None:
    """Write a pre-trained backbone (``models/_pretrained/<name>``: its network and the description its
    loader reads, not a model card) atomically, replacing the folder's network and description."""
    _save(folder, model, description, overwrite=True)


def _save(final: Path, model: keras.Model, description: dict[str, Any], overwrite: bool,
          files: dict[str, bytes] | None = None) -> Path:
    base, name = final.parent, final.name
    recover(base)
    if final.exists() and not overwrite:
        raise RegistryError(f"A model named {name!r} already exists; choose another name or overwrite it.")
    base.mkdir(parents=True, exist_ok=True)
    with temporary_dir(final) as tmp:
        _inference_copy(model).save(tmp / MODEL_FILE)
        for file, data in (files or {}).items():
            (tmp / file).write_bytes(data)
        write_json(tmp / META_FILE, description)
        if final.exists():
            old = base / f".old-{name}-{uuid.uuid4().hex[:8]}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    return final


def default_name(root: str | os.PathLike | None = None) -> str | None:
    """The default model's name, or None when none is set (or it no longer exists)."""
    try:
        name = json.loads((_root(root) / DEFAULT_FILE).read_text(encoding="utf-8")).get("default")
    except (FileNotFoundError, json.JSONDecodeError, AttributeError):
        return None
    return name if isinstance(name, str) and _NAME.match(name) and (_root(root) / name / MODEL_FILE).is_file() else None


def set_default(name: str, root: str | os.PathLike | None = None) -> None:
    """Make model ``name`` the default (atomic)."""
    model_info(name, root)
    write_json(_root(root) / DEFAULT_FILE, {"default": name})

