"""Networks trained on audio folders: ``seed_mlp`` on seed features, ``mel_cnn`` on log-mel spectrograms,
``vgg_transfer`` (a head on the frozen musicnn VGG embedding) and their ``ensemble``.

:func:`clip_tables` decodes every track once (:func:`decode_clip`: its seed-feature rows, its quantised
log-mel spectrogram and the VGG embeddings of its 3-s musicnn patches), in a process pool, optionally kept
under a cache folder named by the tracks (every architecture here reads it, so a second run on the same audio,
of any of them, skips the decoding); a file that cannot be read is skipped with its reason.
:func:`train_network` trains one architecture on them (the ensemble: the three, averaged) and returns the
deployable model with its card. It reports its stages (the tracks decoded, the embedding batches, each
network's epochs) and stops on request through :class:`core.models.train.Stages`, as the default model's recipe
does. Every step is seeded: the same audio and settings give the same weights.
(The default model's recipe, ``musicnn_linear``, is :mod:`core.models.transfer_train`.)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from core.data.dataset import Track, init_worker, pool_context
from core.data.metadata import DatasetError
from core.failures import failure_message
from core.features.spectrograms import SpectrogramSet, read_spectrograms, spectrogram_row, write_spectrograms
from core.models.model_card import ModelCard, model_card
from core.models.train import Stages, TrainConfig, TrainHistory

ARCHITECTURES = ("seed_mlp", "mel_cnn", "vgg_transfer", "ensemble")
VGG_COLUMNS = tuple(f"vgg{i:03d}" for i in range(256))
INPUTS = {"seed_mlp": ("features",), "mel_cnn": ("log_mel",), "vgg_transfer": ("musicnn",),
          "ensemble": ("features", "log_mel", "musicnn")}
Progress = Callable[[str], None]
EMBED_CHUNK = 640  # patches embedded between two progress reports (a multiple of embed's batch: same numbers)


@dataclass(frozen=True)
class NetworkRecipe:
    """The settings of every member (the defaults are what the shipped ``clips100-*`` models were trained with);
    ``cnn_config`` and ``head_config`` are builder settings of ``mel_cnn`` and ``vgg_head`` (learning rate, dropout),
    the MLP's are in ``mlp.model_config``."""

    seed: int = 42
    mlp: TrainConfig = field(default_factory=lambda: TrainConfig(architecture="seed_mlp", level="slice"))
    cnn_epochs: int = 12
    cnn_crops: int = 2  # random crops per track and epoch
    cnn_batch_size: int = 32
    head_epochs: int = 60
    head_batch_size: int = 64
    cnn_config: dict[str, Any] = field(default_factory=dict)
    head_config: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClipTables:
    """Every track decoded once: seed-feature rows (whole track + 3-s slices), spectrograms, VGG embeddings."""

    seed: pd.DataFrame
    spectrograms: SpectrogramSet
    vgg: pd.DataFrame
    failed: list[tuple[str, str]]  # (path, reason) of the tracks that could not be read


def decode_clip(path: str, track_id: str, label: str) -> tuple[pd.DataFrame, dict, np.ndarray, np.ndarray] | str:
    """One decode of a clip: seed feature rows, spectrogram cache row, musicnn patches and their starts (s);
    or why it could not be read (never raises)."""
    from core.audio import load_audio
    from core.features import musicnn
    from core.features.extract import compute_signals, extract_signals
    from core.features.schema import SEED

    try:
        audio = load_audio(path)
        signals = compute_signals(audio.y, audio.sr, SEED.signals)
        extraction = extract_signals(signals, SEED)
        starts_s = extraction.slice_starts / audio.sr
        patches = musicnn.patches_at(musicnn.log_mel(musicnn.to_16k(audio.y, audio.sr)), starts_s)
    except Exception as exc:  # a bug or a library failure on one file must not stop the run
        return failure_message(exc, path)
    return (extraction.table(track_id, path, label), spectrogram_row(track_id, path, label, signals.log_mel),
            patches.astype(np.float16), starts_s)


