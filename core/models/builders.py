"""Model builders by name: raw feature rows in, genre probabilities out.

Every builder takes the training rows (to adapt the :class:`keras.layers.Normalization` layer that
lives inside the model, so a saved model is self-contained), the number of classes and its own
keyword config, and returns a compiled :class:`keras.Model`. New architectures plug in with
:func:`register_builder`, declaring what the built model reads; :func:`build_model` looks them up by
the name stored in ``model.json`` and :func:`architectures` lists them all, whatever was imported before.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from core.keras_env import keras

Builder = Callable[..., "keras.Model"]
NETWORK_MODULES = ("core.models.cnn", "core.models.transfer")  # register mel_cnn and vgg_head (imported on demand)



@dataclass(frozen=True)
class Architecture:
    """A builder and the inputs its models read: ``("features",)`` for feature-table rows, else the kinds of
    :data:`core.models.model_inputs.INPUT_KINDS` (or ``embedding`` for a head trained on musicnn embeddings)."""

    build: Builder
    inputs: tuple[str, ...]


BUILDERS: dict[str, Architecture] = {}

SEED_UNITS = (512, 256, 128, 64)
SEED_DROPOUT = 0.2
TUNABLE = ("learning_rate", "dropout")  # builder keywords the Train page offers


def register_builder(name: str, inputs: tuple[str, ...] = ("features",)) -> Callable[[Builder], Builder]:
    """Decorator: make a builder whose models read ``inputs`` available to :func:`build_model` as ``name``."""
    def add(builder: Builder) -> Builder:
        BUILDERS[name] = Architecture(builder, tuple(inputs))
        return builder
    return add


def architectures() -> dict[str, Architecture]:
    """Every registered architecture, the network modules' included (imported first, so the answer never
    depends on what happened to be imported before)."""
    for module in NETWORK_MODULES:
        importlib.import_module(module)
    return dict(BUILDERS)


def build_model(architecture: str, x_train: np.ndarray, n_classes: int, **config: Any) -> keras.Model:
    """Build and compile the model ``architecture`` for rows like ``x_train``."""
    if architecture not in BUILDERS:  # the network builders register when their module is imported
        for module in NETWORK_MODULES:
            importlib.import_module(module)
    try:
        builder = BUILDERS[architecture].build
    except KeyError:
        raise KeyError(f"Unknown architecture {architecture!r}; known: {', '.join(sorted(BUILDERS))}") from None
    return builder(x_train, n_classes, **config)


def normalization(x_train: np.ndarray) -> keras.layers.Normalization:
    """A Normalization layer adapted to the per-column mean and variance of ``x_train``."""
    norm = keras.layers.Normalization(axis=-1, name="scale")
    norm.adapt(np.asarray(x_train, dtype=np.float32))
    return norm


@register_builder("seed_mlp")
def seed_mlp(x_train: np.ndarray, n_classes: int, *, units: tuple[int, ...] = SEED_UNITS,
             dropout: float = SEED_DROPOUT, learning_rate: float = 1e-3) -> keras.Model:
    """The seed project's MLP: Dense 512-256-128-64 (ReLU), 20% dropout after each, softmax."""
    layers: list[keras.layers.Layer] = [keras.Input(shape=(x_train.shape[1],), name="features"),
                                         normalization(x_train)]
    for i, n in enumerate(units, start=1):
        layers += [keras.layers.Dense(n, activation="relu", name=f"dense_{i}"),
                   keras.layers.Dropout(dropout, name=f"dropout_{i}")]
    layers.append(keras.layers.Dense(n_classes, activation="softmax", name="genre"))
    model = keras.Sequential(layers, name="seed_mlp")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def predict_proba(model: keras.Model, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Class probabilities for the rows of ``x`` (float64), calling the model directly in batches."""
    x = np.asarray(x, dtype=np.float32)
    if not len(x):
        return np.zeros((0, model.output_shape[-1]))
    parts = [np.asarray(model(x[i:i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    return np.concatenate(parts).astype(np.float64)


def table_architectures() -> tuple[str, ...]:
    """Architectures whose models read feature-table rows (they declare ``inputs=("features",)``)."""
    return tuple(name for name, arch in architectures().items() if arch.inputs == ("features",))


def tunable_defaults(architecture: str) -> dict[str, float]:
    """The :data:`TUNABLE` keywords ``architecture``'s builder takes, with their defaults."""
    parameters = inspect.signature(architectures()[architecture].build).parameters
    return {k: parameters[k].default for k in TUNABLE if k in parameters}
