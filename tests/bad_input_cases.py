"""The bad-input matrix: every kind of strange file the app may meet, each written in code into a folder.

Shared by ``tests/test_bad_inputs.py`` (one test per case) and ``bench/reliability.py`` (cases tried,
crashes, data lost). A case builds its input under a folder and names the ``core`` entry point that
meets it (``audio``: :func:`core.audio.load_audio` then feature extraction, ``table``:
:func:`core.data.store.read_features`, ``model``: :func:`core.models.registry.load_model`). It must either be
refused with the domain error whose message contains ``refused``, or be accepted (with ``warning``
among the loader's warnings when given). Anything else is a crash.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import struct
import tempfile
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
CORRUPT_GTZAN = SHARED_DATA / "bad_audio" / "jazz.00054.wav"
SR = 22_050


@dataclass(frozen=True)
class Case:
    """One bad input: how to build it, which entry point meets it, and what must happen."""

    name: str
    target: str  # "audio" | "table" | "model"
    build: Callable[[Path], Any]  # writes the input under a folder; returns a path, bytes or a file object
    refused: str = ""  # words the error message must contain; "" when the input must be accepted
    warning: str = ""  # words one of the loader's warnings must contain (accepted audio)
    max_peak_mb: float | None = None  # bound on Python-visible memory while loading
    needs: Path | None = None  # a file the case reads; the case is skipped without it
    ffmpeg: bool = False  # libsndfile cannot open it or reports errors, so ffmpeg's presence changes its path


@dataclass(frozen=True)
class Outcome:
    """What happened: ``refused`` (clear message), ``accepted`` or ``crash``; what changed on disk."""

    verdict: str
    message: str
    warnings: tuple[str, ...] = ()
    peak_mb: float = 0.0
    changed: tuple[str, ...] = ()  # files written, changed or removed beside the input
    left_in_temp: tuple[str, ...] = ()  # temporary files left behind


# --- audio -----------------------------------------------------------------------------------------

def tone(seconds: float, sr: int = SR, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    """A tone over a 120-bpm click with a little noise, shape (samples, channels), float32."""
    t = np.arange(int(seconds * sr)) / sr
    y = 0.4 * np.sin(2 * np.pi * freq * t) + 0.3 * (np.mod(t, 0.5) < 0.01)
    y += 0.02 * np.random.default_rng(0).uniform(-1, 1, len(t))
    return np.repeat(y[:, None], channels, axis=1).astype(np.float32)


def wav_bytes(y: np.ndarray, sr: int = SR, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def wav_header(frames: int, sr: int, channels: int = 1, bits: int = 16) -> bytes:
    """A canonical 44-byte PCM WAV header declaring ``frames`` frames."""
    block = channels * bits // 8
    data = frames * block
    return (b"RIFF" + struct.pack("<I", min(36 + data, 0xFFFFFFFF)) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, channels, sr, sr * block, block, bits)
            + b"data" + struct.pack("<I", min(data, 0xFFFFFFFF)))


def two_hour_wav(folder: Path) -> Path:
    """2 h of 16-bit 8 kHz audio declared; the first 11 minutes written for real, the rest a sparse hole."""
    sr, hours = 8_000, 2
    frames = hours * 3600 * sr
    path = folder / "two-hours.wav"
    with path.open("wb") as f:
        f.write(wav_header(frames, sr))
        block = (tone(60, sr)[:, 0] * 32767).astype("<i2").tobytes()
        for _ in range(11):
            f.write(block)
        f.truncate(44 + frames * 2)
    return path


def declared_more(folder: Path, factor: int) -> Path:
    """A 3-s WAV whose header declares ``factor`` times more data than the file holds."""
    data = bytearray(wav_bytes(tone(3)))
    size = min((len(data) - 44) * factor, 0xFFFFFFF0)
    data[4:8] = struct.pack("<I", min(size + 36, 0xFFFFFFFF))
    data[40:44] = struct.pack("<I", size)
    return write(folder, f"declares-{factor}x.wav", bytes(data))


def float_wav_with(folder: Path, value: float, name: str, samples: int = 10) -> Path:
    y = tone(3)
    y[SR: SR + samples] = value
    return write(folder, name, wav_bytes(y, subtype="FLOAT"))


def mp3_with_garbage(folder: Path) -> Path:
    """A real MP3 whose frames after the first 400 bytes are overwritten with random bytes."""
    data = bytearray(wav_bytes(tone(3), fmt="MP3", subtype="MPEG_LAYER_III"))
    data[400:] = np.random.default_rng(1).bytes(len(data) - 400)
    return write(folder, "garbage-after-header.mp3", bytes(data))


def damaged_mp3(seconds: float = 10.0, seed: int = 2) -> bytes:
    """A 44.1-kHz stereo MP3 written with soundfile, then every 7th frame from the 20th on has the 20 bytes
    after its header (its side information) overwritten: libmpg123 reports errors and decodes garbage."""
    data = bytearray(wav_bytes(np.hstack([tone(seconds, 44_100), 0.8 * tone(seconds, 44_100)]), 44_100,
                               fmt="MP3", subtype="MPEG_LAYER_III"))
    heads = [i for i in range(len(data) - 4) if data[i] == 0xFF and data[i + 1] & 0xE0 == 0xE0]
    rng = np.random.default_rng(seed)
    for head in heads[20::7]:
        data[head + 4: head + 24] = rng.bytes(20)
    return bytes(data)


def tiny_png() -> bytes:
    """A valid 1x1 PNG, made in code."""
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x3d\x7f")) + chunk(b"IEND", b""))


def over_the_limit(folder: Path) -> Path:
    """A sparse file one byte over :data:`core.audio.MAX_BYTES` starting with a valid WAV header."""
    from core.audio import MAX_BYTES

    path = folder / "huge-upload.wav"
    with path.open("wb") as f:
        f.write(wav_header((MAX_BYTES - 43) // 2, SR))
        f.truncate(MAX_BYTES + 1)
    return path


def named_upload(data: bytes, name: str) -> io.BytesIO:
    """An upload as the page gets it: bytes with the browser-supplied file name."""
    handle = io.BytesIO(data)
    handle.name = name
    return handle


AUDIO_CASES = [
    Case("random bytes .wav", "audio", lambda d: write(d, "noise.wav", np.random.default_rng(2).bytes(50_000)),
         refused="not an audio file we can read", ffmpeg=True),
    Case("random bytes .mp3", "audio", lambda d: write(d, "noise.mp3", np.random.default_rng(3).bytes(50_000)),
         refused="not an audio file we can read", ffmpeg=True),
    Case("empty file", "audio", lambda d: write(d, "empty.wav", b""), refused="empty (0 bytes)"),
    Case("truncated WAV header", "audio", lambda d: write(d, "header.wav", wav_bytes(tone(3))[:20]),
         refused="not an audio file we can read", ffmpeg=True),
    Case("header-only WAV", "audio", lambda d: write(d, "header-only.wav", wav_bytes(tone(3))[:44]),
         refused="no decodable audio"),
    Case("GTZAN jazz.00054.wav", "audio", lambda d: CORRUPT_GTZAN, refused="not an audio file we can read",
         needs=CORRUPT_GTZAN, ffmpeg=True),
    Case("WAV claiming more samples", "audio", lambda d: declared_more(d, 10), warning="ends early"),
    Case("MP3 with garbage after the header", "audio", mp3_with_garbage, refused="not an audio file we can read", ffmpeg=True),
    Case("MP3 with a garbage tail", "audio", lambda d: write(
        d, "garbage-tail.mp3", wav_bytes(tone(3), fmt="MP3", subtype="MPEG_LAYER_III")
        + np.random.default_rng(4).bytes(20_000)), ffmpeg=True),
    Case("0.2-s clip", "audio", lambda d: write(d, "blip.wav", wav_bytes(tone(0.2))), refused="too short"),
    Case("2-hour file", "audio", two_hour_wav, max_peak_mb=250),
    Case("8-channel 96 kHz", "audio", lambda d: write(d, "8ch.wav", wav_bytes(tone(3, 96_000, 8), 96_000))),
    Case("8 kHz telephone audio", "audio", lambda d: write(d, "phone.wav", wav_bytes(tone(5, 8_000), 8_000))),
    Case("digital silence", "audio", lambda d: write(d, "silence.wav", wav_bytes(np.zeros((SR * 3, 1)))),
         refused="silent"),
    Case("pure DC offset", "audio", lambda d: write(d, "dc.wav", wav_bytes(np.full((SR * 3, 1), 0.5))),
         refused="constant signal"),
    Case("clipping square wave", "audio", lambda d: write(
        d, "square.wav", wav_bytes(np.clip(4 * np.sign(np.sin(2 * np.pi * 110 * np.arange(SR * 3) / SR)), -1, 1)[:, None]))),
    Case("NaN in a float WAV", "audio", lambda d: float_wav_with(d, np.nan, "nan.wav"), refused="NaN or infinity"),
    Case("infinity in a float WAV", "audio", lambda d: float_wav_with(d, np.inf, "inf.wav"), refused="NaN or infinity"),
    Case("huge finite samples (1e30) in a float WAV", "audio",
         lambda d: write(d, "huge.wav", wav_bytes(tone(3) * 1e30, subtype="FLOAT")), refused="times full scale"),
    Case("largest float32 samples in a float WAV", "audio", lambda d: write(
        d, "max.wav", wav_bytes(np.sign(tone(3)) * np.finfo(np.float32).max, subtype="FLOAT")),
         refused="times full scale"),
    Case("a damaged second (3e38) in a float WAV", "audio",
         lambda d: float_wav_with(d, 3e38, "spike.wav", SR // 2), warning="were silenced"),
    Case("subnormal samples only", "audio",
         lambda d: write(d, "subnormal.wav", wav_bytes(tone(3) * 1e-40, subtype="FLOAT")), refused="silent"),
    Case("music with subnormals and a DC offset", "audio",
         lambda d: write(d, "dc-music.wav", wav_bytes(0.5 + 0.3 * tone(3) + 1e-40, subtype="FLOAT"))),
    Case("MP3 with damaged frames", "audio", lambda d: write(d, "damaged.mp3", damaged_mp3()),
         warning="damaged", ffmpeg=True),
    Case("text file renamed .mp3", "audio", lambda d: write(d, "lyrics.mp3", b"Never gonna give you up\n" * 200),
         refused="not an audio file we can read", ffmpeg=True),
    Case("PNG image", "audio", lambda d: write(d, "cover.png", tiny_png()), refused="not an audio file we can read", ffmpeg=True),
    Case("PNG image named .wav", "audio", lambda d: write(d, "cover.wav", tiny_png()),
         refused="not an audio file we can read", ffmpeg=True),
    Case("huge declared length", "audio", lambda d: declared_more(d, 10**6), warning="ends early", max_peak_mb=50),
    Case("file over the size limit", "audio", over_the_limit, refused="too large", max_peak_mb=5),
    Case("unicode and spaces in the name", "audio",
         lambda d: write(d, "Ünïcødé sóng — ♫ (live) .wav", wav_bytes(tone(3)))),
    Case("'../' in an upload's name", "audio",
         lambda d: named_upload(wav_bytes(tone(3)), "../../outside/evil.wav")),
    Case("bad upload named with '../'", "audio",
         lambda d: named_upload(b"not audio at all" * 100, "../../outside/evil.mp3"),
         refused="not an audio file we can read", ffmpeg=True),
    Case("OGG content named .wav", "audio",
         lambda d: write(d, "really-ogg.wav", wav_bytes(tone(3), fmt="OGG", subtype="VORBIS"))),
]


# --- feature tables --------------------------------------------------------------------------------

def gtzan_csv(folder: Path, name: str, change: Callable[[pd.DataFrame], pd.DataFrame] = lambda t: t) -> Path:
    """A small published-style GTZAN 30-s CSV (filename, length, 57 features, label), changed by ``change``."""
    from core.features.schema import GTZAN_KAGGLE

    rng = np.random.default_rng(5)
    table = pd.DataFrame(rng.uniform(0, 1, (4, len(GTZAN_KAGGLE.columns))), columns=list(GTZAN_KAGGLE.columns))
    table.insert(0, "length", 661_794)
    table.insert(0, "filename", [f"blues.0000{i}.wav" for i in range(4)])
    table["label"] = "blues"
    path = folder / name
    change(table).to_csv(path, index=False)
    return path


def feature_parquet(folder: Path, name: str, change: Callable[[pd.DataFrame], pd.DataFrame]) -> Path:
    """A small seed-schema Parquet feature table, changed by ``change``."""
    from model_helpers import synthetic_table

    path = folder / name
    change(synthetic_table(n_tracks=2, n_slices=1)).to_parquet(path)
    return path


def junk_store(folder: Path) -> Path:
    """A store directory whose only part is not Parquet (a tampered or foreign folder)."""
    from core.data.store import MANIFEST_FILE, PARTS_DIR

    root = folder / "store"
    (root / PARTS_DIR).mkdir(parents=True)
    (root / MANIFEST_FILE).write_text('{"schema": "seed@1", "slices": 10}')
    (root / PARTS_DIR / "part-0000.parquet").write_bytes(b"PAR1 not really")
    return root


def _set(column: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(table: pd.DataFrame) -> pd.DataFrame:
        table = table.astype({column: object})
        table.loc[row, column] = value
        return table
    return change


TABLE_CASES = [
    Case("CSV with missing columns", "table", lambda d: gtzan_csv(d, "missing.csv", lambda t: t.drop(
        columns=["rms_mean", "tempo"])), refused="missing columns: rms_mean, tempo"),
    Case("CSV with extra columns", "table", lambda d: gtzan_csv(d, "extra.csv", lambda t: t.assign(
        mood="angry")), refused="unexpected columns: mood"),
    Case("CSV with non-numeric values", "table", lambda d: gtzan_csv(d, "text.csv", _set("tempo", 2, "fast")),
         refused="column 'tempo' has missing or non-numeric values in rows 2"),
    Case("CSV with a genre beyond GTZAN's ten", "table", lambda d: gtzan_csv(d, "polka.csv", _set("label", 1, "polka"))),
    Case("CSV with a bad file name", "table", lambda d: gtzan_csv(d, "names.csv", _set("filename", 0, "../x")),
         refused="not GTZAN clip names"),
    Case("empty CSV", "table", lambda d: write(d, "empty.csv", b""), refused="empty"),
    Case("binary junk named .csv", "table", lambda d: write(d, "junk.csv", bytes(range(256)) * 40),
         refused="not a readable CSV"),
    Case("junk named .parquet", "table", lambda d: write(d, "junk.parquet", b"PAR1" + bytes(100)),
         refused="not a readable Parquet"),
    Case("Parquet without schema_version", "table", lambda d: feature_parquet(
        d, "noschema.parquet", lambda t: t.drop(columns=["schema_version"])), refused="schema_version"),
    Case("Parquet with repeated rows", "table", lambda d: feature_parquet(
        d, "twice.parquet", lambda t: pd.concat([t, t.head(1)])), refused="more than once"),
    Case("store folder with a junk part", "table", junk_store, refused="not a readable Parquet"),
]


# --- model folders ---------------------------------------------------------------------------------

def shipped_model() -> Path:
    """The shipped default model's folder (a known-good model to tamper with)."""
    from core.models.registry import default_name, models_dir

    return models_dir() / (default_name() or "missing")


