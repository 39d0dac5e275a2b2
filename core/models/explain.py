"""Why a model said what it said, measured on the model itself, per kind of model input.

:func:`explain` dispatches on the inputs a model reads (``model.json``'s ``inputs``, see
:mod:`core.models.model_inputs`) through :data:`EXPLAINERS`:

- ``features`` models: occlusion. Each feature of the clip is set, one at a time, to a neutral value
  (the average of the genres' training means, from the statistics saved with the model) and the clip
  is classified again; a feature's *effect* is how much the verdict's probability falls without it.
  Only features that support the verdict (positive effect) are reasons, strongest first.
- ``musicnn`` models that read pre-trained tag logits through a linear head (the default model):
  each tag's exact share of the verdict's margin over the runner-up (:mod:`core.models.tag_evidence`).
- other inputs (spectrogram, pre-trained embeddings): no measured reasons yet; the page shows the
  model's own evidence (the genre of every window) and labels any feature comparison as description.
  A new input kind adds its explainer to :data:`EXPLAINERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from core.models.model_card import FeatureStats
from core.models.model_inputs import INPUT_NAMES, input_kinds
from core.models.tag_evidence import TagReason, explains_with_tags, tag_reasons

if TYPE_CHECKING:
    from core.features.extract import Extraction
    from core.models.inference import Network
    from core.models.registry import LoadedModel

ROWS_PER_CALL = 4096  # occlusion's copies of the rows go through the network in calls of this many rows


@dataclass(frozen=True)
class Reason:
    """One feature's measured effect on the verdict: probability with the clip's value and without it."""

    feature: str
    value: float  # the clip's value (mean over the judged rows)
    neutral: float  # what it was replaced with
    probability: float  # the verdict's probability as classified
    without: float  # ... with this feature set to ``neutral``

    @property
    def effect(self) -> float:
        return self.probability - self.without


@dataclass(frozen=True)
class Explanation:
    """What can be said about one verdict: measured reasons (``faithful``) or none, and how."""

    faithful: bool
    method: str  # one sentence for people: how the reasons were measured, or why there are none
    reasons: list[Reason] = field(default_factory=list)
    tags: list[TagReason] = field(default_factory=list)  # for tag models: the tags behind the verdict


def probabilities(network: Network, x: np.ndarray) -> np.ndarray:
    """The genre probabilities (float64) of a feature model's ``network`` for the rows of ``x``."""
    x = np.asarray(x, dtype=np.float32)
    try:
        return np.concatenate([np.asarray(network.run([x[i:i + ROWS_PER_CALL]])[-1], dtype=np.float64)
                               for i in range(0, len(x), ROWS_PER_CALL)])
    finally:
        network.release()


def occlusion(network: Network, rows: np.ndarray, columns: list[str], genre_index: int,
              feature_stats: FeatureStats | None, k: int = 6) -> Explanation:
    """Occlusion reasons for a feature model (its runnable ``network``) judging ``rows`` (the track's verdict
    is their mean)."""
    genres = feature_stats.genres if feature_stats else {}
    if not genres or any(c not in stats for stats in genres.values() for c in columns):
        return Explanation(False, "This model has no genre statistics saved with it, so the effect of each "
                                  "feature cannot be measured.")
    neutral = np.mean([[stats[c].mean for c in columns] for stats in genres.values()], axis=0)
    n, width = rows.shape
    batch = np.repeat(rows[None, :, :], width + 1, axis=0)  # copy 0: as is; copy j+1: feature j neutral
    batch[np.arange(1, width + 1), :, np.arange(width)] = neutral[:, None]
    probs = probabilities(network, batch.reshape(-1, width))[:, genre_index].reshape(width + 1, n).mean(axis=1)
    reasons = [Reason(c, float(rows[:, j].mean()), float(neutral[j]), float(probs[0]), float(probs[j + 1]))
               for j, c in enumerate(columns)]
    supporting = sorted((r for r in reasons if r.effect > 1e-4), key=lambda r: -r.effect)[:k]
    return Explanation(True, "Each feature was set, one at a time, to the average of the genres' training "
                             "means and the clip classified again: these lowered the verdict's probability "
                             "most, so they are what the model relied on.", supporting)


def _features(model: LoadedModel, genres: list[str], rows: Extraction | None, tag_logits: np.ndarray | None,
              k: int) -> Explanation | None:
    """A feature model's occlusion reasons over the rows it judged: the track's row for a track-level model
    (or a clip too short for a slice), else the slices' rows."""
    if rows is None:
        return None
    x = rows.track[None, :] if model.info.level == "track" or not len(rows.slices) else rows.slices
    return occlusion(model.network, np.asarray(x, np.float64), list(model.schema.columns),
                     model.classes.index(genres[0]), model.info.card.feature_stats, k)


def _tags(model: LoadedModel, genres: list[str], rows: Extraction | None, tag_logits: np.ndarray | None,
          k: int) -> Explanation | None:
    """A tag model's reasons (None for other musicnn models: they get the general answer)."""
    head = model.network.head
    if head is None or not explains_with_tags(model.info.card) or tag_logits is None or len(genres) < 2:
        return None
    reasons = tag_reasons(head, model.info.card, tag_logits, genres[0], genres[1], k)
    return Explanation(True, "This model reads the 50 tags a network trained on ~200,000 real songs hears in each "
                             "window, through a linear layer; these tags account for most of the lead of the "
                             "verdict over the runner-up (the model's own arithmetic, averaged over the windows).",
                       tags=reasons)


EXPLAINERS: dict[tuple[str, ...], Callable] = {("features",): _features, ("musicnn",): _tags}


def explain(model: LoadedModel, genres: list[str], *, rows: Extraction | None = None,
            tag_logits: np.ndarray | None = None, k: int = 6) -> Explanation:
    """Why ``model`` put ``genres[0]`` first (``genres``: the verdict's genres, best first; the runner-up
    second), measured on what it judged: the feature ``rows`` of a feature model, the ``tag_logits`` of the
    windows a tag model's verdict heard. :func:`core.predict.classify` asks it for every verdict."""
    kinds = input_kinds(model.info.card)
    explainer = EXPLAINERS.get(kinds)
    found = explainer(model, genres, rows, tag_logits, k) if explainer is not None else None
    if found is None:
        reads = " and ".join(INPUT_NAMES.get(kind, kind) for kind in kinds)
        return Explanation(False, f"This model's input is {reads}, not the audio features below, and no measure of its "
                                  "reasons exists for that input yet. Its own evidence is the genre of each "
                                  "window along the song.")
    return found
