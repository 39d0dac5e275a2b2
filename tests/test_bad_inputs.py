"""The bad-input matrix at the ``core`` level (cases in ``tests/bad_input_cases.py``): every strange file is
either analysed or refused with a clear message, never crashes, writes nothing beside itself and leaves
no temporary file behind; long or lying files are decoded with bounded memory."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from bad_input_cases import CASES, SHIPPED, Case, available, problems, run_case, tiny_png

from ui.loaders import SessionUploads


def test_the_matrix_has_at_least_25_cases() -> None:
    assert len(CASES) >= 25
    assert len({c.name for c in CASES}) == len(CASES)


# A case that ffmpeg's presence changes runs twice, with ffmpeg on PATH and hidden (conftest's ``ffmpeg``).
RUNS = [pytest.param(c, variant, id=f"{c.name}-{variant}" if c.ffmpeg else c.name)
        for c in CASES for variant in (("with-ffmpeg", "without-ffmpeg") if c.ffmpeg else ("as-installed",))]


@pytest.mark.parametrize("case,ffmpeg", RUNS, indirect=["ffmpeg"])
def test_bad_input(case: Case, ffmpeg: bool, tmp_path: Path) -> None:
    if not available(case):
        pytest.skip(f"{case.needs} is not here")
    folder = tmp_path / "case"
    folder.mkdir()
    outcome = run_case(case, folder)
    assert not problems(case, outcome), f"{case.name}: {'; '.join(problems(case, outcome))}"


def test_an_accepted_long_file_says_which_part_was_analysed(tmp_path: Path) -> None:
    from bad_input_cases import two_hour_wav

    from core.audio import load_audio

    audio = load_audio(two_hour_wav(tmp_path))
    assert audio.partial and audio.info.duration_s == 7200
    assert audio.duration_s == pytest.approx(600, abs=0.1)
    assert audio.analysed_part() == "0:00–10:00 of 2:00:00"


def test_uploaded_tables_are_stored_by_content_never_by_their_name(tmp_path: Path, monkeypatch) -> None:
    import ui.loaders

    uploads = tmp_path / "uploads"
    monkeypatch.setattr(ui.loaders, "UPLOAD_DIR", uploads)
    data = tiny_png()
    session = SessionUploads()
    for name in ("../../outside.csv", "/etc/passwd.parquet", "..\\..\\win.csv", "ünï cødé.csv"):
        saved = session.save(name, data)
        assert saved.parent == uploads and saved.name.startswith(f"{session.prefix}-{hashlib.sha256(data).hexdigest()[:20]}")
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    digest = hashlib.sha256(data).hexdigest()[:20]
    assert written == [f"uploads/{session.prefix}-{digest}.csv", f"uploads/{session.prefix}-{digest}.parquet"]
    assert not (tmp_path / "outside.csv").exists()


def test_uploaded_tables_go_when_their_session_ends_and_by_age(tmp_path: Path, monkeypatch) -> None:
    import gc
    import os

    import ui.loaders

    monkeypatch.setattr(ui.loaders, "UPLOAD_DIR", tmp_path)
    ended, kept = SessionUploads(), SessionUploads()
    gone, old, fresh = ended.save("a.csv", b"a\n"), kept.save("b.csv", b"b\n"), kept.save("c.csv", b"c\n")
    del ended  # Streamlit drops a session's state when the session ends
    gc.collect()
    assert not gone.exists() and old.exists()
    os.utime(old, (0, time.time() - ui.loaders.UPLOAD_KEEP_S - 1))
    kept.save("d.csv", b"d\n")  # each save first removes the uploads older than UPLOAD_KEEP_S
    assert not old.exists() and fresh.exists()


def test_a_tampered_model_is_not_listed_and_the_default_falls_back_to_none(tmp_path: Path) -> None:
    if not SHIPPED.is_dir():
        pytest.skip("no shipped default model")
    from bad_input_cases import _edit_meta, model_folder

    from core.models.registry import default_name, list_models

    model_folder(tmp_path, "no-schema", _edit_meta(lambda m: m.pop("classes")))
    model_folder(tmp_path, "good", lambda c: None)
    (tmp_path / "models" / "default.json").write_text('{"default": "../../etc"}')
    assert [m.name for m in list_models(tmp_path / "models")] == ["good"]
    assert default_name(tmp_path / "models") is None
