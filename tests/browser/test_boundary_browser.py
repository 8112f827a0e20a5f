"""The boundary page in real headless Chromium: what only a browser shows.

Play moves the points; the heatmap and the 0.5 contour are still drawn after Play (the Plotly
`redraw` trap of DESIGN.md); clicking a point draws its ε-ball. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import RunLog

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = pytest.mark.browser

SCENE = "/boundary?dataset=moons&n=120&noise=0.15&seed=0&model=mlp&width=16&depth=2" \
        "&attack=pgd&eps=0.4&steps=10"
LOAD_MS = 120_000
FIG = ".js-plotly-plot"


@pytest.fixture
def tab(app_server: str, browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(30_000)
    RunLog.of(page)  # before the app opens its websocket
    # Until a session has run app.py's st.navigation, Streamlit serves pages/ the old way:
    # open the entry page first and wait for the real menu, as a visitor arriving at / would.
    page.goto(app_server + "/")
    page.get_by_test_id("stSidebarNav").get_by_text("Decision boundary").wait_for(
        timeout=LOAD_MS)
    page.goto(app_server + SCENE)
    page.locator(f"{FIG} .scatterlayer path.point").first.wait_for(timeout=LOAD_MS)
    _wait_idle(page)
    try:
        yield page
    finally:
        context.close()


def _wait_idle(page: Any) -> None:
    """Wait until the app is idle: its last run finished and the websocket is quiet."""
    RunLog.of(page).settle(timeout_s=LOAD_MS / 1000)


def _positions(page: Any) -> list[str]:
    """The transforms of the class-0 points of the first figure (trace 3 = scatter trace 1)."""
    return page.evaluate(f"""() => Array.from(document.querySelector('{FIG}')
        .querySelectorAll('.scatterlayer .trace')[1].querySelectorAll('path.point'))
        .map(e => e.getAttribute('transform'))""")


def _background(page: Any) -> dict[str, int]:
    """How much of the background is drawn: heatmap images (with data) and contour path length."""
    return page.evaluate(f"""() => {{
        const gd = document.querySelector('{FIG}');
        const imgs = Array.from(gd.querySelectorAll('.heatmaplayer image'))
            .filter(i => (i.getAttribute('href') || i.getAttribute('xlink:href') || '')
            .length > 1000);
        const d = Array.from(gd.querySelectorAll('.contourlayer path'))
            .map(p => (p.getAttribute('d') || '').length).reduce((a, b) => a + b, 0);
        return {{heatmaps: imgs.length, contour: d}};
    }}""")


def _shapes(page: Any) -> int:
    """Layout shapes of the first figure: the selected point's ε-ball, if any."""
    return page.evaluate(f"() => (document.querySelector('{FIG}').layout.shapes || []).length")


def test_play_moves_points_and_keeps_the_boundary(tab: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    before_bg = _background(tab)
    assert before_bg["heatmaps"] == 1 and before_bg["contour"] > 50, before_bg
    start = _positions(tab)
    tab.screenshot(path=str(ARTIFACTS / "boundary-before-play.png"))
    tab.locator(f"{FIG} .updatemenu-button").first.click()  # ▶ Play
    moved = False
    for _ in range(20):
        time.sleep(0.2)
        if _positions(tab) != start:
            moved = True
            break
    assert moved, "no point moved after Play"
    during_bg = _background(tab)
    tab.screenshot(path=str(ARTIFACTS / "boundary-during-play.png"))
    _assert_background_pixels(tab)
    assert during_bg["heatmaps"] == 1 and during_bg["contour"] > 50, during_bg
    time.sleep(6)  # 11 frames at 350 ms: the animation is over
    after_bg = _background(tab)
    assert after_bg["heatmaps"] == 1 and after_bg["contour"] > 50, after_bg
    tab.screenshot(path=str(ARTIFACTS / "boundary-after-play.png"))
    _assert_background_pixels(tab)


def _assert_background_pixels(page: Any) -> None:
    """The heatmap's pale blue and orange are on screen (not a white plot with dots)."""
    from io import BytesIO

    from PIL import Image

    box = page.locator(f"{FIG} .nsewdrag").first.bounding_box()
    img = Image.open(BytesIO(page.screenshot(clip=box))).convert("RGB").resize((40, 40))
    pixels = [img.getpixel((i, j)) for i in range(40) for j in range(40)]
    blue = sum(1 for r, _, b in pixels if b > r + 25)
    orange = sum(1 for r, _, b in pixels if r > b + 25)
    assert blue > 100 and orange > 100, (blue, orange)


def test_clicking_a_point_shows_its_eps_ball(tab: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    assert _shapes(tab) == 0
    tab.locator(f"{FIG} .scatterlayer .trace").nth(1).locator("path.point").nth(5).click(
        force=True)
    tab.wait_for_function(f"() => (document.querySelector('{FIG}').layout.shapes || [])"
                          ".length > 0", timeout=LOAD_MS)
    _wait_idle(tab)
    assert _shapes(tab) == 1
    assert tab.locator(f"{FIG} .shapelayer path").count() >= 1  # and it is drawn
    assert tab.get_by_text("Point #").count() >= 1
    assert tab.locator(f"{FIG} .annotation").count() >= 1  # the gradient-sign arrow
    tab.screenshot(path=str(ARTIFACTS / "boundary-clicked-point.png"), full_page=True)
