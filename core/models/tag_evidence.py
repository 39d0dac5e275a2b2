"""Why a tag-reading model chose its genre: the pre-trained tags that pushed the verdict over the runner-up.

A ``musicnn_linear`` model (:mod:`core.models.transfer_train`) is linear in its inputs, the tag logits of a
frozen tagger trained on real songs: ``logit_g = sum_j W[g, j] * (x_j - mean_j) / std_j + b_g``. So the
part of the margin between the verdict ``g`` and the runner-up ``r`` that tag ``j`` is responsible for
is exactly ``(W[g, j] - W[r, j]) * (x_j - mean_j) / std_j`` (averaged over the song's windows): the
model's own arithmetic, not a description. :func:`tag_reasons` lists the tags with the largest positive
shares, so no listed reason argues against the verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from core.models.model_card import ModelCard

BACKBONE_LAYER = "backbone"
HEAD_LAYER = "linear_head"


@dataclass(frozen=True)
class TagReason:
    """One tag's share of the margin between the verdict and the runner-up (in logit units)."""

    tag: str
    probability: float  # the tagger's mean probability for the tag over the windows
    share: float  # > 0: pushes towards the verdict and away from the runner-up
    above_usual: bool  # the tag is stronger than in the average training window (else: its absence counts)


def explains_with_tags(card: ModelCard) -> bool:
    """Whether the model is a linear head on tag logits (the only kind these reasons are exact for)."""
    arch = card.architecture
    return arch.name == "musicnn_linear" and list(arch.config["spec"]["outputs"]) == ["logits"]


def tag_names(card: ModelCard) -> list[str]:
    """The input columns' tag names, backbone by backbone (the card of a tag-reading model)."""
    from core.features import musicnn

    backbones = card.architecture.config["spec"]["backbones"]
    return [name for b in backbones for name in musicnn.tag_names(b)]


def explaining_model(model: Any) -> Any:
    """The same network with two outputs: the backbone's tag logits per window and the genre probabilities."""
    from core.keras_env import keras

    inputs = keras.Input(shape=model.input_shape[1:], name="musicnn_patches")
    features = model.get_layer(BACKBONE_LAYER)(inputs)
    return keras.Model(inputs, [features, model.get_layer(HEAD_LAYER)(features)], name="explained")


@dataclass(frozen=True)
class LinearHead:
    """The linear layer of a tag-reading model: per-tag standardisation and the (tags, genres) kernel."""

    mean: np.ndarray
    std: np.ndarray
    kernel: np.ndarray

    @classmethod
    def of(cls, model: Any) -> LinearHead:
        """The head of a Keras tag-reading model (its ``linear_head`` layer)."""
        head = model.get_layer(HEAD_LAYER)
        scale = head.get_layer("scale")
        return cls(np.asarray(scale.mean, dtype=np.float64).reshape(-1),
                   np.sqrt(np.asarray(scale.variance, dtype=np.float64).reshape(-1)),
                   np.asarray(head.get_layer("genre").get_weights()[0], dtype=np.float64))

    def to_json(self) -> str:
        return json.dumps({"mean": self.mean.tolist(), "std": self.std.tolist(), "kernel": self.kernel.tolist()})

    @classmethod
    def from_json(cls, text: str) -> LinearHead:
        d = json.loads(text)
        return cls(*(np.asarray(d[k], dtype=np.float64) for k in ("mean", "std", "kernel")))


def tag_shares(head: LinearHead, card: ModelCard, window_logits: np.ndarray, genre: str, runner_up: str
               ) -> tuple[np.ndarray, np.ndarray]:
    """(every tag's share of the mean logit margin of ``genre`` over ``runner_up``, the windows'
    standardised tag values); the shares plus the bias difference add up to the margin exactly."""
    classes = list(card.classes)
    g, r = classes.index(genre), classes.index(runner_up)
    z = (np.asarray(window_logits, dtype=np.float64) - head.mean) / np.where(head.std > 0, head.std, 1.0)
    return (z * (head.kernel[:, g] - head.kernel[:, r])).mean(axis=0), z


def tag_reasons(head: LinearHead, card: ModelCard, window_logits: np.ndarray, genre: str, runner_up: str,
                k: int = 6) -> list[TagReason]:
    """The ``k`` tags with the largest positive share of the margin of ``genre`` over ``runner_up``."""
    shares, z = tag_shares(head, card, window_logits, genre, runner_up)
    probability = (1 / (1 + np.exp(-np.asarray(window_logits, dtype=np.float64)))).mean(axis=0)
    names = tag_names(card)
    order = [j for j in np.argsort(-shares) if shares[j] > 0][:k]
    return [TagReason(names[j], float(probability[j]), float(shares[j]), bool(z[:, j].mean() > 0)) for j in order]