def clip_tables(tracks: list[Track], *, workers: int = 1, cache: Path | None = None,
                progress: Progress | None = None, stages: Stages | None = None) -> ClipTables:
    """:class:`ClipTables` of ``tracks`` (read from ``cache`` when it holds them, else built and kept there);
    ``stages`` hears each track decoded (``decode``) and each chunk of patches embedded (``embeddings``), and may
    stop the run (nothing is cached then)."""
    from core.data.store import write_parquet_atomic
    from core.features import musicnn
    from core.models.transfer import embed

    stages = stages or Stages()
    stages.step("decode", 0, len(tracks))
    folder = None
    if cache is not None:
        ids = hashlib.sha256("\n".join(f"{t.track_id}\t{t.label}\t{os.path.basename(t.path)}"
                                       for t in tracks).encode()).hexdigest()[:12]
        folder = Path(cache) / f"clips-{ids}"
        if all((folder / f).is_file() for f in ("seed.parquet", "mel.parquet", "vgg.parquet", "failed.parquet")):
            failed = pd.read_parquet(folder / "failed.parquet")
            stages.step("decode", len(tracks), len(tracks))
            return ClipTables(pd.read_parquet(folder / "seed.parquet"), read_spectrograms(folder / "mel.parquet"),
                              pd.read_parquet(folder / "vgg.parquet"), list(zip(failed["path"], failed["reason"])))
    tables, mel_rows, vgg_parts, patches, failed_rows = [], [], [], [], []
    with contextlib.ExitStack() as stack:
        if workers <= 1:
            decoded: Iterable = (decode_clip(t.path, t.track_id, t.label) for t in tracks)
        else:
            pool = stack.enter_context(ProcessPoolExecutor(min(workers, len(tracks)), mp_context=pool_context(),
                                                           initializer=init_worker,
                                                           initargs=(os.getpid(), dict(os.environ))))
            stack.callback(pool.shutdown, wait=False, cancel_futures=True)  # a stop: the queued tracks are not read
            decoded = pool.map(decode_clip, [t.path for t in tracks], [t.track_id for t in tracks],
                               [t.label for t in tracks])
        for i, (track, found) in enumerate(zip(tracks, decoded), 1):
            stages.step("decode", i, len(tracks))
            if isinstance(found, str):
                failed_rows.append((track.path, found))
                if progress is not None:
                    progress(f"skipped {track.path}: {found}")
                continue
            table, mel_row, track_patches, starts_s = found
            tables.append(table)
            mel_rows.append(mel_row)
            patches.append(track_patches)
            vgg_parts.append(pd.DataFrame({"track_id": track.track_id, "label": track.label,
                                           "patch": np.arange(len(starts_s)), "start_s": starts_s}))
            if progress is not None and (i % 25 == 0 or i == len(tracks)):
                progress(f"{i}/{len(tracks)} tracks decoded")
    if not tables:
        raise DatasetError(f"None of the {len(tracks)} tracks could be read"
                           + (f"; the first: {failed_rows[0][0]}: {failed_rows[0][1]}" if failed_rows else "."))
    every = np.concatenate(patches).astype(np.float32)
    chunks = range(0, len(every), EMBED_CHUNK)
    embedded, network = [], musicnn.load_embedding()
    for done, start in enumerate(chunks):
        stages.step("embeddings", done, len(chunks))
        embedded.append(embed(every[start:start + EMBED_CHUNK], network))
    stages.step("embeddings", len(chunks), len(chunks))
    embeddings = np.concatenate(embedded)
    vgg = pd.concat([pd.concat(vgg_parts, ignore_index=True), pd.DataFrame(embeddings, columns=list(VGG_COLUMNS))],
                    axis=1)
    spectrograms = SpectrogramSet([r["track_id"] for r in mel_rows], [r["label"] for r in mel_rows],
                                  [np.frombuffer(r["codes"], np.uint8).reshape(r["n_mels"], r["n_frames"])
                                   for r in mel_rows])
    out = ClipTables(pd.concat(tables, ignore_index=True), spectrograms, vgg, failed_rows)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        write_parquet_atomic(out.seed, folder / "seed.parquet")
        write_spectrograms(mel_rows, folder / "mel.parquet")
        write_parquet_atomic(vgg, folder / "vgg.parquet")
        write_parquet_atomic(pd.DataFrame(failed_rows, columns=["path", "reason"]), folder / "failed.parquet")
    return out


