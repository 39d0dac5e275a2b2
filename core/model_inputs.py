"""What a registered model reads, and how :func:`core.predict.classify` makes it from one decode.

``model.json`` names the model's inputs in order under ``inputs`` (absent: ``["features"]``):

- ``features``: feature-schema rows (the seed MLP; whole-track row first for ``level: track``);
- ``log_mel``: 3-s log-mel patches from :mod:`core.spectrograms` (the CNN);
- ``musicnn``: musicnn VGG patches from :mod:`core.transfer` (the transfer model).

Every input is cut at the same segment starts as the feature slices, so the segments of a
multi-input model (an ensemble) line up and a track's verdict is the mean of its segments.
"""

from __future__ import annotations

import numpy as np

from core.audio import Audio
from core.features import Extraction, Signals
from core.keras_env import keras
from core.models import predict_proba
from core.spectrograms import frames_of, patches_at
from core.transfer import musicnn_log_mel, musicnn_patches_at

INPUT_KINDS = ("features", "log_mel", "musicnn")
INPUT_NAMES = {"features": "audio features", "log_mel": "mel spectrogram", "musicnn": "musicnn patches (pre-trained tagger)"}


def input_kinds(meta: dict) -> tuple[str, ...]:
    """The inputs a model's ``model.json`` declares; a clear error for unknown ones."""
    kinds = tuple(meta.get("inputs") or ("features",))
    unknown = [k for k in kinds if k not in INPUT_KINDS]
    if unknown:
        raise ValueError(f"Model inputs {', '.join(unknown)} are unknown; known: {', '.join(INPUT_KINDS)}.")
    return kinds


def segment_input(kind: str, audio: Audio, signals: Signals, extraction: Extraction) -> np.ndarray:
    """Input ``kind`` for each segment of ``extraction`` (one row or patch per slice start)."""
    if kind == "features":
        return extraction.slices.astype(np.float32)
    if kind == "log_mel":
        return patches_at(signals.log_mel, frames_of(extraction.slice_starts))
    if kind == "musicnn":
        return musicnn_patches_at(musicnn_log_mel(audio.y, audio.sr), extraction.slice_starts / audio.sr)
    raise ValueError(f"Unknown model input {kind!r}; known: {', '.join(INPUT_KINDS)}.")


def predict_segments(model: keras.Model, meta: dict, audio: Audio, signals: Signals,
                     extraction: Extraction) -> tuple[np.ndarray, np.ndarray]:
    """(segment probabilities, track probabilities) of ``model`` for one recording.

    A track-level feature model judges the whole-track row; every other model judges the segments
    and the track's verdict is their mean.
    """
    kinds = input_kinds(meta)
    if kinds == ("features",) and meta.get("level", "slice") == "track":
        probs = predict_proba(model, np.vstack([extraction.track[None, :], extraction.slices]))
        return probs[1:], probs[0]
    inputs = [segment_input(kind, audio, signals, extraction) for kind in kinds]
    inputs = [x.astype(np.float32) for x in inputs]  # one compiled call: 2-3x faster than eager for the CNNs
    probs = np.asarray(model.predict_on_batch(inputs[0] if len(inputs) == 1 else inputs), dtype=np.float64)
    return probs, probs.mean(axis=0)


def ensemble_model(members: list[tuple[str, keras.Model]], name: str = "ensemble") -> keras.Model:
    """One model averaging the probabilities of ``members`` (input kind, model); members of the same
    kind share an input. Its inputs, in order, are the distinct kinds (store them as ``inputs``)."""
    inputs: dict[str, keras.KerasTensor] = {}
    for kind, member in members:
        if kind not in INPUT_KINDS:
            raise ValueError(f"Unknown model input {kind!r}; known: {', '.join(INPUT_KINDS)}.")
        inputs.setdefault(kind, keras.Input(shape=member.input_shape[1:], name=kind))
    outputs = [member(inputs[kind]) for kind, member in members]
    average = keras.layers.Average(name="mean")(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(list(inputs.values()), average, name=name)
