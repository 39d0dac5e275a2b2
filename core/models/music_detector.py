"""Does it sound like music? A per-window detector on the tagger's tag logits, fitted on music and non-music.

The default model already computes, for every 3-s window, the 50 tag logits of the MSD_musicnn tagger
(:mod:`core.models.tag_evidence`). :class:`MusicDetector` is a class-weighted logistic regression on those
logits, standardised, that tells music (the training tracks' windows) from the generated non-music battery
(:mod:`core.data.nonmusic`: speech, noise, tones, hum, clicks, applause, room tone, animals, effects,
near-silence). A window is music when its score reaches :attr:`MusicDetector.threshold`; a recording is
music when at least :attr:`MusicDetector.min_share` of its windows are.

:func:`fit_music_detector` fits both numbers from held-out data only: the music tracks and the battery's
clips are split into folds together (a track's or a clip's windows never on both sides), and the window
threshold is the largest score quantile of the held-out music windows whose track rule flags at most
``max_track_false_alarm`` of the held-out music tracks. It reports the cross-validated rates: music tracks
flagged, battery clips flagged per family, and each family flagged by a detector that never saw that
family (does it generalise to a kind of sound it was not shown?).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

WINDOW_FALSE_ALARMS = tuple(round(0.0025 * k, 4) for k in range(1, 41))  # 0.25% to 10% of music windows


@dataclass(frozen=True, eq=False)  # arrays: compare to_dict()
class MusicDetector:
    """``score = ((logits - mean) / scale) @ coef + intercept``; a window is music when ``score >= threshold``."""

    mean: np.ndarray  # (n_tags,)
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float
    min_share: float = 0.5  # a recording is music when at least this share of its windows is
    rates: dict[str, Any] = field(default_factory=dict)  # cross-validated, for people

    def scores(self, logits: np.ndarray) -> np.ndarray:
        """The windows' music scores (higher: more like music)."""
        z = (np.asarray(logits, dtype=np.float64) - self.mean) / self.scale
        return z @ self.coef + self.intercept

    def window_music(self, logits: np.ndarray) -> np.ndarray:
        """Per window (rows of tag logits ``(n, n_tags)``): does it sound like music?"""
        return self.scores(logits) >= self.threshold

    def is_music(self, window_music: np.ndarray) -> bool:
        """The recording's verdict from its windows' (:meth:`window_music`)."""
        return bool(len(window_music)) and float(np.mean(window_music)) >= self.min_share

    def to_dict(self) -> dict[str, Any]:
        def rounded(a: np.ndarray) -> list[float]:
            return [round(float(v), 6) for v in a]

        return {"method": "logistic regression on standardised MSD_musicnn tag logits, class-weighted",
                "mean": rounded(self.mean), "scale": rounded(self.scale), "coef": rounded(self.coef),
                "intercept": round(float(self.intercept), 6), "threshold": round(float(self.threshold), 6),
                "min_share": self.min_share, "rates": self.rates}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MusicDetector":
        return cls(np.asarray(d["mean"], dtype=np.float64), np.asarray(d["scale"], dtype=np.float64),
                   np.asarray(d["coef"], dtype=np.float64), float(d["intercept"]), float(d["threshold"]),
                   float(d.get("min_share", 0.5)), dict(d.get("rates", {})))


