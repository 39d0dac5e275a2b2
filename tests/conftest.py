"""Shared test fixtures: the development data folder and synthetic audio files.

Tests never need the GTZAN clips unless they test real music: ``shared_data`` skips the test when
``../shared/data`` is missing, and ``make_wav`` writes synthetic audio (tones, noise, clicks,
silence, ...) of any rate, channel count, length and subtype into the test's ``tmp_path``.
"""

from __future__ import annotations

import os
import shutil

# Keep every test process lean on the shared 2-core machine (set before numpy/TensorFlow load).
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
# AppTest sets no server.address, which means public mode (core.modes): tests run the lab app unless
# they ask for public mode themselves (tests/test_public_mode.py).
os.environ["CPUNK_MODE"] = "lab"

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import soundfile as sf  # noqa: E402
from s3_server import s3  # noqa: E402, F401 - the ``s3`` fixture, for every test module
from synth_audio import synth  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
FFMPEG_TOOLS = ("ffmpeg", "ffprobe")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (GTZAN excerpts and published features); skips when it is not there."""
    if not (SHARED_DATA / "gtzan").is_dir():
        pytest.skip(f"development data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def path_without_ffmpeg(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A ``PATH`` that finds every program the real one finds except ffmpeg and ffprobe (links in one folder)."""
    folder = tmp_path_factory.mktemp("path-without-ffmpeg")
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(entry):
            continue
        for name in os.listdir(entry):
            target = os.path.join(entry, name)
            if name not in FFMPEG_TOOLS and not (folder / name).exists() and os.access(target, os.X_OK):
                (folder / name).symlink_to(target)
    return str(folder)


@pytest.fixture(params=["with-ffmpeg", "without-ffmpeg"])
def ffmpeg(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, path_without_ffmpeg: str) -> bool:
    """Runs a decoder-dependent test twice: with ffmpeg on ``PATH`` and with it hidden from ``PATH``, in this
    process and in every process it starts (they inherit ``PATH``). Without ffmpeg installed the first
    variant is skipped, and fails under CI (``CI`` set), where ``scripts/test.sh`` has installed it.
    ``indirect`` parametrisation may also ask for ``"as-installed"``: the machine's ``PATH`` as it is."""
    if request.param == "as-installed":
        return all(shutil.which(tool) for tool in FFMPEG_TOOLS)
    if request.param == "without-ffmpeg":
        monkeypatch.setenv("PATH", path_without_ffmpeg)
        return False
    if not all(shutil.which(tool) for tool in FFMPEG_TOOLS):
        message = "ffmpeg is not installed (scripts/test.sh installs Debian's ffmpeg)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return True


@pytest.fixture
def make_wav(tmp_path: Path) -> Callable[..., Path]:
    """Factory writing synthetic audio into ``tmp_path``; returns the file's path.

    ``make_wav("music", seconds=30, sr=44_100, channels=2, name="x.flac", subtype="PCM_24")``;
    the format follows the name's extension (wav, flac, ogg, mp3); other keywords go to :func:`synth`.
    """
    def make(kind: str = "tone", *, name: str | None = None, sr: int = 22_050, subtype: str | None = None,
             **kwargs) -> Path:
        path = tmp_path / (name or f"{kind}.wav")
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, synth(kind, sr=sr, **kwargs), sr, subtype=subtype)
        return path

    return make


@pytest.fixture
def no_jobs_left(monkeypatch: pytest.MonkeyPatch):
    """No page heartbeat reaches a job while AppTest waits, so no orphan stop; every run a test started is
    stopped at the end."""
    from core.jobs import JOBS

    monkeypatch.setattr(JOBS, "grace_s", 3600.0)
    yield
    for job in JOBS.running():
        job.stop()
        job.wait(300)

