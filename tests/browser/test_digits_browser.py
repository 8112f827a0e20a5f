"""The digits page in real headless Chromium: draw a digit with the mouse, attack it, look at it.

What only a browser shows: the canvas component takes mouse strokes, the drawing reaches Python,
and the three panels appear side by side at the same size. Screenshots go to test-artifacts/.
The server and the browser come from the shared harness in tests/browser/conftest.py
(`app_server`, `browser`): skipped without /usr/bin/chromium unless ADVPLAY_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import RunLog, enter

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ACTION_MS = 30_000
COMPUTE_MS = 180_000  # the first run loads three models and attacks them on a busy 2-core box

pytestmark = pytest.mark.browser


@pytest.fixture
def page(app_server: str, browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    tab = context.new_page()
    tab.set_default_timeout(ACTION_MS)
    RunLog.of(tab)  # before the app opens its websocket
    # Until some session has run app.py's st.navigation, Streamlit serves a pages/ folder the
    # old way (every file a page, app.py's layout skipped): harness.enter opens the entry page
    # first unless app_server has already run it.
    enter(tab, app_server, timeout_s=COMPUTE_MS / 1000)
    try:
        yield tab
    finally:
        context.close()


def _wait_idle(tab: Any) -> None:
    """Wait until the app is idle: its last run finished and the websocket is quiet."""
    RunLog.of(tab).settle(timeout_s=COMPUTE_MS / 1000)


def _panel_title(tab: Any, which: str) -> str:
    text = tab.locator(".st-key-digits-panels").inner_text()
    match = re.search(rf"{which} → (\d)", text)
    assert match, text
    return match.group(1)


def test_draw_a_digit_attack_it_and_screenshot_the_panels(page: Any, app_server: str) -> None:
    tab = page
    tab.goto(app_server + "/digits?model=mnist-cnn&attack=fgsm&eps=0.2&index=0")
    tab.get_by_test_id("stPlotlyChart").first.wait_for(timeout=COMPUTE_MS)
    tab.get_by_role("radiogroup", name="Digit").get_by_role("radio", name="Draw").click()

    canvas = tab.locator("canvas.upper-canvas")
    canvas.wait_for()
    box = canvas.bounding_box()
    assert box and box["width"] >= 200

    def at(fx: float, fy: float) -> tuple[float, float]:
        return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

    # A 7, drawn as a person would: the bar left to right, then the stem down to the left.
    tab.mouse.move(*at(0.25, 0.22))
    tab.mouse.down()
    for k in range(1, 21):
        tab.mouse.move(*at(0.25 + 0.5 * k / 20, 0.22))
    for k in range(1, 31):
        tab.mouse.move(*at(0.75 - 0.3 * k / 30, 0.22 + 0.6 * k / 30))
    tab.mouse.up()

    # The preview appears only once the drawing has reached Python and been preprocessed; the
    # panels above it then belong to the drawn digit, not to the test digit shown before.
    tab.get_by_text("What the model sees").wait_for(timeout=COMPUTE_MS)
    _wait_idle(tab)
    # The sliders still show the scene's ε and steps after the canvas was empty for a run (a
    # fragment's widgets that skip a run come back with their minimum in the browser otherwise).
    thumbs = tab.locator("[data-testid='stMain'] [data-testid='stSliderThumbValue']")
    assert thumbs.all_inner_texts() == ["0.200", "10"]
    panels = tab.locator(".st-key-digits-panels")

    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "digits-drawn-page.png"), full_page=True)
    panels.scroll_into_view_if_needed()
    panels.screenshot(path=str(ARTIFACTS / "digits-drawn-panels.png"))

    # Three panels, side by side, the same size.
    boxes = [b for b in (r.bounding_box() for r in panels.locator("img[data-panel]").all()) if b]
    assert len(boxes) == 3
    assert max(b["width"] for b in boxes) - min(b["width"] for b in boxes) < 1.5
    assert max(b["height"] for b in boxes) - min(b["height"] for b in boxes) < 1.5
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]
    assert boxes[0]["width"] >= 150  # readable: at least ~5 screen pixels per digit pixel
    # The pictures are really there: three decoded 28×28 images.
    assert panels.locator("img[data-panel]").evaluate_all(
        "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)") == [28, 28, 28]

    # The drawing is read as the 7 it is, and FGSM at ε = 0.2 is reported on the page.
    assert _panel_title(tab, "Original") == "7"
    main = tab.locator("[data-testid='stMain']").inner_text()
    assert "FGSM at ε = 0.200 (51.0/255)" in main

    # The logit race plays, and its digit (a heatmap) is still drawn afterwards: frames redraw
    # fully, the trap DESIGN.md warns about for animated heatmaps.
    race = tab.locator(".st-key-digits-race")
    race.scroll_into_view_if_needed()
    race.get_by_text("▶ Play").click()
    # Wait on the animation itself: it leaves the chosen ε, then comes back to it at the end.
    tab.wait_for_function("() => !document.querySelector('.st-key-digits-race')"
                          ".innerText.includes('ε = 0.200')", timeout=60_000)
    tab.wait_for_function("() => document.querySelector('.st-key-digits-race')"
                          ".innerText.includes('ε = 0.200')", timeout=60_000)
    assert race.locator("g.hm image").count() == 1
    assert "ε = 0.200" in race.inner_text()  # it ended on the chosen ε
    race.screenshot(path=str(ARTIFACTS / "digits-drawn-race-after-play.png"))
