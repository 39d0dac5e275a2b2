"""The app starts in a real browser: the home page, its links and the sidebar dataset setting. (Each page's
URL opened first on a fresh server: tests/browser/test_classify.py, on the server with a small upload limit.)"""

import json

from browser_harness import REPO_ROOT, open_page, rerun_after, set_dataset_folder


def test_home_page_links_to_every_page(page, app_url, shot):
    open_page(page, app_url)
    assert page.get_by_role("heading", name="Classically Punk").is_visible()
    default = (REPO_ROOT / "models" / "default.json")
    if default.exists():  # the shipped default model is named on the home page
        name = json.loads(default.read_text())["default"]
        assert page.get_by_role("heading", name=f"Default model: {name}").is_visible()
    shot(page, "home")
    rerun_after(page, page.locator('[data-testid="stMain"]').get_by_role("link", name="Explore").click)
    assert page.url.endswith("/explore")
    assert page.get_by_role("heading", name="Explore").first.is_visible()


def test_missing_dataset_folder_is_reported(page, app_url, shot):
    """Typed in the sidebar ($CPUNK_DATA_DIR's default, the same field: tests/test_classify_apptest.py)."""
    open_page(page, app_url)
    set_dataset_folder(page, "/nonexistent/folder")
    alert = page.locator('[data-testid="stSidebar"] [data-testid="stAlert"]')
    assert "Folder not found" in alert.inner_text()
    shot(page, "missing-folder")
