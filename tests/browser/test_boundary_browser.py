"""The boundary page in real headless Chromium: what only a browser shows.

Play moves the points, and the probability map and the 0.5 boundary stay drawn on every frame
the browser paints during Play and after it, in both modes, on every boundary scene, with a CPU
hog loading both cores (a speaker's laptop runs slides and a video call; the map used to blink
away there). Clicking a point draws its ε-ball. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from harness import RunLog, enter

from advcore.playground.scenes import SCENES

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
    # harness.enter opens the entry page first unless app_server has already run it.
    enter(page, app_server, timeout_s=LOAD_MS / 1000)
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
    """The transforms of the class-0 points of the first figure (trace 2: after the boundary
    line and the clean positions)."""
    return page.evaluate(f"""() => Array.from(document.querySelector('{FIG}')
        .querySelectorAll('.scatterlayer .trace')[2].querySelectorAll('path.point'))
        .map(e => e.getAttribute('transform'))""")


BACKGROUND_JS = f"""() => {{
    const gd = document.querySelector('{FIG}');
    const map = [...gd.querySelectorAll('image')].filter(i =>
        (i.getAttribute('href') || i.getAttribute('xlink:href') || '').length > 1000).length;
    const line = gd.querySelector('.scatterlayer .trace path.js-line');
    return {{map, boundary: line ? (line.getAttribute('d') || '').length : 0}};
}}"""


def _background(page: Any) -> dict[str, int]:
    """How much of the background is drawn: the map image (with data) and the boundary line's
    path length."""
    return page.evaluate(BACKGROUND_JS)


def _shapes(page: Any) -> int:
    """Layout shapes of the first figure: the selected point's ε-ball, if any."""
    return page.evaluate(f"() => (document.querySelector('{FIG}').layout.shapes || []).length")


def _record_frames(page: Any) -> None:
    """From now on, sample the background on every frame the browser paints
    (requestAnimationFrame), with the figure's title, until `_stop_recording`."""
    page.evaluate(f"""() => {{
        const sample = {BACKGROUND_JS};
        const gd = document.querySelector('{FIG}');
        window.__frames = [];
        window.__recording = true;
        const tick = () => {{
            const s = sample();
            s.title = (gd.querySelector('.gtitle') || {{}}).textContent || '';
            window.__frames.push(s);
            if (window.__recording) requestAnimationFrame(tick);
        }};
        requestAnimationFrame(tick);
    }}""")


def _stop_recording(page: Any) -> list[dict[str, Any]]:
    return page.evaluate("() => { window.__recording = false; return window.__frames; }")


@contextmanager
def cpu_hog(processes: int = 2) -> Iterator[None]:
    """Processes spinning on the CPU for the duration, stopped by their PIDs."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(processes)]
    try:
        yield
    finally:
        for h in hogs:
            h.kill()
            h.wait(timeout=10)


def _play_and_watch(page: Any, name: str) -> list[dict[str, Any]]:
    """Press ▶ Play under a CPU hog and record every painted frame until the last frame's title
    is back (the animation has ended); a screenshot and a pixel check mid-way and after."""
    final = page.locator(f"{FIG} .gtitle").first.text_content()
    with cpu_hog():
        _record_frames(page)
        page.locator(f"{FIG} .updatemenu-button").first.click()  # ▶ Play
        page.wait_for_function(f"() => window.__frames.some(f => f.title !== {final!r})")
        page.screenshot(path=str(ARTIFACTS / f"{name}-during-play.png"))
        _assert_background_pixels(page)
        page.wait_for_function(f"""() => {{
            const f = window.__frames;
            const i = f.findIndex(x => x.title !== {final!r});
            return i >= 0 && f.slice(i).some(x => x.title === {final!r});
        }}""")
        frames = _stop_recording(page)
    page.screenshot(path=str(ARTIFACTS / f"{name}-after-play.png"))
    _assert_background_pixels(page)
    return frames


def _lost(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if f["map"] != 1 or f["boundary"] < 10]


def test_play_moves_points_and_keeps_the_boundary(tab: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    before_bg = _background(tab)
    assert before_bg["map"] == 1 and before_bg["boundary"] >= 10, before_bg
    start = _positions(tab)
    tab.screenshot(path=str(ARTIFACTS / "boundary-before-play.png"))
    frames = _play_and_watch(tab, "boundary")
    assert len({f["title"] for f in frames}) >= 5, "the animation did not step through frames"
    lost = _lost(frames)
    assert not lost, f"{len(lost)} of {len(frames)} painted frames lost the map: {lost[:3]}"
    assert _positions(tab) == start  # back on the last frame, where it started


BOUNDARY_SCENES = [s for s in SCENES if s.page == "boundary"]


@pytest.mark.parametrize("talk", [False, True], ids=["normal", "talk"])
@pytest.mark.parametrize("scene", BOUNDARY_SCENES, ids=lambda s: s.slug)
def test_every_boundary_scene_keeps_its_map_through_play(app_server: str, browser: Any,
                                                          scene: Any, talk: bool) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    size = {"width": 1280, "height": 720} if talk else {"width": 1920, "height": 1080}
    context = browser.new_context(viewport=size)
    page = context.new_page()
    page.set_default_timeout(LOAD_MS)
    try:
        log = RunLog.of(page)
        enter(page, app_server, timeout_s=LOAD_MS / 1000)
        page.goto(app_server + scene.url(talk=talk))
        page.locator(f"{FIG} .scatterlayer path.point").first.wait_for()
        log.settle(timeout_s=LOAD_MS / 1000)
        frames = _play_and_watch(page, f"boundary-{scene.slug}-{'talk' if talk else 'normal'}")
        assert len({f["title"] for f in frames}) >= 3
        lost = _lost(frames)
        assert not lost, f"{len(lost)} of {len(frames)} frames lost the map: {lost[:3]}"
    finally:
        context.close()


def _assert_background_pixels(page: Any) -> None:
    """The map's pale blue and orange are on screen (not a white plot with dots)."""
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
    tab.locator(f"{FIG} .scatterlayer .trace").nth(2).locator("path.point").nth(5).click(
        force=True)
    tab.wait_for_function(f"() => (document.querySelector('{FIG}').layout.shapes || [])"
                          ".length > 0", timeout=LOAD_MS)
    _wait_idle(tab)
    assert _shapes(tab) == 1
    assert tab.locator(f"{FIG} .shapelayer path").count() >= 1  # and it is drawn
    assert tab.get_by_text("Point #").count() >= 1
    assert tab.locator(f"{FIG} .annotation").count() >= 1  # the gradient-sign arrow
    tab.screenshot(path=str(ARTIFACTS / "boundary-clicked-point.png"), full_page=True)
