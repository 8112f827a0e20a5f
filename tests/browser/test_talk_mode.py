"""Talk mode in real headless Chromium: every page opened with talk=1 reads from the back of a
room (large body text), keeps its controls tucked into the collapsed sidebar, shows no exception,
and leaves a screenshot in test-artifacts/talk-<page>.png for a person to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from harness import RunLog

from pages.catalog import PAGES

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
COMPUTE_MS = 240_000
TARGETS = [("home", "/?talk=1")] + [(p.url_path, f"/{p.url_path}?talk=1") for p in PAGES]


@pytest.mark.parametrize(("name", "path"), TARGETS, ids=[n for n, _ in TARGETS])
def test_talk_mode_is_large_and_tucks_the_controls_away(browser: Any, app_server: str,
                                                        name: str, path: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})  # a projector
    page = context.new_page()
    RunLog.of(page)  # before the app opens its websocket
    try:
        page.goto(app_server + path)
        page.locator("[data-testid='stMain'] h1").first.wait_for(timeout=COMPUTE_MS)
        page.locator(".js-plotly-plot, [data-panels]").first.wait_for(timeout=COMPUTE_MS)
        RunLog.of(page).settle(timeout_s=COMPUTE_MS / 1000)
        page.wait_for_timeout(800)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"talk-{name}.png"))
        assert page.locator("[data-testid='stException']").count() == 0
        body_px = page.evaluate("""() => {
            const p = document.querySelector(
                '[data-testid="stMainBlockContainer"] [data-testid="stMarkdownContainer"] p');
            return p ? parseFloat(getComputedStyle(p).fontSize) : 0;
        }""")
        assert body_px >= 20, f"body text {body_px}px is too small for a projector"
        # The collapsed sidebar slides off the left edge: its controls are one click away.
        sidebar_right = page.evaluate("""() => {
            const s = document.querySelector('[data-testid="stSidebar"]');
            return s ? s.getBoundingClientRect().right : 0;
        }""")
        assert sidebar_right <= 1, f"controls not tucked away (sidebar reaches x={sidebar_right})"
        assert "talk=1" in page.url  # the mode stays in the URL
    finally:
        context.close()
