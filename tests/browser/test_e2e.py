"""End to end in real headless Chromium: every page and every named scene opens cleanly.

For each page of the catalog (and home) and each named scene (advcore.playground.scenes.SCENES),
in a 1280 px wide window (a laptop, or a projector in normal mode):
- no Streamlit exception element, and no error in the browser console;
- on each page of the catalog, no title, label, metric or tab label cut off;
- a screenshot in test-artifacts/.
Then: the boundary animation plays and the boundary stays drawn (a light check; the boundary
browser test looks closer), a scene URL opened twice in fresh contexts shows the same widgets and
the same figure titles, a bad URL gets warnings while the server keeps serving everyone else.
The canvas round trip (mouse strokes -> Python -> the attacked digit) is
tests/browser/test_digits_browser.py's job and is not repeated here.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import RunLog, cut_off, wait_rendered

from advcore.playground.scenes import SCENES
from pages.catalog import PAGES

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = pytest.mark.browser

COMPUTE_MS = 240_000  # first visits load models and attack on a busy 2-core box
# Console messages that are not the app's errors: only ones actually seen, each explained.
BENIGN = [
    # Streamlit's frontend finds its base path by probing: on a deep link such as /digits it asks
    # /digits/_stcore/health and /digits/_stcore/host-config first, gets 404, then uses
    # /_stcore/... (the app works; Chromium logs each 404 as a console error).
    re.compile(r"status of 404 .* @ http://127\.0\.0\.1:\d+/[\w-]+/_stcore/(health|host-config)$"),
]


class Tab:
    """A page in a fresh browser context that records console errors and page errors."""

    def __init__(self, browser: Any, base: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 1000})
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        self.runs = RunLog.of(self.page)
        self.base = base
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(
            f"console: {m.text} @ {m.location.get('url', '')}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def open(self, path: str) -> Any:
        start = time.perf_counter()
        self.page.goto(self.base + path)
        self.page.get_by_test_id("stSidebarNav").wait_for(timeout=COMPUTE_MS)
        # The status widget is no sign of the end of a run (it only shows once a run has lasted
        # a while): wait for the server's script_finished and a quiet websocket instead.
        self.runs.settle(start, timeout_s=COMPUTE_MS / 1000)
        self.page.locator("[data-testid='stMain'] h1").first.wait_for()
        wait_rendered(self.page)  # the browser may still be drawing what the server sent
        return self.page

    def problems(self) -> list[str]:
        shown = [f"exception element: {t}" for t in
                 self.page.locator("[data-testid='stException']").all_inner_texts()]
        real = [e for e in self.errors if not any(b.search(e) for b in BENIGN)]
        return shown + real

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def warm(browser: Any, app_server: str) -> str:
    """A fresh server serves pages/ the old way (every file a page, app.py skipped) until some
    session has run app.py's st.navigation: arrive at / once, as a first visitor would (see the
    report on this: a direct link as the very first visit gets the old mode)."""
    t = Tab(browser, app_server)
    try:
        t.open("/")
    finally:
        t.close()
    return app_server


@pytest.fixture
def tab(browser: Any, warm: str) -> Iterator[Tab]:
    t = Tab(browser, warm)
    yield t
    t.close()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"e2e-{name}.png"), full_page=True)


PAGE_NAMES = {p.url_path for p in PAGES}
# The first scene (a boundary scene) is opened by the animation test below, which makes the same
# checks of it before pressing Play: one visit for both.
PLAYED = SCENES[0]
TARGETS = [("home", "/")] + [(p.url_path, f"/{p.url_path}") for p in PAGES] + [
    (f"scene-{s.slug}", s.url()) for s in SCENES if s is not PLAYED]


def _opens_cleanly(tab: Tab, name: str, path: str) -> Any:
    page = tab.open(path)
    # Normal mode at 1280 px (talk mode: test_talk_mode.py), measured as drawn, before the
    # full-page screenshot resizes the window for a moment.
    cut = cut_off(page) if name in PAGE_NAMES else []
    _shot(page, name)
    assert not tab.problems(), tab.problems()
    assert page.locator("[data-testid='stMain'] h1").count() >= 1
    assert not cut, f"cut off on {name}: {cut}"
    if name.startswith("scene-"):  # a named scene opens without a single warning
        assert page.locator("[data-testid='stAlertContentWarning']").count() == 0
    return page


@pytest.mark.parametrize(("name", "path"), TARGETS, ids=[n for n, _ in TARGETS])
def test_every_page_and_scene_opens_without_errors(tab: Tab, name: str, path: str) -> None:
    _opens_cleanly(tab, name, path)


def _boundary_drawn(page: Any) -> dict[str, int]:
    """What of the boundary figure is on screen: the map image and the boundary line."""
    return page.evaluate("""() => {
        const fig = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
        if (!fig) return {layers: 0, paths: 0, frames: 0};
        const layers = [...fig.querySelectorAll('image')].filter(i =>
            (i.getAttribute('href') || '').startsWith('data:image/png')).length;
        const line = fig.querySelector('.scatterlayer .trace path.js-line');
        const paths = line && (line.getAttribute('d') || '').length > 10 ? 1 : 0;
        return {layers, paths, frames: (fig._transitionData && fig._transitionData._frames
                                        || []).length};
    }""")


def test_the_boundary_animation_plays_and_the_boundary_stays(tab: Tab) -> None:
    """A light check (tests/browser/test_boundary_browser.py samples every painted frame), on
    the first scene, which opens as every other scene must (see TARGETS)."""
    page = _opens_cleanly(tab, f"scene-{PLAYED.slug}", PLAYED.url())
    before = _boundary_drawn(page)
    assert before["frames"] > 1, before
    assert before["layers"] + before["paths"] > 0, before
    title = page.locator("[data-testid='stPlotlyChart'] .gtitle").first
    final = title.text_content()
    page.locator("[data-testid='stPlotlyChart'] .updatemenu-button").first.click()  # ▶ Play
    page.wait_for_function("t => { const e = document.querySelector("
                           "'[data-testid=\"stPlotlyChart\"] .gtitle'); "
                           "return e && e.textContent !== t; }", arg=final)  # mid-animation
    during = _boundary_drawn(page)
    _shot(page, "boundary-after-play")
    assert during["layers"] + during["paths"] > 0, during
    assert not tab.problems(), tab.problems()


def _scene_view(page: Any) -> dict[str, Any]:
    """What identifies the picture: every widget's visible value and every figure's title."""
    return page.evaluate("""() => ({
        sliders: [...document.querySelectorAll('[data-testid="stSliderThumbValue"]')]
                 .map(s => s.innerText),
        selects: [...document.querySelectorAll('[data-testid="stSelectbox"]')]
                 .map(s => s.innerText),
        titles: [...document.querySelectorAll('.js-plotly-plot .gtitle, .js-plotly-plot '
                 + '.annotation-text, [data-panel-title]')].map(t => t.textContent),
        metrics: [...document.querySelectorAll('[data-testid="stMetricValue"]')]
                 .map(m => m.innerText),
    })""")


@pytest.mark.parametrize("scene", [SCENES[1], SCENES[2]], ids=lambda s: s.slug)
def test_a_scene_url_reopens_the_same_scene(browser: Any, warm: str, scene: Any) -> None:
    views = []
    for visit in range(2):
        t = Tab(browser, warm)
        try:
            page = t.open(scene.url())
            views.append(_scene_view(page))
            if visit == 1:
                _shot(page, f"reopened-{scene.slug}")
            assert not t.problems(), t.problems()
        finally:
            t.close()
    assert views[0]["sliders"] and views[0]["titles"], views[0]
    assert views[0] == views[1]


def test_a_bad_url_warns_and_the_server_keeps_serving(tab: Tab, warm: str) -> None:
    page = tab.open("/digits?eps=%3Cscript%3Ealert(1)%3C/script%3E&steps=-1e999&model=%F0%9F%98%88"
                    "&index=99999999999&target=banana&talk=maybe")
    _shot(page, "bad-url")
    warnings = page.locator("[data-testid='stAlertContentWarning']").all_inner_texts()
    assert len(warnings) >= 5, warnings
    assert page.locator("script:text('alert(1)')").count() == 0
    assert not tab.problems(), tab.problems()
    with urllib.request.urlopen(f"{warm}/_stcore/health", timeout=10) as r:
        assert r.status == 200
    other = Tab(tab.context.browser, warm)
    try:
        other.open(SCENES[2].url())
        assert not other.problems(), other.problems()
        assert other.page.locator("[data-testid='stAlertContentWarning']").count() == 0
    finally:
        other.close()
