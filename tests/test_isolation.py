"""One file never breaks a batch: hostile audio, damaged MP3s and unexpected errors become that file's row;
a damaged file gives the same result in every process and while another file decodes beside it; the CLI's stderr
carries no decoder noise."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bad_input_cases import damaged_mp3, tone, wav_bytes
from model_helpers import save_tiny_model

from core.failures import LOG_ENV
from core.models import registry
from core.predict_batch import predict_files

REPO = Path(__file__).resolve().parents[1]
SR = 22_050


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("models"))


def hostile_folder(folder: Path) -> dict[str, bool]:
    """Good and hostile files under ``folder``; returns {name: classified?} as expected."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "good.wav": (wav_bytes(tone(4)), True),
        "damaged.mp3": (damaged_mp3(6.0), True),
        "huge.wav": (wav_bytes(tone(3) * 1e30, subtype="FLOAT"), False),
        "spike.wav": (wav_bytes(np.where(np.arange(SR * 3)[:, None] < SR, 3e38, tone(3)), subtype="FLOAT"), True),
        "subnormal.wav": (wav_bytes(tone(3) * 1e-40, subtype="FLOAT"), False),
        "nan.wav": (wav_bytes(np.where(np.arange(SR * 3)[:, None] == SR, np.nan, tone(3)), subtype="FLOAT"), False),
        "noise.mp3": (np.random.default_rng(0).bytes(4000), False),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {name: ok for name, (_, ok) in files.items()}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_predict_over_hostile_files_writes_every_row_and_exits_1(models_dir, tmp_path, ffmpeg) -> None:
    """--verbose prints each file's warnings; stderr has nothing else but the progress bar and the failed files'
    reasons: the decoder's and the worker processes' own messages never reach it (with ffmpeg or without)."""
    expected = hostile_folder(tmp_path / "in")
    out = tmp_path / "out.csv"
    done = run_cli("predict", str(tmp_path / "in"), "--model", "tiny", "--out", str(out), "--verbose",
                   env={registry.MODELS_ENV: str(models_dir), LOG_ENV: str(tmp_path / "log.txt")})
    assert done.returncode == 1, done.stderr
    table = pd.read_csv(out, keep_default_na=False).assign(name=lambda t: t["path"].map(lambda p: Path(p).name))
    assert sorted(table["name"]) == sorted(expected)
    for name, ok in expected.items():
        row = table[table["name"] == name].iloc[0]
        assert (row["genre"] != "") == ok and (row["error"] == "") == ok, (name, row["error"])
        assert ok or row["error"].startswith(("The ", name)), row["error"]
    assert "damaged" in table.loc[table["name"] == "damaged.mp3", "warnings"].iloc[0]
    assert "silenced" in table.loc[table["name"] == "spike.wav", "warnings"].iloc[0]
    assert "damaged.mp3: warning: " in done.stderr
    for noise in ("Traceback", "libmpg123", "RuntimeWarning", "Note:"):
        assert noise not in done.stderr, done.stderr
    # Nothing else on stderr: tqdm's bar, then one line per warning and per failed file (none from the workers).
    lines = [line for line in done.stderr.replace("\r", "\n").splitlines() if line.strip()]
    bar = [line for line in lines if re.match(r"\s*\d+%\|.*\| \d/7 \[", line)]
    assert bar and sorted(set(lines) - set(bar)) == sorted(
        [f"{p}: warning: {w}" for p, w in zip(table["path"], table["warnings"]) if w]
        + [f"{p}: {e}" for p, e in zip(table["path"], table["error"]) if e]), done.stderr
    assert done.stdout.startswith("Wrote ") and "3 classified, 4 failed" in done.stdout


def test_an_unexpected_error_is_that_files_row_with_its_traceback_in_the_log(models_dir, tmp_path,
                                                                             monkeypatch) -> None:
    import core.predict_batch

    real = core.predict_batch.classify

    def flaky(path, model, **kwargs):
        if Path(path).name == "bug.wav":
            raise ZeroDivisionError("a bug")
        return real(path, model, **kwargs)

    monkeypatch.setattr(core.predict_batch, "classify", flaky)
    monkeypatch.setenv(LOG_ENV, str(tmp_path / "log.txt"))
    for name in ("a.wav", "bug.wav", "c.wav"):
        (tmp_path / name).write_bytes(wav_bytes(tone(3)))
    table = predict_files([str(tmp_path / n) for n in ("a.wav", "bug.wav", "c.wav")],
                          registry.load_model("tiny", models_dir))
    assert list(table["genre"] != "") == [True, False, True]
    assert "internal error (ZeroDivisionError)" in table.loc[1, "error"] and "Traceback" not in table.loc[1, "error"]
    log = (tmp_path / "log.txt").read_text()
    assert "bug.wav" in log and "Traceback" in log and "ZeroDivisionError: a bug" in log


