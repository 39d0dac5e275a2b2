"""Patch features from frozen pre-trained taggers for whole audio datasets, with augmented copies.

For every track of one or more dataset folders (the first folder that has a track wins, so lossless
copies can be preferred: ``gtzan_flac`` before ``gtzan``), :func:`embedding_table` decodes the audio
once at 16 kHz, makes the clean version and ``spec.variants`` augmented ones (:mod:`core.data.augment`,
seeded per track and variant), cuts each into 3-s musicnn patches every ``spec.hop_s`` seconds (the
augmented ones from a random offset: random crops), and runs the frozen backbones
(:func:`core.models.transfer.backbone_model`) over all patches in batches. The result is one row per patch:
``track_id, label, variant, start_s`` and the feature columns :meth:`EmbeddingSpec.columns`.
Decoding and augmentation run in a process pool; the networks run in the calling process. As in
extraction, a file that cannot be read is that file's error row (``track_id, path, reason``, the columns
of :data:`core.data.store.ERROR_COLUMNS`) and the others go on.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

from core.data.augment import MODERN_CHAIN, augment
from core.data.dataset import Track, discover
from core.data.metadata import DatasetError
from core.data.store import ERROR_COLUMNS
from core.failures import failure_message
from core.features import musicnn

Progress = Callable[[str], None]
OUTPUT_SIZES = {"embedding": {"vgg": 256, "musicnn": 200}, "logits": {"vgg": 50, "musicnn": 50}}


@dataclass(frozen=True)
class EmbeddingSpec:
    """Which pre-trained outputs describe a patch, and how the training audio is cut and augmented."""

    backbones: tuple[str, ...] = ("msd_musicnn",)
    outputs: tuple[str, ...] = ("embedding", "logits")
    hop_s: float = 3.0
    variants: int = 2  # augmented copies of every track besides the clean one
    chain: tuple[str, ...] = MODERN_CHAIN
    seed: int = 42
    max_patches: int = 10  # per track, clean (a 30-s clip has 10 at a 3-s hop)
    augmented_patches: int = 10  # per augmented copy of a track

    def columns(self) -> list[str]:
        """Feature column names, backbone by backbone, output by output."""
        return [f"{b}.{o}.{i:03d}" for b in self.backbones for o in self.outputs
                for i in range(OUTPUT_SIZES[o][b.split("_")[-1]])]

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def key(self, augmented: bool) -> str:
        """A short hash of everything that decides the clean (or the augmented) patches."""
        ignored = {"backbones", "outputs"} | (set() if augmented else {"variants", "chain", "augmented_patches"})
        audio = {k: v for k, v in self.to_dict().items() if k not in ignored}
        return hashlib.sha256(json.dumps(audio, sort_keys=True).encode()).hexdigest()[:12]


def collect_tracks(sources: list[str | os.PathLike], limit: int | None = None,
                   genres: tuple[str, ...] | None = None) -> list[Track]:
    """The tracks of every source, by track id; a track found in several sources comes from the first.
    ``genres``: only those (ValueError when one has no track); ``limit``: only the first tracks (by id) of each genre."""
    chosen: dict[str, Track] = {}
    for source in sources:
        for track in discover(source):
            chosen.setdefault(track.track_id, track)
    tracks = [chosen[k] for k in sorted(chosen)]
    if genres is not None:
        tracks = [t for t in tracks if t.label in genres]
        missing = sorted(set(genres) - {t.label for t in tracks})
        if missing:
            raise ValueError(f"No tracks of {', '.join(missing)} in {', '.join(map(str, sources))}.")
    if limit is None:
        return tracks
    per_genre = Counter[str]()
    kept = []
    for track in tracks:
        per_genre[track.label] += 1
        if per_genre[track.label] <= limit:
            kept.append(track)
    return kept


def _rng(spec: EmbeddingSpec, track_id: str, variant: int) -> np.random.Generator:
    return np.random.default_rng([spec.seed, zlib.crc32(track_id.encode()), variant])


def track_patches(track: Track, spec: EmbeddingSpec, variants: range | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(patches (n, 187, 96) float16, variant per patch, start second per patch, the clean audio's
    seed-feature slice rows) of one track; the feature rows describe the genres (explanations).
    ``variants`` (default: all, 0 is the clean audio) limits which versions are cut."""
    from core.audio import load_audio
    from core.features.extract import extract

    audio = load_audio(track.path)
    described = extract(audio.y, audio.sr).slices.astype(np.float32)
    y16k = musicnn.to_16k(audio.y, audio.sr)
    patches, which, starts = [], [], []
    for variant in range(spec.variants + 1) if variants is None else variants:
        rng = _rng(spec, track.track_id, variant)
        y = y16k if variant == 0 else augment(y16k, musicnn.SAMPLE_RATE, spec.chain, rng)
        spec_frames = musicnn.log_mel(y)
        offset = 0.0 if variant == 0 else float(rng.uniform(0.0, spec.hop_s))
        last = max(len(y) / musicnn.SAMPLE_RATE - 3.0, 0.0)
        start_s = np.arange(min(offset, last), last + 1e-6, spec.hop_s)[: spec.augmented_patches if variant else spec.max_patches]
        patches.append(musicnn.patches_at(spec_frames, start_s).astype(np.float16))
        which.append(np.full(len(start_s), variant))
        starts.append(start_s)
    return np.concatenate(patches), np.concatenate(which), np.concatenate(starts), described


