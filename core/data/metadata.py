"""Metadata CSVs: track id -> path -> genre, as FMA's ``tracks.csv`` lays out a dataset.

Two layouts are read (see ``examples/metadata/``):

* a flat CSV with the columns ``track_id``, ``genre`` (or ``genre_top``) and optionally ``path``;
* FMA's own ``tracks.csv`` (two header rows; the genre is ``track/genre_top``).

Paths are relative to the CSV's folder (which may be a URL, :mod:`core.storage`), absolute, or URLs.
A row without a path gets FMA's audio layout from its numeric id: track 2 is ``000/000002.mp3``,
track 155066 is ``155/155066.mp3``. Genres are labelled by :func:`genre_label`: GTZAN's ten matched without
regard to case or punctuation (FMA's ``Hip-Hop`` is ``hiphop``), any other kept in lower case (FMA's
``Electronic`` is ``electronic``: a model can learn any set of genres); rows without a genre are left
out, and how many is logged.

:class:`Track`, :class:`DatasetError` and :data:`AUDIO_EXTENSIONS`, which :mod:`core.data.dataset` and
:mod:`core.data.explore` build on, are defined here.
"""

from __future__ import annotations

import io
import logging
import os
import re
from dataclasses import dataclass

import pandas as pd

from core import storage
from core.features.schema import GENRES

AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".ogg", ".flac", ".au", ".m4a", ".aiff", ".aif"})  # what discovery lists
GENRE_COLUMNS = ("genre", "genre_top")
log = logging.getLogger(__name__)


class DatasetError(ValueError):
    """A dataset folder or manifest that cannot be used; the message says why."""


@dataclass(frozen=True)
class Track:
    """One audio file of a dataset: a unique id (relative path without extension), where, which genre."""

    track_id: str
    path: str
    label: str


def is_metadata_csv(table: pd.DataFrame) -> bool:
    """True for a CSV (read with one header row) in one of this module's layouts."""
    return "track_id" in table.columns or (len(table.columns) > 0 and str(table.columns[0]).startswith("Unnamed")
                                           and "track" in table.columns)


def fma_path(track_id: str) -> str:
    """FMA's relative audio path of a numeric track id (``000/000002.mp3``)."""
    number = int(track_id)
    return f"{number // 1000:03d}/{number:06d}.mp3"


def genre_key(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def genre_label(name: str) -> str | None:
    """The label of a genre name: one of GTZAN's ten when it is one without regard to case and punctuation
    (``Hip-Hop`` -> ``hiphop``), else the name in lower case with its spaces tidied (``Old-Time /
    Historic`` -> ``old-time / historic``); None for a blank name."""
    tidy = " ".join(str(name).split()).lower()
    return _GTZAN_KEYS.get(genre_key(tidy), tidy) or None


_GTZAN_KEYS = {genre_key(g): g for g in GENRES}


def read_metadata(csv: str | os.PathLike) -> list[Track]:
    """The tracks of a metadata CSV that have a genre (:func:`genre_label`), in file order."""
    csv = storage.location(csv)
    name = storage.name(csv)
    table = _flat_table(csv)
    base = storage.parent(csv)
    tracks, skipped = [], 0
    for row, (track_id, path, genre) in enumerate(zip(table["track_id"], table["path"], table["genre"]), start=2):
        label = genre_label(genre)
        if label is None:
            skipped += 1
            continue
        if not track_id.strip():
            raise DatasetError(f"{name}, row {row}: empty track_id.")
        if not path.strip():
            if not track_id.strip().isdigit():
                raise DatasetError(f"{name}, row {row}: no path, and track id {track_id!r} is not an FMA number.")
            path = fma_path(track_id)
        tracks.append(Track(track_id.strip(), str(storage.resolve(base, path)), label))
    if skipped:
        log.warning("%s: %d of %d rows left out (no genre)", name, skipped, len(table))
    if not tracks:
        raise DatasetError(f"{name}: no row has a genre.")
    return tracks


def _flat_table(csv: storage.Location) -> pd.DataFrame:
    """track_id, path, genre columns (strings) of either layout."""
    name = storage.name(csv)
    try:
        text = io.BytesIO(storage.read_bytes(csv))
        first = pd.read_csv(text, dtype=str, keep_default_na=False, nrows=0)
        text.seek(0)
        if "track_id" in first.columns:
            table = pd.read_csv(text, dtype=str, keep_default_na=False)
        else:  # FMA tracks.csv: header rows (section, field), then a row naming the index "track_id"
            fma = pd.read_csv(text, dtype=str, keep_default_na=False, header=[0, 1], index_col=0, skiprows=[2])
            table = pd.DataFrame({"track_id": fma.index.astype(str), "genre": fma[("track", "genre_top")].to_numpy()})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, KeyError) as exc:
        raise DatasetError(f"{name} is not a readable metadata CSV ({exc}).") from None
    genre = next((c for c in GENRE_COLUMNS if c in table.columns), None)
    if genre is None:
        raise DatasetError(f"{name} needs a genre column ({' or '.join(GENRE_COLUMNS)}) beside track_id.")
    path = table["path"] if "path" in table.columns else pd.Series("", index=table.index)
    return pd.DataFrame({"track_id": table["track_id"], "path": path, "genre": table[genre]})
