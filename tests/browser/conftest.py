"""Fixtures for real-browser tests: a headless Streamlit server, Debian's Chromium, screenshots.

- ``app_url``: one ``streamlit run app.py`` for the whole session (default settings).
- ``start_app(env)``: start another server with its own environment (stopped at the end of the test).
- ``page``: a fresh Chromium tab (1440x900, downloads allowed); a failing test leaves ``failure.png``.
- ``shot(page, name)``: save ``test-artifacts/<test-name>/<name>.png`` (full page).
Helpers to wait for reruns (``rerun_after``) and upload files (``upload_files``) are in ``browser_harness``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is in requirements-dev.txt")
from browser_harness import CHROMIUM, REPO_ROOT, StreamlitServer, count_reruns, launch_chromium, screenshot  # noqa: E402
from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

ARTIFACTS = REPO_ROOT / "test-artifacts"

pytestmark = pytest.mark.timeout(300)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (scripts/test.sh installs Debian's chromium)")
    with sync_playwright() as pw:
        chromium = launch_chromium(pw)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def app_url() -> Iterator[str]:
    with StreamlitServer() as server:
        yield server.url


@pytest.fixture
def start_app() -> Iterator[Callable[[dict[str, str | None]], str]]:
    servers: list[StreamlitServer] = []

    def start(env: dict[str, str | None]) -> str:
        servers.append(StreamlitServer(env).start())
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):  # only this run's screenshots (and failure.png) stay
        old.unlink()
    return folder


@pytest.fixture
def shot(artifacts: Path) -> Callable[[Page, str], Path]:
    def save(page: Page, name: str) -> Path:
        return screenshot(page, artifacts / f"{name}.png")

    return save


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest, artifacts: Path) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    count_reruns(context)
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        screenshot(tab, artifacts / "failure.png")
    context.close()
