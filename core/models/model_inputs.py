"""What a registered model reads, and how :func:`core.predict.classify` makes it from one decode.

A model's card names its inputs in order under ``inputs``:

- ``features``: feature-schema rows (the seed MLP; whole-track row first for ``level: track``);
- ``log_mel``: 3-s log-mel patches from :mod:`core.features.spectrograms` (the CNN);
- ``musicnn``: musicnn VGG patches ``(n, 187, 96)`` from :mod:`core.models.transfer` (16-kHz log-mel).

Every input is cut at the same segment starts as the feature slices, so the segments of a
multi-input model (an ensemble) line up and a track's verdict is the mean of its segments. The
network (:class:`core.models.inference.Network`: the export or Keras) runs over the segments in batches of
:data:`BATCH` (bounded memory for long recordings, and a verdict of the first part after the first batch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from core.features import musicnn
from core.features.extract import Extraction, Signals
from core.features.spectrograms import frames_of, patches_at

if TYPE_CHECKING:
    from core.keras_env import keras
    from core.models.inference import Network
    from core.models.model_card import ModelCard

INPUT_KINDS = ("features", "log_mel", "musicnn")
INPUT_NAMES = {"features": "audio features", "log_mel": "mel spectrogram", "musicnn": "musicnn patches (pre-trained tagger)"}
FEATURE_KINDS = frozenset({"features", "log_mel"})  # inputs made from the feature signals
BATCH = 8  # segments per network call: bench/lean.py, a 4-min song on the export: the same CPU for 4 to 32, peak 0.6/0.7/0.9/1.3 GB

BatchDone = Callable[[int, np.ndarray], None]  # (segments done, their probabilities so far)


def input_kinds(card: ModelCard) -> tuple[str, ...]:
    """The inputs a model's card declares; a clear error for unknown ones."""
    kinds = card.inputs
    unknown = [k for k in kinds if k not in INPUT_KINDS]
    if unknown:
        raise ValueError(f"Model inputs {', '.join(unknown)} are unknown; known: {', '.join(INPUT_KINDS)}.")
    return kinds


def needs_features(card: ModelCard) -> bool:
    """Whether the model reads anything made from the feature signals (else only musicnn patches)."""
    return bool(FEATURE_KINDS & set(input_kinds(card)))


def segment_input(kind: str, starts: np.ndarray, sr: int, *, signals: Signals | None = None,
                  extraction: Extraction | None = None, musicnn_spec: np.ndarray | None = None) -> np.ndarray:
    """Input ``kind`` (float32) for the segments starting at samples ``starts`` (rate ``sr``): feature rows
    of ``extraction``, log-mel patches of ``signals`` or musicnn patches of ``musicnn_spec``."""
    if kind == "features" and extraction is not None:
        return extraction.slices.astype(np.float32)
    if kind == "log_mel" and signals is not None:
        return patches_at(signals.log_mel, frames_of(starts)).astype(np.float32)
    if kind == "musicnn" and musicnn_spec is not None:
        return musicnn.patches_at(musicnn_spec, starts / sr).astype(np.float32)
    if kind in INPUT_KINDS:
        raise ValueError(f"Model input {kind!r} needs what it is made from (none was given).")
    raise ValueError(f"Unknown model input {kind!r}; known: {', '.join(INPUT_KINDS)}.")


def predict_segments(model: Network, card: ModelCard, inputs: list[np.ndarray], *, track_row: np.ndarray | None = None,
                     batch_done: BatchDone | None = None, side: list[np.ndarray] | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(segment probabilities, track probabilities) of ``model`` for one recording.

    ``inputs``: one array per input kind (:func:`input_kinds` order), a row or patch per segment.
    A track-level feature model judges ``track_row`` (the whole-track row); every other model
    judges the segments and the track's verdict is their mean. The network runs in batches of
    :data:`BATCH` segments; ``batch_done`` hears after each batch. A network with two outputs (what it
    read, then the probabilities: a tag-reading model) puts the first into ``side``.
    """
    if input_kinds(card) == ("features",) and card.level == "track" and track_row is not None:
        probs = _batched(model, [np.vstack([track_row[None, :], inputs[0]]).astype(np.float32)], None)
        return probs[1:], probs[0]
    probs = _batched(model, inputs, batch_done, side)
    return probs, probs.mean(axis=0)


def _batched(model: Network, inputs: list[np.ndarray], batch_done: BatchDone | None,
             side: list[np.ndarray] | None = None) -> np.ndarray:
    n = len(inputs[0])
    out = []
    try:
        for start in range(0, n, BATCH):
            found = model.run([x[start:start + BATCH] for x in inputs])
            if len(found) > 1 and side is not None:
                side.append(np.asarray(found[0], dtype=np.float32))
            out.append(np.asarray(found[-1], dtype=np.float64))
            if batch_done is not None:
                batch_done(min(start + BATCH, n), np.concatenate(out))
    finally:
        model.release()
    return np.concatenate(out)


def ensemble_model(members: list[tuple[str, keras.Model]], name: str = "ensemble") -> keras.Model:
    """One model averaging the probabilities of ``members`` (input kind, model); members of the same
    kind share an input. Its inputs, in order, are the distinct kinds (store them as ``inputs``)."""
    from core.keras_env import keras

    inputs: dict[str, keras.KerasTensor] = {}
    for kind, member in members:
        if kind not in INPUT_KINDS:
            raise ValueError(f"Unknown model input {kind!r}; known: {', '.join(INPUT_KINDS)}.")
        inputs.setdefault(kind, keras.Input(shape=member.input_shape[1:], name=kind))
    outputs = [member(inputs[kind]) for kind, member in members]
    average = keras.layers.Average(name="mean")(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(list(inputs.values()), average, name=name)
