"""Pre-trained musicnn taggers (Pons & Serra, 2019) as frozen Keras 3 networks: inputs, embeddings, tags.

The four checkpoints of the ``musicnn`` 0.1.0 package (ISC licence), rebuilt in plain Keras layers by
``scripts/convert_musicnn.py`` and stored in Keras-native form under ``models/_pretrained/musicnn_<name>``
with their licence (:data:`CHECKPOINTS`): ``msd_*`` were trained on the Million Song Dataset's 50 most
frequent Last.fm tags, ``mtt_*`` on MagnaTagATune's 50; ``*_vgg`` is the VGG-like baseline, ``*_musicnn``
the musically motivated CNN (timbral + temporal front-end, residual mid-end, max+mean pooled back-end).
All read the same 3-s log-mel patches: 16 kHz audio, 512-point STFT, hop 256, 96 mel bands,
``log10(10000 * mel + 1)``, 187 frames per patch (``musicnn/extractor.py``); :func:`patches` makes them
from :mod:`core.audio`'s output (:func:`patches_at`: at chosen start times). :func:`load_embedding` maps them to the layer named ``embedding``
(VGG: the 256-d flattened last pooling layer; musicnn: the 200-d penultimate layer), :func:`load_tagger`
to the 50 tag probabilities (:func:`tag_names`), and :func:`tags` ranks them for a recording.
TensorFlow is imported only when a network is loaded, so :func:`patches` stays cheap to import.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import librosa
import numpy as np
import soxr

SAMPLE_RATE = 16_000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187  # 3 s: librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1
PRETRAINED_DIR = Path(__file__).resolve().parents[2] / "models" / "_pretrained"
CHECKPOINTS = ("msd_vgg", "msd_musicnn", "mtt_vgg", "mtt_musicnn")
EMBEDDING_LAYER = "embedding"


def log_mel(y16k: np.ndarray) -> np.ndarray:
    """Log-compressed mel spectrogram (frames x 96) of 16-kHz audio, as musicnn was trained on.

    The original casts the mel power to float16 before ``log10(10000 * x + 1)``; the product overflows
    float16 (to inf) wherever the power exceeds 6.55, which loud masters reach, so we stay in float32.
    """
    mel = librosa.feature.melspectrogram(
        y=np.ascontiguousarray(y16k, dtype=np.float32), sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP,
        n_mels=N_MELS, pad_mode="reflect",  # librosa < 0.10's default, which the weights were trained with
    )
    return np.log10(10_000 * mel.T + 1).astype(np.float32)


def to_16k(y: np.ndarray, sr: int) -> np.ndarray:
    """Mono audio at any rate resampled (soxr) to the networks' 16 kHz."""
    return y if sr == SAMPLE_RATE else soxr.resample(np.asarray(y, dtype=np.float32), sr, SAMPLE_RATE)


def _cut(spec: np.ndarray, first_frames: np.ndarray | range) -> np.ndarray:
    """Patches ``(n, 187, 96)`` of ``spec`` starting at the given frames."""
    return np.stack([spec[f : f + PATCH_FRAMES] for f in first_frames])


def _filled(spec: np.ndarray) -> np.ndarray:
    """``spec``, or a spectrogram shorter than one patch repeated to fill one."""
    return np.resize(spec, (PATCH_FRAMES, N_MELS)) if len(spec) < PATCH_FRAMES else spec  # np.resize repeats rows


def patches_at(spec: np.ndarray, starts_s: np.ndarray) -> np.ndarray:
    """Input patches ``(n, 187, 96)`` of a :func:`log_mel` spectrogram at start times in seconds.

    Windows running past the end are shifted back to end at the last frame; a spectrogram shorter
    than one patch is repeated to fill it.
    """
    spec = _filled(spec)
    first = np.rint(np.asarray(starts_s, dtype=np.float64) * SAMPLE_RATE / HOP).astype(np.int64)
    return _cut(spec, np.clip(first, 0, len(spec) - PATCH_FRAMES))


def patches(y: np.ndarray, sr: int, hop_frames: int = PATCH_FRAMES) -> np.ndarray:
    """Cut mono audio at any rate into the network's input: (n_patches, 187, 96) float32.

    Patches start every ``hop_frames`` frames (default: back to back, like musicnn's extractor); a
    trailing part shorter than a patch is dropped, and a recording shorter than one patch is
    repeat-padded to one (the training recipe's ``pad_short``).
    """
    if hop_frames < 1:
        raise ValueError(f"hop_frames must be at least 1, got {hop_frames}")
    spec = _filled(log_mel(to_16k(y, sr)))
    return _cut(spec, range(0, len(spec) - PATCH_FRAMES + 1, hop_frames))


def model_dir(name: str, root: Path = PRETRAINED_DIR) -> Path:
    """The folder of converted checkpoint ``name`` (one of :data:`CHECKPOINTS`)."""
    if name not in CHECKPOINTS:
        raise ValueError(f"unknown musicnn checkpoint {name!r}; choose one of {', '.join(CHECKPOINTS)}")
    return Path(root) / f"musicnn_{name}"


def load_tagger(name: str = "msd_vgg", root: Path = PRETRAINED_DIR):
    """A fresh frozen copy of a whole converted network: patches (n, 187, 96) -> 50 tag probabilities."""
    from core.keras_env import keras

    path = model_dir(name, root) / "model.keras"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run scripts/convert_musicnn.py (see its docstring)")
    model = keras.saving.load_model(path, compile=False, safe_mode=True)
    model.trainable = False
    return model


def load_embedding(name: str = "msd_vgg", root: Path = PRETRAINED_DIR):
    """A fresh frozen Keras model: patches (n, 187, 96) -> the ``embedding`` layer (VGG 256-d, musicnn 200-d).

    Set ``trainable = True`` on it (or some of its layers) to fine-tune; other copies are unaffected.
    """
    from core.keras_env import keras

    tagger = load_tagger(name, root)
    model = keras.Model(tagger.input, tagger.get_layer(EMBEDDING_LAYER).output, name=f"musicnn_{name}_embedding")
    model.trainable = False
    return model


@lru_cache(maxsize=8)
def tag_names(name: str = "msd_vgg", root: Path = PRETRAINED_DIR) -> tuple[str, ...]:
    """The tagger's output names, in output order (from the model folder's ``model.json``)."""
    meta = json.loads((model_dir(name, root) / "model.json").read_text(encoding="utf-8"))
    return tuple(meta["tags"])
