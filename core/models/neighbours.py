"""The training songs closest to a recording, and whether it is unlike all of them ("not one of the ten").

A tag-reading model (``musicnn_linear``) reads each 3-s window as the 50 tag logits of a frozen tagger. A
song is described by the mean of its windows' tag vectors; :class:`NeighbourIndex` keeps the mean tag vector of
every training track (with its id and genre) and compares a song with them after standardising each tag by
its spread over the training tracks. Two answers come from the same distances:

- :meth:`NeighbourIndex.closest`: the nearest training songs (evidence by example, under "Why" on the page);
- :meth:`NeighbourIndex.distance`: the root-mean-square distance to the ``k`` nearest training songs, which
  the *novelty threshold* turns into "unlike the genres it knows". The threshold is a quantile of the
  distances of held-out GTZAN songs (each measured against an index built without its fold), so it is
  fitted, never hand-set: :func:`novelty_threshold`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

DECIMALS = 4  # the card keeps the track vectors to 4 decimals
K_NEAREST = 5
NOVELTY_QUANTILE = 0.98


@dataclass(frozen=True)
class Neighbour:
    """One training song close to a recording."""

    track_id: str  # e.g. "rock/rock.00012"
    label: str
    distance: float  # root-mean-square standardised tag difference


@dataclass(frozen=True)
class Novelty:
    """How far a recording is from the training songs, and the closest of them."""

    distance: float  # :meth:`NeighbourIndex.distance`
    threshold: float  # above it, the recording is unlike the genres the model knows
    closest: tuple[Neighbour, ...]

    @property
    def novel(self) -> bool:
        return self.distance > self.threshold


@dataclass(frozen=True, eq=False)
class NeighbourIndex:
    """Training tracks' mean tag vectors (``vectors[i]`` for ``track_ids[i]``, genre ``labels[i]``) and how
    far is too far (``threshold``, the ``quantile`` of held-out distances)."""

    track_ids: tuple[str, ...]
    labels: tuple[str, ...]
    vectors: np.ndarray  # (n_tracks, n_tags)
    mean: np.ndarray  # (n_tags,) standardisation: the tracks' mean ...
    scale: np.ndarray  # ... and standard deviation per tag
    k: int = K_NEAREST
    threshold: float = float("inf")
    quantile: float = NOVELTY_QUANTILE

    @classmethod
    def build(cls, vectors: np.ndarray, track_ids: Sequence[str] | np.ndarray, labels: Sequence[str] | np.ndarray,
              k: int = K_NEAREST) -> NeighbourIndex:
        """An index of these track vectors (rounded as the card keeps them), with no threshold yet."""
        vectors = np.round(np.asarray(vectors, dtype=np.float64), DECIMALS)
        scale = vectors.std(axis=0)
        return cls(tuple(map(str, track_ids)), tuple(map(str, labels)), vectors, np.round(vectors.mean(axis=0), DECIMALS),
                   np.round(np.where(scale > 0, scale, 1.0), DECIMALS), min(k, len(vectors)))

    def distances(self, tags: np.ndarray) -> np.ndarray:
        """Distance from a recording (its windows' tag vectors ``(n_windows, n_tags)``, or their mean) to every
        training track."""
        tags = np.asarray(tags, dtype=np.float64)
        song = tags.mean(axis=0) if tags.ndim == 2 else tags
        z = (song - self.mean) / self.scale
        ref = (self.vectors - self.mean) / self.scale
        return np.sqrt(((ref - z) ** 2).mean(axis=1))

    def distance(self, tags: np.ndarray) -> float:
        """The novelty distance: mean distance to the ``k`` nearest training tracks."""
        return self._nearest_mean(self.distances(tags))

    def _nearest_mean(self, found: np.ndarray) -> float:
        return float(np.sort(found)[: self.k].mean())

    def novelty(self, tags: np.ndarray, n: int = 5) -> Novelty:
        """The recording's :class:`Novelty`: its distance and its ``n`` closest training tracks (one pass over
        the training tracks for both)."""
        found = self.distances(tags)
        return Novelty(self._nearest_mean(found), self.threshold, self._closest(found, n))

    def closest(self, tags: np.ndarray, n: int = 5) -> tuple[Neighbour, ...]:
        """The ``n`` nearest training tracks, nearest first."""
        return self._closest(self.distances(tags), n)

    def _closest(self, found: np.ndarray, n: int) -> tuple[Neighbour, ...]:
        order = np.argsort(found, kind="stable")[:n]
        return tuple(Neighbour(self.track_ids[i], self.labels[i], float(found[i])) for i in order)

    def with_threshold(self, threshold: float, quantile: float) -> NeighbourIndex:
        return NeighbourIndex(self.track_ids, self.labels, self.vectors, self.mean, self.scale, self.k,
                              float(threshold), float(quantile))

    def to_dict(self) -> dict[str, Any]:
        return {"method": f"mean distance to the {self.k} nearest training tracks' mean tag vectors (standardised); "
                          f"novel above the {self.quantile:g} quantile of held-out GTZAN distances",
                "k": self.k, "threshold": round(self.threshold, 6), "quantile": self.quantile,
                "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "track_ids": list(self.track_ids), "labels": list(self.labels),
                "vectors": np.round(self.vectors, DECIMALS).tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NeighbourIndex:
        return cls(tuple(d["track_ids"]), tuple(d["labels"]), np.asarray(d["vectors"], dtype=np.float64),
                   np.asarray(d["mean"], dtype=np.float64), np.asarray(d["scale"], dtype=np.float64), int(d["k"]),
                   float(d["threshold"]), float(d["quantile"]))


def novelty_threshold(held_out_distances: np.ndarray, quantile: float = NOVELTY_QUANTILE) -> float:
    """The distance above which a song counts as novel: the ``quantile`` of held-out GTZAN songs' distances
    (each measured against an index of the other folds' tracks)."""
    return float(np.quantile(np.asarray(held_out_distances, dtype=np.float64), quantile))
