"""Transfer from the pre-trained musicnn VGG: frozen 256-d embedding -> small trained head.

The head (:func:`vgg_head`, architecture ``vgg_head``) is trained on cached embeddings of 3-s
patches, which is fast; :func:`transfer_model` then puts the frozen embedding network in front of
it, so the saved model reads musicnn patches (:func:`musicnn_patches_at`) directly and is
self-contained. A track's verdict is the mean of its patches' probabilities.
"""

from __future__ import annotations

import numpy as np
import soxr

from core import musicnn
from core.keras_env import keras
from core.models import normalization, register_builder

EMBEDDING_SIZE = 256


def musicnn_log_mel(y: np.ndarray, sr: int) -> np.ndarray:
    """musicnn's log-mel spectrogram ``(frames, 96)`` of mono audio at any rate (resampled to 16 kHz)."""
    y16k = y if sr == musicnn.SAMPLE_RATE else soxr.resample(np.asarray(y, dtype=np.float32), sr, musicnn.SAMPLE_RATE)
    return musicnn.log_mel(y16k)


def musicnn_patches_at(spec: np.ndarray, starts_s: np.ndarray) -> np.ndarray:
    """musicnn input patches ``(n, 187, 96)`` of a :func:`musicnn_log_mel` spectrogram at start times.

    Windows running past the end are shifted back to end at the last frame; a spectrogram shorter
    than one patch is repeated to fill it (as :func:`core.musicnn.patches` does).
    """
    if len(spec) < musicnn.PATCH_FRAMES:
        spec = np.resize(spec, (musicnn.PATCH_FRAMES, musicnn.N_MELS))
    first = np.rint(np.asarray(starts_s, dtype=np.float64) * musicnn.SAMPLE_RATE / musicnn.HOP).astype(np.int64)
    first = np.clip(first, 0, len(spec) - musicnn.PATCH_FRAMES)
    return np.stack([spec[f : f + musicnn.PATCH_FRAMES] for f in first])


@register_builder("vgg_head")
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


def transfer_model(head: keras.Model, embedding: keras.Model | None = None) -> keras.Model:
    """The deployable model: musicnn patches (n, 187, 96) -> frozen VGG embedding -> ``head`` -> genres."""
    embedding = embedding if embedding is not None else musicnn.load_embedding()
    inputs = keras.Input(shape=(musicnn.PATCH_FRAMES, musicnn.N_MELS), name="musicnn_patches")
    return keras.Model(inputs, head(embedding(inputs)), name="vgg_transfer")


def embed(patches: np.ndarray, embedding: keras.Model | None = None, batch_size: int = 32) -> np.ndarray:
    """Embeddings ``(n, 256)`` of musicnn patches with the frozen network."""
    embedding = embedding if embedding is not None else musicnn.load_embedding()
    return np.asarray(embedding.predict(patches, batch_size=batch_size, verbose=0), dtype=np.float32)
