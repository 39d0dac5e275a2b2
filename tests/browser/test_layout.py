"""Every page at 1440 px (desktop) and 390 px (phone) in Chromium: nothing runs off the side, no text is
cut off with an ellipsis, no chart titles overlap; a screenshot of each state under test-artifacts/."""

from __future__ import annotations

import numpy as np
import pytest
from browser_harness import REPO_ROOT, count_reruns, open_page, rerun_after, upload_files, wait_for_charts
from playwright.sync_api import Browser, Page, expect
from test_classify import clip  # noqa: F401 - the fixture: a real clip, else a synthetic song

SHARED = REPO_ROOT.parent / "shared" / "data"
WIDTHS = {"desktop": 1440, "phone": 390}
# Elements wider than the window, text cut off with an ellipsis, and chart titles drawn over each other.
PROBLEMS = """() => {
  const width = document.documentElement.clientWidth, out = [];
  for (const el of document.querySelectorAll('[data-testid="stMain"] *')) {
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    if (box.width && box.right > width + 1 && !el.closest('[data-testid="stDataFrame"], .js-plotly-plot, [role="tablist"]'))
      out.push(`runs off the side: <${el.tagName.toLowerCase()}> ${(el.innerText || '').slice(0, 40)}`);
    const text = el.tagName === 'INPUT' ? el.value : [...el.childNodes].filter(n => n.nodeType === 3)
      .map(n => n.textContent).join('').trim();  // a picker shows its value in an <input>
    const clips = el.tagName === 'INPUT' || style.textOverflow === 'ellipsis' || ['hidden', 'clip'].includes(style.overflowX);
    if (text && clips && el.clientWidth > 2 && el.scrollWidth > el.clientWidth + 1 && el.type !== 'file'
        && !style.fontFamily.includes('Material') && !el.closest('[data-testid="stDataFrame"]'))
      out.push(`cut off: ${text.slice(0, 60)}`);
  }
  const titles = [...document.querySelectorAll('.js-plotly-plot .gtitle, .js-plotly-plot .annotation-text')]
    .map(t => t.getBoundingClientRect()).filter(b => b.width);
  for (let i = 0; i < titles.length; i++) for (let j = i + 1; j < titles.length; j++) {
    const a = titles[i], b = titles[j];
    if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1)
      out.push('chart titles overlap');
  }
  return [...new Set(out)];
}"""


def check(page: Page, shot, name: str) -> None:
    shot(page, name)
    assert page.evaluate(PROBLEMS) == [], name
    assert not page.locator('[data-testid="stException"]').count(), name


@pytest.fixture(params=list(WIDTHS), ids=list(WIDTHS))
def sized(request, browser: Browser) -> Page:
    width = WIDTHS[request.param]
    context = browser.new_context(viewport={"width": width, "height": 900 if width > 800 else 844},
                                  device_scale_factor=1, is_mobile=width < 800, has_touch=width < 800)
    count_reruns(context)
    tab = context.new_page()
    tab.set_default_timeout(120_000)
    yield tab
    context.close()


def test_classify_at_desktop_and_phone_widths(sized: Page, app_url, clip, tmp_path, shot) -> None:  # noqa: F811
    open_page(sized, f"{app_url}/classify", timeout_ms=180_000)
    check(sized, shot, "1-empty")
    upload_files(sized, "Drop one or many songs", clip, timeout_ms=180_000)
    wait_for_charts(sized)
    expect(sized.locator(".cp-genre")).to_be_visible()
    check(sized, shot, "2-result")
    rerun_after(sized, sized.locator('[data-testid="stFileChipDeleteBtn"]').first.click)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(np.random.default_rng(0).bytes(40_000))
    upload_files(sized, "Drop one or many songs", corrupt)
    message = sized.locator('[data-testid="stAlert"]').filter(has_text="corrupt.wav").inner_text()
    assert "ffmpeg" not in message and "video" not in message
    check(sized, shot, "3-error")
    if (SHARED / "gtzan").is_dir():
        rerun_after(sized, sized.locator('[data-testid="stFileChipDeleteBtn"]').first.click)
        rerun_after(sized, sized.get_by_text("Example clip").click)
        wait_for_charts(sized)
        options = sized.get_by_label("Example clip", exact=False)
        expect(options.first).to_be_visible()
        check(sized, shot, "4-example")


@pytest.mark.parametrize("page_path", ["", "explore", "train"])
def test_other_pages_at_desktop_and_phone_widths(sized: Page, app_url, page_path, shot) -> None:
    open_page(sized, f"{app_url}/{page_path}", timeout_ms=180_000)
    wait_for_charts(sized)
    check(sized, shot, page_path or "home")
