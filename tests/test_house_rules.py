"""House rules in code (pyproject.toml): ruff (lint + import order), mypy on core/, no import circles in core/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("tool", ["ruff", "mypy"])
def test_ruff_and_mypy_are_clean(tool: str) -> None:
    if not (BIN / tool).exists():
        pytest.skip(f"{tool} is in requirements-dev.txt")
    result = run(str(BIN / tool), "check", ".") if tool == "ruff" else run(str(BIN / tool))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_ruff_reads_core_models() -> None:
    """An exclude of ``models`` (the shipped models folder) once also hid ``core/models/`` from ruff."""
    if not (BIN / "ruff").exists():
        pytest.skip("ruff is in requirements-dev.txt")
    files = run(str(BIN / "ruff"), "check", "--show-files", ".").stdout
    assert str(REPO / "core" / "models" / "train.py") in files


def test_no_import_circles_in_core() -> None:
    result = run(sys.executable, "scripts/import_cycles.py", "core")
    assert result.returncode == 0, result.stdout


def test_the_circle_check_finds_a_circle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import import_cycles
    finally:
        sys.path.remove(str(REPO / "scripts"))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("from pkg.b import x\n")
    (tmp_path / "pkg" / "b.py").write_text("def f():\n    from pkg import a  # deferred, still a circle\n")
    (tmp_path / "pkg" / "c.py").write_text("import pkg.a\n")
    monkeypatch.setattr(import_cycles, "REPO", tmp_path)
    assert import_cycles.cycles("pkg") == [["pkg.a", "pkg.b"]]
