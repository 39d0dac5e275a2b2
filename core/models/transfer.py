"""Transfer from pre-trained musicnn taggers: frozen backbones -> small trained head.

A *backbone* (:func:`backbone_model`) runs one or more converted musicnn networks
(:data:`core.features.musicnn.CHECKPOINTS`) on 3-s patches and concatenates the outputs asked for: the
``embedding`` layer and/or the tag ``logits``. The head is trained on cached backbone outputs, which
is fast: either :func:`vgg_head` (a Keras MLP) or a calibrated multinomial logistic regression
(:func:`fit_linear_head`, scikit-learn, copied into Keras by :func:`linear_head_model`).
:func:`transfer_model` puts the frozen backbone in front of the head, so the saved model reads musicnn
patches (:func:`core.features.musicnn.patches_at`) directly and is self-contained. A track's verdict is the mean of
its patches' probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import softmax

from core.data.training_data import track_average
from core.features import musicnn
from core.keras_env import keras
from core.models.builders import normalization, register_builder

BACKBONE_OUTPUTS = ("embedding", "logits")


@register_builder("vgg_head", inputs=("embedding",))
def vgg_head(x_train: np.ndarray, n_classes: int, *, units: int = 128, dropout: float = 0.3,
             learning_rate: float = 1e-3, l2: float = 1e-3) -> keras.Model:
    """Head on musicnn embeddings: standardise, dropout, Dense(units, ReLU), dropout, softmax."""
    reg = keras.regularizers.L2(l2)
    model = keras.Sequential([
        keras.Input(shape=(x_train.shape[1],), name="embedding"),
        normalization(x_train),
        keras.layers.Dropout(dropout, name="dropout_in"),
        keras.layers.Dense(units, activation="relu", kernel_regularizer=reg, name="dense"),
        keras.layers.Dropout(dropout, name="dropout"),
        keras.layers.Dense(n_classes, activation="softmax", kernel_regularizer=reg, name="genre"),
    ], name="vgg_head")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def backbone_model(names: tuple[str, ...] | list[str], outputs: tuple[str, ...] | list[str] = BACKBONE_OUTPUTS) -> keras.Model:
    """Frozen patches (n, 187, 96) -> the ``outputs`` of each converted network ``names``, concatenated."""
    unknown = [o for o in outputs if o not in BACKBONE_OUTPUTS]
    if unknown or not names or not outputs:
        raise ValueError(f"Backbone outputs must be some of {', '.join(BACKBONE_OUTPUTS)}; got {', '.join(outputs) or 'none'}.")
    inputs = keras.Input(shape=(musicnn.PATCH_FRAMES, musicnn.N_MELS), name="musicnn_patches")
    parts = []
    for name in names:
        tagger = musicnn.load_tagger(name)
        wanted = [tagger.get_layer(o).output for o in outputs]
        network = keras.Model(tagger.inputs, wanted, name=f"musicnn_{name}")
        network.trainable = False
        found = network(inputs)
        parts += list(found) if isinstance(found, (list, tuple)) else [found]
    joined = parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="backbone_features")(parts)
    model = keras.Model(inputs, joined, name="backbone")
    model.trainable = False
    return model


def transfer_model(head: keras.Model, embedding: keras.Model | None = None, name: str = "vgg_transfer") -> keras.Model:
    """The deployable model: musicnn patches (n, 187, 96) -> frozen backbone (default: the VGG
    embedding) -> ``head`` -> genres."""
    embedding = embedding if embedding is not None else musicnn.load_embedding()
    inputs = keras.Input(shape=(musicnn.PATCH_FRAMES, musicnn.N_MELS), name="musicnn_patches")
    return keras.Model(inputs, head(embedding(inputs)), name=name)


@dataclass(frozen=True)
class LinearHead:
    """A standardised multinomial logistic regression: ``logits = ((x - mean) / scale) @ coef.T + intercept``."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (n_classes, n_features)
    intercept: np.ndarray  # (n_classes,)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float64) - self.mean) / self.scale) @ self.coef.T + self.intercept


def fit_linear_head(x: np.ndarray, y: np.ndarray, n_classes: int, c: float = 1.0, balanced: bool = True) -> LinearHead:
    """Fit scikit-learn's L2 logistic regression (lbfgs: deterministic) on standardised rows.

    ``balanced`` weights the genres by inverse frequency (scikit-learn's ``class_weight="balanced"``).
    Every one of the ``n_classes`` must occur in ``y``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    missing = sorted(set(range(n_classes)) - set(np.unique(y).tolist()))
    if missing:
        raise ValueError(f"No training rows for class index {', '.join(map(str, missing))}.")
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=c, class_weight="balanced" if balanced else None, max_iter=3000)
    model.fit(scaler.transform(x), y)
    return LinearHead(scaler.mean_, scaler.scale_, model.coef_, model.intercept_)


def fit_temperature(logits: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of the tracks' verdicts (Guo et al.,
    2017), from held-out patch logits ``(n, n_classes)``, their labels and track ids."""
    logits = np.asarray(logits, dtype=np.float64)

    def nll(log_t: float) -> float:
        _, track_y, probs = track_average(groups, y, softmax(logits / np.exp(log_t), axis=1))
        return float(-np.mean(np.log(probs[np.arange(len(track_y)), track_y] + 1e-12)))

    return float(np.exp(minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded").x))


def linear_head_model(head: LinearHead, temperature: float = 1.0, name: str = "linear_head") -> keras.Model:
    """The head in Keras: Normalization (mean, variance) -> Dense softmax with weights / temperature."""
    n_classes, n_features = head.coef.shape
    dense = keras.layers.Dense(n_classes, activation="softmax", name="genre")
    model = keras.Sequential([
        keras.Input(shape=(n_features,), name="features"),
        keras.layers.Normalization(axis=-1, mean=head.mean, variance=head.scale**2, name="scale"),
        dense,
    ], name=name)
    dense.set_weights([(head.coef.T / temperature).astype(np.float32), (head.intercept / temperature).astype(np.float32)])
    return model


def embed(patches: np.ndarray, embedding: keras.Model | None = None, batch_size: int = 64) -> np.ndarray:
    """Outputs of a frozen network (default: the VGG embedding) for musicnn patches, in batches."""
    embedding = embedding if embedding is not None else musicnn.load_embedding()
    if not len(patches):
        return np.zeros((0, embedding.output_shape[-1]), dtype=np.float32)
    parts = [np.asarray(embedding.predict_on_batch(np.asarray(patches[i:i + batch_size], dtype=np.float32)))
             for i in range(0, len(patches), batch_size)]
    return np.concatenate(parts).astype(np.float32)