def _worker_init() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _patches_or_reason(track: Track, spec: EmbeddingSpec, variants: range | None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | str:
    """:func:`track_patches`, or why the track could not be read (never raises)."""
    try:
        return track_patches(track, spec, variants)
    except Exception as exc:  # a bug or a library failure on one file must not stop the run
        return failure_message(exc, track.path)


class PatchTables(NamedTuple):
    """What :func:`embedding_table` makes of a list of tracks."""

    table: pd.DataFrame  # one row per patch: identity columns, then :meth:`EmbeddingSpec.columns`
    described: pd.DataFrame  # the clean tracks' seed-feature slice rows (the genre statistics explanations read)
    failed: pd.DataFrame  # one row per track that could not be read: :data:`core.data.store.ERROR_COLUMNS`


def embedding_table(tracks: list[Track], spec: EmbeddingSpec, *, variants: range | None = None, workers: int = 1,
                    batch_size: int = 64, progress: Progress | None = None) -> PatchTables:
    """The patch table of ``tracks`` (``variants`` as in :func:`track_patches`); a track that cannot be read
    is a row of ``failed``, the others go on."""
    from core.features.schema import SEED
    from core.models.transfer import backbone_model, embed

    network = backbone_model(spec.backbones, spec.outputs)
    frames, features, described, failed = [], [], [], []

    def consume(track: Track, found: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | str) -> None:
        if isinstance(found, str):
            failed.append((track.track_id, track.path, found))
        else:
            add(track, found)
        if progress is not None:
            progress(track.track_id)

    def add(track: Track, found: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> None:
        patches, variants, starts, seed_rows = found
        features.append(embed(patches.astype(np.float32), network, batch_size))
        frames.append(pd.DataFrame({"track_id": track.track_id, "label": track.label, "path": track.path,
                                    "variant": variants.astype(np.int16), "start_s": starts.astype(np.float32)}))
        rows = pd.DataFrame(seed_rows, columns=list(SEED.columns))
        rows.insert(0, "label", track.label)
        rows.insert(0, "track_id", track.track_id)
        described.append(rows)

    if workers <= 1:
        for track in tracks:
            consume(track, _patches_or_reason(track, spec, variants))
    else:
        with ProcessPoolExecutor(workers, initializer=_worker_init) as pool:
            try:
                for track, found in zip(tracks, pool.map(_patches_or_reason, tracks, [spec] * len(tracks),
                                                         [variants] * len(tracks))):
                    consume(track, found)
            except BaseException:  # a stop (raised by ``progress``) or a failure: the queued tracks are not read
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    errors = pd.DataFrame(failed, columns=list(ERROR_COLUMNS))
    if not frames:
        raise DatasetError(f"None of the {len(tracks)} tracks could be read; the first: {failed[0][1]}: {failed[0][2]}"
                           if failed else "There are no tracks to read.")
    table = pd.concat(frames, ignore_index=True)
    values = pd.DataFrame(np.concatenate(features), columns=spec.columns())
    return PatchTables(pd.concat([table, values], axis=1), pd.concat(described, ignore_index=True), errors)


@dataclass
class CachedTables:
    """:func:`embedding_table` kept under ``folder``: the clean patches (and the genre description) in one
    file, the augmented ones in another, each named by what decides it, so runs that differ only in their
    augmentation reuse the clean features. The tracks that could not be read are kept beside them (``failed-``),
    and the augmented copies are made of the tracks that could."""

    folder: Path
    spec: EmbeddingSpec
    tracks: list[Track] = field(repr=False)

    def _path(self, kind: str, augmented: bool) -> Path:
        # Track ids and file names (not full paths), so the same dataset reached from another folder hits the cache.
        ids = hashlib.sha256("\n".join(f"{t.track_id}\t{t.label}\t{os.path.basename(t.path)}"
                                       for t in self.tracks).encode()).hexdigest()[:12]
        backbones = "+".join(self.spec.backbones) + "-" + "+".join(self.spec.outputs)
        return self.folder / f"{kind}-{backbones}-{self.spec.key(augmented)}-{ids}.parquet"

    def load_or_build(self, **kwargs) -> PatchTables:
        from core.data.store import write_parquet_atomic

        clean, described, failed = (self._path(kind, False) for kind in ("clean", "described", "failed-clean"))
        if not (clean.is_file() and described.is_file()):
            built = embedding_table(self.tracks, self.spec, variants=range(1), **kwargs)
            write_parquet_atomic(built.failed, failed)
            write_parquet_atomic(built.described, described)
            write_parquet_atomic(built.table, clean)
        tables = [pd.read_parquet(clean)]
        errors = [pd.read_parquet(failed) if failed.is_file() else pd.DataFrame(columns=list(ERROR_COLUMNS))]
        if self.spec.variants:
            augmented, augmented_failed = self._path("augmented", True), self._path("failed-augmented", True)
            if not augmented.is_file():
                readable = [t for t in self.tracks if t.track_id not in set(errors[0]["track_id"])]
                built = embedding_table(readable, self.spec, variants=range(1, self.spec.variants + 1), **kwargs)
                write_parquet_atomic(built.failed, augmented_failed)
                write_parquet_atomic(built.table, augmented)
            tables.append(pd.read_parquet(augmented))
            if augmented_failed.is_file():
                errors.append(pd.read_parquet(augmented_failed))
        return PatchTables(pd.concat(tables, ignore_index=True), pd.read_parquet(described),
                           pd.concat(errors, ignore_index=True).drop_duplicates("track_id"))


def nonmusic_table(spec: EmbeddingSpec, *, seed: int, per_kind: int, cache: Path | None = None,
                   batch_size: int = 64, progress: Progress | None = None) -> pd.DataFrame:
    """One row per 3-s window (side by side, as :func:`core.predict.classify` cuts them) of the generated
    non-music battery (:func:`core.data.nonmusic.battery`): ``clip, family, kind, start_s`` and
    :meth:`EmbeddingSpec.columns`. Kept under ``cache`` when given, named by what decides it."""
    from core.data import nonmusic
    from core.data.store import write_parquet_atomic
    from core.features.extract import slice_starts
    from core.models.transfer import backbone_model, embed

    decided = json.dumps({"seed": seed, "per_kind": per_kind, "version": nonmusic.VERSION,
                          "backbones": spec.backbones, "outputs": spec.outputs}, sort_keys=True)
    path = None if cache is None else Path(cache) / f"nonmusic-{hashlib.sha256(decided.encode()).hexdigest()[:12]}.parquet"
    if path is not None and path.is_file():
        return pd.read_parquet(path)
    network = backbone_model(spec.backbones, spec.outputs)
    frames, features = [], []
    for clip in nonmusic.battery(seed, per_kind):
        starts = slice_starts(len(clip.y), clip.sr, 3.0) / clip.sr
        features.append(embed(musicnn.patches_at(musicnn.log_mel(musicnn.to_16k(clip.y, clip.sr)), starts), network,
                              batch_size))
        frames.append(pd.DataFrame({"clip": clip.name, "family": clip.family, "kind": clip.kind,
                                    "start_s": starts.astype(np.float32)}))
        if progress is not None:
            progress(clip.name)
    table = pd.concat([pd.concat(frames, ignore_index=True),
                       pd.DataFrame(np.concatenate(features), columns=spec.columns())], axis=1)
    if path is not None:
        write_parquet_atomic(table, path)
    return table