def _fit(x: np.ndarray, music: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit((x - mean) / scale, music)
    return mean, scale, model.coef_[0], float(model.intercept_[0])


def _scores(params: tuple[np.ndarray, np.ndarray, np.ndarray, float], x: np.ndarray) -> np.ndarray:
    """Scores of ``x`` under fitted ``params`` (:meth:`MusicDetector.scores`; no threshold needed)."""
    return MusicDetector(*params, threshold=0.0).scores(x)


def _flagged(music_windows: np.ndarray, groups: np.ndarray, min_share: float) -> pd.Series:
    """Per group (track or clip): flagged as not music by the track rule."""
    return pd.Series(music_windows).groupby(groups).mean() < min_share


def fit_music_detector(music_x: np.ndarray, music_tracks: np.ndarray, music_labels: np.ndarray,
                       other_x: np.ndarray, other_clips: np.ndarray, other_families: np.ndarray, *,
                       music_recorded: np.ndarray | None = None, c: float = 1.0, folds: int = 5, seed: int = 42,
                       min_share: float = 0.5, max_track_false_alarm: float = 0.01) -> MusicDetector:
    """A detector fitted on the tag logits of music windows (``music_x``, with track ids and genre labels:
    the folds are grouped by track and stratified by genre) and of non-music windows (``other_x``, with clip
    ids and families). ``music_recorded`` marks music windows of recorded copies of the tracks (quiet, in a
    room: :data:`core.data.augment.RECORDED_CHAIN`): music to learn from, judged apart from the tracks
    themselves (the threshold keeps the tracks' false alarms within budget). Deterministic: the same data
    and seed give the same detector."""
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    music_x, other_x = np.asarray(music_x, dtype=np.float64), np.asarray(other_x, dtype=np.float64)
    x = np.vstack([music_x, other_x])
    is_music = np.r_[np.ones(len(music_x), bool), np.zeros(len(other_x), bool)]
    tracks = np.unique(music_tracks)
    track_label = pd.Series(music_labels, index=music_tracks).groupby(level=0).first().loc[tracks].to_numpy()
    clips = np.unique(other_clips)
    music_fold = np.zeros(len(music_x), int)
    for k, (_, held) in enumerate(StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
                                  .split(tracks, track_label, tracks)):
        music_fold[np.isin(music_tracks, tracks[held])] = k
    clip_fold = np.zeros(len(clips), int)
    for k, (_, held) in enumerate(GroupKFold(folds).split(clips, groups=clips)):
        clip_fold[held] = k
    fold = np.r_[music_fold, pd.Series(clip_fold, index=clips).loc[other_clips].to_numpy()]
    held_out = np.zeros(len(x))
    for k in range(folds):
        held_out[fold == k] = _scores(_fit(x[fold != k], is_music[fold != k], c), x[fold == k])
    recorded = np.zeros(len(music_x), bool) if music_recorded is None else np.asarray(music_recorded, bool)
    music_scores, other_scores = held_out[is_music][~recorded], held_out[~is_music]
    music_tracks_all, music_tracks = music_tracks, music_tracks[~recorded]

    # The window threshold: the largest held-out music-window quantile whose track rule stays within the
    # track false-alarm budget (more non-music caught, at the cost of a few music windows shown as not music).
    threshold = float(np.quantile(music_scores, WINDOW_FALSE_ALARMS[0]))
    for q in WINDOW_FALSE_ALARMS:
        candidate = float(np.quantile(music_scores, q))
        if _flagged(music_scores >= candidate, music_tracks, min_share).mean() <= max_track_false_alarm:
            threshold = candidate
    families = np.unique(other_families)
    unseen = np.zeros(len(other_x))
    for family in families:  # each family scored by a detector fitted without it
        keep = np.r_[np.ones(len(music_x), bool), other_families != family]
        unseen[other_families == family] = _scores(_fit(x[keep], is_music[keep], c), other_x[other_families == family])

    def per_family(scores: np.ndarray) -> dict[str, float]:
        flagged = _flagged(scores >= threshold, other_clips, min_share)
        family_of = pd.Series(other_families, index=other_clips).groupby(level=0).first()
        return {str(f): round(float(v), 4) for f, v in flagged.groupby(family_of.loc[flagged.index].to_numpy()).mean().items()}

    music_flagged = _flagged(music_scores >= threshold, music_tracks, min_share)
    rates = {
        "protocol": (f"{folds} folds, music grouped by track (stratified by genre), non-music grouped by clip "
                     f"(seed {seed}); unseen families: each family left out of the fit in turn"),
        "music_tracks": int(len(tracks)), "music_tracks_flagged": round(float(music_flagged.mean()), 4),
        "music_windows_flagged": round(float(np.mean(music_scores < threshold)), 4),
        **({"recorded_music_flagged": round(float(_flagged(held_out[is_music][recorded] >= threshold,
                                                           music_tracks_all[recorded], min_share).mean()), 4)}
           if recorded.any() else {}),
        "nonmusic_clips": int(len(clips)),
        "nonmusic_clips_flagged": round(float(_flagged(other_scores >= threshold, other_clips, min_share).mean()), 4),
        "nonmusic_flagged_by_family": per_family(other_scores),
        "unseen_family_flagged": per_family(unseen),
    }
    return MusicDetector(*_fit(x, is_music, c), threshold=threshold, min_share=min_share, rates=rates)


def music_detector(reliability: dict[str, Any]) -> MusicDetector | None:
    """The music detector stored in a model card's ``reliability["music"]``, or None when it has none."""
    found = reliability.get("music")
    return MusicDetector.from_dict(found) if found else None
