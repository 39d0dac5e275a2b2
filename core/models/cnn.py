"""A small CNN trained from scratch on 3-s log-mel patches (architecture ``mel_cnn``).

Input: ``(128 mel bands, 128 frames)`` dB patches from :mod:`core.features.spectrograms`; standardisation
lives inside the model. Five blocks of 3x3 convolution, batch normalisation, ReLU and 2x2 max
pooling, then an average over time (the frequency axis stays: register matters), dropout and softmax. :func:`train_cnn` fits it on random
crops with gain and SpecAugment masks; :func:`track_probabilities` averages a track's windows.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from core.features.spectrograms import N_MELS, PATCH_FRAMES, SpectrogramSet, evaluation_patches, patch_dataset
from core.keras_env import keras, seed_everything
from core.models.builders import build_model, register_builder
from core.models.train import EpochListener, StopFlag, TrainHistory, class_weights, fit

CNN_FILTERS = (8, 16, 32, 64, 128)


@register_builder("mel_cnn", inputs=("log_mel",))
def mel_cnn(x_train: np.ndarray, n_classes: int, *, filters: tuple[int, ...] = CNN_FILTERS, dropout: float = 0.3,
            learning_rate: float = 2e-3) -> keras.Model:
    """The CNN for ``(N_MELS, PATCH_FRAMES)`` patches; ``x_train`` (patches in dB) sets the input scaling."""
    norm = keras.layers.Normalization(axis=None, name="scale")
    norm.adapt(np.asarray(x_train, dtype=np.float32))
    inputs = keras.Input(shape=(N_MELS, PATCH_FRAMES), name="log_mel")
    x = keras.layers.Reshape((N_MELS, PATCH_FRAMES, 1), name="channel")(norm(inputs))
    for i, n in enumerate(filters, start=1):
        x = keras.layers.Conv2D(n, 3, padding="same", use_bias=False, name=f"conv_{i}")(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn_{i}")(x)  # few steps per epoch
        x = keras.layers.ReLU(name=f"relu_{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
    x = keras.layers.AveragePooling2D((1, x.shape[2]), name="time_average")(x)  # keeps the frequency axis
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="genre")(x)
    model = keras.Model(inputs, outputs, name="mel_cnn")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def train_cnn(spectrograms: SpectrogramSet, classes: tuple[str, ...], *, epochs: int = 30, batch_size: int = 32,
              crops_per_track: int = 4, balance_classes: bool = True, seed: int = 42,
              listeners: Iterable[EpochListener] = (), stop: StopFlag | None = None,
              **model_config) -> tuple[keras.Model, TrainHistory]:
    """Fit ``mel_cnn`` on random augmented crops of ``spectrograms`` (labels among ``classes``)."""
    seed_everything(seed)
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[label] for label in spectrograms.labels], dtype=np.int64)
    weights = None
    if balance_classes:
        per_class = class_weights(y)
        weights = np.array([per_class[int(c)] for c in y], dtype=np.float32)
    sample = np.concatenate([evaluation_patches(c)[1::3] for c in spectrograms.codes])  # sets the input scaling
    if not len(sample):  # clips of one window each (under 6 s)
        sample = np.concatenate([evaluation_patches(c) for c in spectrograms.codes])
    model = build_model("mel_cnn", sample, len(classes), **model_config)
    data = patch_dataset(spectrograms, y, batch_size=batch_size, crops_per_track=crops_per_track, weights=weights,
                         seed=seed)
    return model, fit(model, data, epochs, listeners=listeners, stop=stop, monitor="loss")


def track_probabilities(model: keras.Model, spectrograms: SpectrogramSet, batch_size: int = 64) -> np.ndarray:
    """Per track, the mean of its back-to-back windows' probabilities: ``(n_tracks, n_classes)``."""
    windows = [evaluation_patches(c) for c in spectrograms.codes]
    probs = np.asarray(model.predict(np.concatenate(windows), batch_size=batch_size, verbose=0), dtype=np.float64)
    ends = np.cumsum([len(w) for w in windows])
    return np.stack([part.mean(axis=0) for part in np.split(probs, ends[:-1])])