def head_rows(vgg: pd.DataFrame, tracks: set[str], classes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(embeddings, labels, track ids) of the patches of ``tracks``."""
    part = vgg[vgg["track_id"].isin(tracks)]
    index = {c: i for i, c in enumerate(classes)}
    return (part[list(VGG_COLUMNS)].to_numpy(np.float32), part["label"].map(index).to_numpy(np.int64),
            part["track_id"].to_numpy(str))


def train_head(x: np.ndarray, y: np.ndarray, n_classes: int, recipe: NetworkRecipe,
               stages: Stages | None = None) -> tuple[Any, TrainHistory]:
    """The ``vgg_head`` fitted on patch embeddings (class-balanced, a fixed number of epochs; its epochs reported
    to ``stages`` as the ``vgg_transfer`` stage)."""
    from core.keras_env import seed_everything, tf
    from core.models.builders import build_model
    from core.models.train import class_weights, fit

    seed_everything(recipe.seed)
    per_class = class_weights(y)
    weights = np.array([per_class[int(c)] for c in y], dtype=np.float32)
    data = tf.data.Dataset.from_tensor_slices((x, y, weights)).shuffle(len(y), seed=recipe.seed).batch(
        recipe.head_batch_size)
    model = build_model("vgg_head", x, n_classes, **recipe.head_config)
    stages = stages or Stages()
    return model, fit(model, data, recipe.head_epochs, monitor="loss", listeners=[stages.epochs("vgg_transfer")],
                      stop=stages.stop)


def members(clips: ClipTables, architecture: str, recipe: NetworkRecipe,
            stages: Stages | None = None) -> dict[str, tuple[Any, TrainHistory]]:
    """The trained networks ``architecture`` needs (the ensemble: all three, one after the other), by architecture
    name; each is a stage of ``stages`` (its epochs), which may stop the run (:class:`TrainingStopped`)."""
    from core.data.training_data import training_rows
    from core.models.cnn import train_cnn
    from core.models.train import train
    from core.models.transfer import transfer_model

    stages = stages or Stages()
    rows = training_rows(clips.seed, "slice")
    out: dict[str, tuple[Any, TrainHistory]] = {}
    if architecture in ("seed_mlp", "ensemble"):
        stages.step("seed_mlp", 0, recipe.mlp.epochs)
        out["seed_mlp"] = train(replace(recipe.mlp, seed=recipe.seed), rows, [stages.epochs("seed_mlp")], stages.stop)
        stages.check()
    if architecture in ("mel_cnn", "ensemble"):
        stages.step("mel_cnn", 0, recipe.cnn_epochs)
        out["mel_cnn"] = train_cnn(clips.spectrograms, rows.classes, seed=recipe.seed, epochs=recipe.cnn_epochs,
                                   crops_per_track=recipe.cnn_crops, batch_size=recipe.cnn_batch_size,
                                   listeners=[stages.epochs("mel_cnn")], stop=stages.stop, **recipe.cnn_config)
        stages.check()
    if architecture in ("vgg_transfer", "ensemble"):
        stages.step("vgg_transfer", 0, recipe.head_epochs)
        x, y, _ = head_rows(clips.vgg, set(rows.groups), rows.classes)
        head, history = train_head(x, y, len(rows.classes), recipe, stages)
        stages.check()
        out["vgg_transfer"] = (transfer_model(head), history)
    return out


def train_network(sources: list[str | os.PathLike], architecture: str, recipe: NetworkRecipe, *, workers: int = 1,
                  cache: Path | None = None, limit: int | None = None, genres: tuple[str, ...] | None = None,
                  progress: Progress | None = None, stages: Stages | None = None, command: str = "",
                  source: str | None = None) -> tuple[Any, ModelCard]:
    """(deployable Keras model, its card) of ``architecture`` trained on every track of ``sources`` (the first
    folder that has a track wins; ``genres``: only those; ``limit``: only the first tracks of each genre;
    ``source``: what the card names as the data, default the paths). ``stages`` hears every stage and may stop
    the run (:class:`core.models.train.TrainingStopped`: nothing is kept)."""
    from core.data.training_data import training_rows
    from core.models.model_inputs import ensemble_model
    from core.models.transfer_data import collect_tracks

    if architecture not in ARCHITECTURES:
        raise ValueError(f"Unknown architecture {architecture!r} for audio; known: {', '.join(ARCHITECTURES)}.")
    say = progress or (lambda _: None)
    stages = stages or Stages()
    tracks = collect_tracks(sources, limit, genres)
    say(f"{len(tracks)} tracks from {len(sources)} source(s): decoding (features, spectrograms, VGG embeddings) ...")
    clips = clip_tables(tracks, workers=workers, cache=cache, progress=say, stages=stages)
    say(f"training {architecture} ...")
    trained = members(clips, architecture, recipe, stages)
    if architecture == "ensemble":
        model = ensemble_model([(INPUTS[m][0], trained[m][0]) for m in ("seed_mlp", "mel_cnn", "vgg_transfer")])
        seconds = sum(h.seconds for _, h in trained.values())
        history = TrainHistory([], 0, "loss", False, False, seconds)
    else:
        model, history = trained[architecture]
    rows = training_rows(clips.seed, "slice")
    history = replace(history, rows=rows, validation_rows=None)
    config = {"seed_mlp": replace(recipe.mlp, seed=recipe.seed).to_dict(),
              "mel_cnn": {"epochs": recipe.cnn_epochs, "crops_per_track": recipe.cnn_crops,
                          "batch_size": recipe.cnn_batch_size, **recipe.cnn_config},
              "vgg_transfer": {"epochs": recipe.head_epochs, "batch_size": recipe.head_batch_size, **recipe.head_config}}
    card = model_card(model, replace(recipe.mlp, seed=recipe.seed), history,
                      sources=(source,) if source else tuple(str(s) for s in sources), command=command)
    used = {m: config[m] for m in trained}
    return model, replace(card, inputs=INPUTS[architecture],
                          architecture=replace(card.architecture, name=architecture, config={}),
                          training=replace(card.training, config={"architecture": architecture, "seed": recipe.seed,
                                                                  **(used if architecture == "ensemble"
                                                                     else used[architecture])}))