DECODE = """
import hashlib, sys
from core.audio import load_audio
audio = load_audio(sys.argv[1])
print(hashlib.sha256(audio.y.tobytes()).hexdigest(), len(audio.warnings), any("ffmpeg" in w for w in audio.warnings))
"""


def test_a_damaged_mp3_decodes_the_same_in_every_process(tmp_path, ffmpeg) -> None:
    path = tmp_path / "damaged.mp3"
    path.write_bytes(damaged_mp3())
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    outputs = set()
    for seed in ("0", "1", "2"):  # different hash seeds: different heaps and dict orders in each process
        done = subprocess.run([sys.executable, "-c", DECODE, str(path)], capture_output=True, text=True,
                              env={**env, "PYTHONHASHSEED": seed}, cwd=tmp_path, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "libmpg123" not in done.stderr
        outputs.add(done.stdout)
    assert len(outputs) == 1, outputs
    digest, warnings, via_ffmpeg = outputs.pop().split()
    assert int(warnings) >= 1 and via_ffmpeg == str(ffmpeg)
    assert digest != hashlib.sha256(b"").hexdigest()


def test_decodes_of_different_files_overlap(tmp_path, monkeypatch) -> None:
    """Two threads decode two MP3s at once: both are inside the block loop together (each waits at its first
    block until the other arrives, which a lock held for a whole decode would never allow), and each gets what
    it gets alone."""
    import threading

    import core.audio
    from core.audio import load_audio

    paths = [tmp_path / "a.mp3", tmp_path / "b.mp3"]
    for path, freq in zip(paths, (440.0, 330.0)):
        path.write_bytes(wav_bytes(tone(10, 44_100, channels=2, freq=freq), 44_100, fmt="MP3", subtype="MPEG_LAYER_III"))
    alone = {path: load_audio(path) for path in paths}
    both_inside = threading.Barrier(2, timeout=60)
    waited: set[int] = set()
    real = core.audio._downmix

    def meet_at_first_block(block: np.ndarray) -> np.ndarray:
        if threading.get_ident() not in waited:
            waited.add(threading.get_ident())
            both_inside.wait()  # BrokenBarrierError unless the other decode reaches its first block too
        return real(block)

    monkeypatch.setattr(core.audio, "_downmix", meet_at_first_block)
    found: dict[Path, object] = {}

    def decode(path: Path) -> None:
        try:
            found[path] = load_audio(path)
        except Exception as exc:  # the assertion below shows it
            found[path] = exc

    threads = [threading.Thread(target=decode, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for path, audio in found.items():
        assert not isinstance(audio, Exception), audio
        assert np.array_equal(audio.y, alone[path].y) and audio.warnings == alone[path].warnings


def test_decoder_lines_written_while_two_calls_are_inside_are_overheard_by_both() -> None:
    """A decoder line written while two calls are inside the decoder cannot be told apart: both calls raise
    :class:`core.audio.Overheard`; a call alone keeps its line."""
    import threading

    from core.audio import DecoderMessages, Overheard

    line = b"[src/libmpg123/layer3.c:1] error: big_values too large!\n"
    inside, written = threading.Barrier(2, timeout=60), threading.Barrier(2, timeout=60)

    def talk() -> None:
        inside.wait()
        os.write(2, line)
        written.wait()

    def quiet() -> None:
        inside.wait()
        written.wait()

    found: dict[str, object] = {}

    def run(key: str, fn) -> None:
        with DecoderMessages() as decoder:
            try:
                decoder.call(fn)
                found[key] = decoder.new_lines()
            except Overheard as exc:
                found[key] = exc

    threads = [threading.Thread(target=run, args=(k, f)) for k, f in (("talk", talk), ("quiet", quiet))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(v, Overheard) for v in found.values()), found
    with DecoderMessages() as decoder:
        decoder.call(os.write, 2, line)
        assert decoder.new_lines() == [line.decode().strip()]


def test_an_overheard_decode_is_made_again_alone_with_the_same_result(tmp_path, monkeypatch) -> None:
    """A damaged MP3 decoded while another call sits inside the decoder: its decoder's complaints are overheard,
    so it is decoded again alone (once the other call is done), and it gets what it gets alone."""
    import contextlib
    import threading

    import core.audio
    from core.audio import DecoderMessages, Overheard, load_audio

    damaged = tmp_path / "damaged.mp3"
    damaged.write_bytes(damaged_mp3())
    alone = load_audio(damaged)
    again = threading.Event()
    real = core.audio._load

    def load(*args, alone: bool = False):
        if alone:
            again.set()  # the other call may end now: this decode waits for it
        return real(*args, alone=alone)

    def sit() -> None:
        with DecoderMessages() as other, contextlib.suppress(Overheard):  # it heard the damaged file's decoder too
            other.call(again.wait, 60)

    monkeypatch.setattr(core.audio, "_load", load)
    sitting = threading.Thread(target=sit)
    sitting.start()
    found = load_audio(damaged)
    sitting.join()
    assert again.is_set() and np.array_equal(found.y, alone.y) and found.warnings == alone.warnings