def model_folder(folder: Path, name: str, tamper: Callable[[Path], None]) -> str:
    """A copy of the shipped default model under ``folder/models/name``, then ``tamper(copy)``."""
    copy = folder / "models" / name
    shutil.copytree(shipped_model(), copy)
    tamper(copy)
    return name


def _edit_meta(change: Callable[[dict], None]) -> Callable[[Path], None]:
    import json

    def tamper(copy: Path) -> None:
        meta = json.loads((copy / "model.json").read_text())
        change(meta)
        (copy / "model.json").write_text(json.dumps(meta))
    return tamper


def _truncate_keras(copy: Path) -> None:
    data = (copy / "model.keras").read_bytes()
    (copy / "model.keras").write_bytes(data[: len(data) // 2])


SHIPPED = shipped_model()
MODEL_CASES = [
    Case("model folder without model.json", "model",
         lambda d: model_folder(d, "no-json", lambda c: (c / "model.json").unlink()), refused="model.json is missing",
         needs=SHIPPED),
    Case("model.json that is not JSON", "model",
         lambda d: model_folder(d, "bad-json", lambda c: (c / "model.json").write_text("{tampered")),
         refused="not valid JSON", needs=SHIPPED),
    Case("model.json without its schema", "model",
         lambda d: model_folder(d, "no-schema", _edit_meta(lambda m: m.pop("feature_schema"))),
         refused="model.json is incomplete", needs=SHIPPED),
    Case("model.json with a string schema", "model",
         lambda d: model_folder(d, "str-schema", _edit_meta(lambda m: m.update(feature_schema="seed"))),
         refused="model.json is incomplete", needs=SHIPPED),
    Case("model.json of an unknown schema", "model",
         lambda d: model_folder(d, "other-schema", _edit_meta(lambda m: m["feature_schema"].update(id="evil@9"))),
         refused="cannot be used", needs=SHIPPED),
    Case(".keras that is text", "model",
         lambda d: model_folder(d, "text-keras", lambda c: (c / "model.keras").write_text("not a zip")),
         refused="could not be loaded", needs=SHIPPED),
    Case(".keras cut in half", "model", lambda d: model_folder(d, "half-keras", _truncate_keras),
         refused="could not be loaded", needs=SHIPPED),
    Case("model name with '../'", "model", lambda d: "../../etc", refused="Invalid model name"),
]

CASES = AUDIO_CASES + TABLE_CASES + MODEL_CASES


# --- running a case --------------------------------------------------------------------------------

def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its size and a hash of its first MB (sparse giants stay cheap)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with path.open("rb") as f:
                head = hashlib.sha256(f.read(1 << 20)).hexdigest()
            out[str(path.relative_to(folder))] = f"{path.stat().st_size}:{head}"
    return out


def _meet(case: Case, made: Any, folder: Path) -> tuple[str, tuple[str, ...]]:
    """Hand the input to the case's entry point; returns an accepted input's description and warnings."""
    if case.target == "audio":
        from core.audio import load_audio
        from core.features.extract import extract
        from core.features.schema import SEED

        audio = load_audio(made)
        head = audio.y[: 30 * audio.sr]  # the features of the first 30 s: the analysis path runs end to end
        rows = extract(head, audio.sr, SEED, max_slices=2)
        assert audio.sr == SR and np.isfinite(audio.y).all(), "decoded audio must be finite at 22,050 Hz"
        assert np.isfinite(rows.track).all() and np.isfinite(rows.slices).all(), "features must be finite"
        return f"{audio.info.summary()}; analysed {audio.analysed_part()}", audio.warnings
    if case.target == "table":
        from core.data.store import read_features

        table = read_features(made)
        return f"{len(table)} rows", ()
    from core.models.registry import load_model

    loaded = load_model(made, folder / "models")
    return f"model {loaded.name}", ()


def run_case(case: Case, folder: Path) -> Outcome:
    """Build ``case`` under ``folder`` (which must be empty) and meet it; never raises for the input's sake."""
    from core.audio import AudioError
    from core.data.store import FeatureTableError
    from core.models.registry import RegistryError

    made = case.build(folder)
    before = _snapshot(folder)
    scratch = folder.parent / f"{folder.name}-tmp"
    scratch.mkdir()
    old_tempdir, tempfile.tempdir = tempfile.tempdir, str(scratch)
    tracemalloc.start()
    try:
        message, warnings = _meet(case, made, folder)
        verdict = "accepted"
    except (AudioError, FeatureTableError, RegistryError) as exc:
        verdict, message, warnings = "refused", str(exc), ()
    except Exception as exc:  # noqa: BLE001 - a crash is what the matrix looks for
        verdict, message, warnings = "crash", f"{type(exc).__name__}: {exc}", ()
    finally:
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        tempfile.tempdir = old_tempdir
    after = _snapshot(folder)
    changed = tuple(sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k)))
    left = tuple(sorted(p.name for p in scratch.iterdir()))
    shutil.rmtree(scratch, ignore_errors=True)
    return Outcome(verdict, message, tuple(warnings), peak, changed, left)


