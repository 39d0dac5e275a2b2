"""Public mode in a real browser: the sidebar offers only the allowlisted folder, example clips and
tables come only from inside it, no page shows a server path, and Train keeps models in the session."""

from __future__ import annotations

import numpy as np
import soundfile as sf
from browser_harness import open_page, rerun_after
from playwright.sync_api import expect

from core.data.explore import synthetic_table
from core.data.store import write_parquet_atomic
from core.features.schema import SEED


def options(page, label: str) -> list[str]:
    """The options of the selectbox labelled ``label`` (opened, read, closed)."""
    page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first.click()
    found = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return found


def test_a_visitor_sees_only_the_shared_folder(page, start_app, tmp_path, shot):
    shared, secret = tmp_path / "shared", tmp_path / "secret"
    (shared / "metal").mkdir(parents=True)
    secret.mkdir()
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(22_050 * 3) / 22_050)
    sf.write(shared / "metal" / "metal.00000.wav", tone, 22_050)
    sf.write(secret / "private.wav", tone, 22_050)
    write_parquet_atomic(synthetic_table(SEED, n_tracks=10), secret / "private.parquet")
    (shared / "metal" / "leak.wav").symlink_to(secret / "private.wav")
    (shared / "leak.parquet").symlink_to(secret / "private.parquet")
    (shared / "loop").symlink_to(shared)
    url = start_app({"CPUNK_MODE": "public", "CPUNK_ALLOWED_DIRS": str(shared)})

    open_page(page, f"{url}/classify")
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.locator('[data-testid="stTextInput"]')).to_have_count(0)  # no free-text folder
    expect(sidebar).to_contain_text("Public demo")
    rerun_after(page, page.locator('[data-testid="stButtonGroup"]').get_by_text("Example clip").click)
    assert options(page, "Example clip") == ["metal/metal.00000.wav"]
    shot(page, "classify-examples")
    assert str(tmp_path) not in page.locator('[data-testid="stApp"]').inner_text()

    open_page(page, f"{url}/train")
    tables = options(page, "Feature table")
    assert "Another file or store folder (path)…" not in tables and not [t for t in tables if "leak" in t]
    assert tables[-1] == "Upload a CSV or Parquet file…"
    assert str(tmp_path) not in page.locator('[data-testid="stApp"]').inner_text()
    shot(page, "train-sources")
