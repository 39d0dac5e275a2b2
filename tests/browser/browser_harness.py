"""Real-browser harness pieces: a headless ``streamlit run app.py`` server and Debian's Chromium via Playwright.

Used by the fixtures in ``tests/browser/conftest.py`` and by ``bench/explore_render.py``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
APP = '[data-testid="stApp"]'
# Counts script runs in window.__stRuns (each time stApp's script state becomes "running").
RUN_COUNTER = """
window.__stRuns = 0;
new MutationObserver((records) => {
  for (const r of records) {
    const app = r.type === "attributes" ? r.target : document.querySelector('[data-testid="stApp"]');
    if (app && app.getAttribute && app.getAttribute("data-test-script-state") === "running"
        && app.__stState !== "running") { window.__stRuns += 1; }
    if (app && app.getAttribute) { app.__stState = app.getAttribute("data-test-script-state"); }
  }
}).observe(document, {subtree: true, childList: true, attributes: true,
                      attributeFilter: ["data-test-script-state"]});
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """``streamlit run app.py`` headless on a free loopback port; use as a context manager.

    ``env`` entries are added to (or, with value ``None``, removed from) a copy of the environment.
    The server's output goes to a log file, shown in the error when it fails to start.
    """

    def __init__(self, env: dict[str, str | None] | None = None, app: str = "app.py", timeout_s: float = 90,
                 root: Path = REPO_ROOT):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        self.root = root  # the checkout whose app runs
        self.timeout_s = timeout_s
        self.env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                    "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                    "TF_CPP_MIN_LOG_LEVEL": "2"}
        for key, value in (env or {}).items():
            if value is None:
                self.env.pop(key, None)
            else:
                self.env[key] = value
        self.log_path = Path(tempfile.mkstemp(prefix="streamlit-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def start(self) -> StreamlitServer:
        cmd = [sys.executable, "-m", "streamlit", "run", self.app, "--server.headless=true",
               f"--server.port={self.port}", "--server.address=127.0.0.1",
               "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(cmd, cwd=self.root, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"streamlit did not become healthy in {self.timeout_s:.0f} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def maps(self, fragment: str) -> bool:
        """Whether the server process has a file whose path contains ``fragment`` mapped (``/proc/PID/maps``:
        what it has loaded, e.g. TensorFlow's libraries, seen from outside the process)."""
        assert self.process is not None, "start the server first"
        return fragment in Path(f"/proc/{self.process.pid}/maps").read_text()

    def memory_mb(self) -> dict[str, float]:
        """The server process's resident memory now (``rss``) and its peak so far (``peak``), in MB."""
        assert self.process is not None, "start the server first"
        status = dict(line.split(":", 1) for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines())
        return {"rss": int(status["VmRSS"].split()[0]) / 1024, "peak": int(status["VmHWM"].split()[0]) / 1024}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> StreamlitServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless; never a downloaded browser."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def count_reruns(context: BrowserContext) -> None:
    """Make every tab of ``context`` count Streamlit script runs (needed by :func:`rerun_after`)."""
    context.add_init_script(RUN_COUNTER)


def runs(page: Page) -> int:
    """How many script runs this tab has seen (0 when :func:`count_reruns` was not installed)."""
    return page.evaluate("window.__stRuns || 0")


def rerun_after(page: Page, action: Callable[[], object], start_timeout_ms: float = 3_000,
                timeout_ms: float = 60_000) -> None:
    """Do ``action`` (a click, a fill...), wait for the rerun it triggers to start, then to finish.

    Widgets that do not rerun the script are fine: after ``start_timeout_ms`` without a new run the
    page is simply waited on as it is.
    """
    before = runs(page)
    action()
    try:
        page.wait_for_function(f"(window.__stRuns || 0) > {before}", timeout=start_timeout_ms)
    except PlaywrightTimeout:
        pass
    wait_for_app(page, timeout_ms)


def wait_for_app(page: Page, timeout_ms: float = 60_000) -> None:
    """Wait until Streamlit has finished running the script and nothing on the page is stale."""
    page.wait_for_selector(f'{APP}[data-test-script-state="notRunning"]', timeout=timeout_ms)
    page.wait_for_function(
        """() => !document.querySelector('[data-testid="stStatusWidget"] [data-testid$="RunningIcon"]')
                 && !document.querySelector('[data-stale="true"]')
                 && !document.querySelector('[data-testid="stSkeleton"]')""",
        timeout=timeout_ms,
    )


def wait_for_charts(page: Page, timeout_ms: float = 60_000) -> None:
    """Wait until every plotly chart on the page has drawn (plotly renders after the script run ends)."""
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
                 .every(c => c.querySelector('.js-plotly-plot .main-svg'))""",
        timeout=timeout_ms,
    )


def open_page(page: Page, url: str, timeout_ms: float = 60_000) -> None:
    """Go to ``url`` and wait until the app has rendered it."""
    page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
    page.wait_for_selector(f'{APP}[data-test-script-state]:not([data-test-script-state="initial"])',
                           timeout=timeout_ms)
    wait_for_app(page, timeout_ms)


def new_tab(browser: Browser, url: str, width: int = 1440, timeout_ms: float = 60_000) -> Page:
    """A tab of its own (a new context ``width`` px wide, counting reruns) opened on ``url``, waiting up to
    ``timeout_ms`` for anything by default."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    count_reruns(context)
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    open_page(page, url, timeout_ms=timeout_ms)
    return page


def set_dataset_folder(page: Page, folder: Path | str) -> None:
    """Type ``folder`` into the sidebar's dataset folder (lab mode) for this session; no server of its own."""
    field = page.locator('[data-testid="stSidebar"]').get_by_role("textbox", name="Dataset folder")
    field.fill(str(folder))
    rerun_after(page, lambda: field.press("Enter"))


def file_uploader(page: Page, label: str) -> Locator:
    """The ``st.file_uploader`` whose label contains ``label``."""
    return page.locator('[data-testid="stFileUploader"]').filter(has_text=label)


def upload_files(page: Page, label: str, files: list[Path] | Path, timeout_ms: float = 60_000) -> None:
    """Put ``files`` into the uploader labelled ``label`` and wait for the rerun to finish."""
    paths = [str(f) for f in (files if isinstance(files, list) else [files])]
    field = file_uploader(page, label).locator('input[type="file"]')
    rerun_after(page, lambda: field.set_input_files(paths), start_timeout_ms=10_000, timeout_ms=timeout_ms)


def element_text(page: Page, test_id: str) -> list[str]:
    """Inner text of every element with ``data-testid=test_id`` (e.g. "stAlert", "stMetric")."""
    return page.locator(f'[data-testid="{test_id}"]').all_inner_texts()


def screenshot(page: Page, path: Path | str, max_height: int = 6000) -> Path:
    """Save a PNG of the whole app, including what is scrolled out of view.

    Streamlit scrolls inside its main container, so Playwright's ``full_page`` alone shows only the
    viewport: the viewport is stretched to the content height for the shot and then restored.
    """
    size = page.viewport_size or {"width": 1440, "height": 900}
    height = page.evaluate("""() => Math.max(...['stMain', 'stSidebarContent'].map(id =>
        (document.querySelector(`[data-testid="${id}"]`) || {scrollHeight: 0}).scrollHeight))""")
    stretched = min(height, max_height)
    if stretched > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": stretched})
        page.wait_for_timeout(400)  # let charts re-layout to the new size
    page.screenshot(path=str(path), full_page=True)
    if stretched > size["height"]:
        page.set_viewport_size(size)
    return Path(path)