def problems(case: Case, outcome: Outcome) -> list[str]:
    """What is wrong with ``outcome`` for ``case`` (empty when the case passed)."""
    wrong = []
    if outcome.verdict == "crash":
        wrong.append(f"crashed: {outcome.message}")
    elif case.refused and outcome.verdict != "refused":
        wrong.append(f"accepted ({outcome.message}); expected a refusal mentioning {case.refused!r}")
    elif case.refused and case.refused not in outcome.message:
        wrong.append(f"refused with {outcome.message!r}; expected words {case.refused!r}")
    elif not case.refused and outcome.verdict != "accepted":
        wrong.append(f"refused ({outcome.message}); expected it to be analysed")
    elif case.warning and not any(case.warning in w for w in outcome.warnings):
        wrong.append(f"warnings {outcome.warnings}; expected one mentioning {case.warning!r}")
    if case.max_peak_mb is not None and outcome.peak_mb > case.max_peak_mb:
        wrong.append(f"peak memory {outcome.peak_mb:.0f} MB > {case.max_peak_mb:.0f} MB")
    if outcome.changed:
        wrong.append(f"files written, changed or removed: {', '.join(outcome.changed)}")
    if outcome.left_in_temp:
        wrong.append(f"temporary files left behind: {', '.join(outcome.left_in_temp)}")
    return wrong


def available(case: Case) -> bool:
    """False when the case needs a file that is not here (e.g. the development data)."""
    return case.needs is None or Path(os.fspath(case.needs)).exists()
