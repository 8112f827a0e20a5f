"""Talk mode in real headless Chromium: every page opened with talk=1 reads from the back of a
room (large body text), keeps its controls tucked into the collapsed sidebar, shows no exception,
and leaves a screenshot in test-artifacts/talk-<page>.png for a person to look at."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from harness import RunLog, assert_nothing_cut, enter, open_page, wait_rendered

from advcore.playground.scenes import SCENES
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
        wait_rendered(page)
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


# What each named scene is about, which must be on a 1280×720 projector's first screen.
KEY_ELEMENT = {
    "fgsm-corner": ".js-plotly-plot .shapelayer path",  # point #0's ε-square
    "pgd-walks": ".js-plotly-plot .nsewdrag",            # the map with its points
    "attack-short-of-truth": ".js-plotly-plot .shapelayer path",  # #127's ε and certified balls
    "seven-to-three": "[data-panels] img",               # original, perturbation, adversarial
    "robust-holds": "[data-panels] img",
    "softmax-falls": "[data-panels] img",
    "beside-the-papers": ".js-plotly-plot .legend",      # which curve is which
    "training-as-augmentation": ".js-plotly-plot .nsewdrag",  # before and after, 2-D
}
# How many of the matches count (the rest of the page may scroll): all, unless said here.
KEY_COUNT = {"pgd-walks": 1, "beside-the-papers": 1, "training-as-augmentation": 2,
             "attack-short-of-truth": 2}


@pytest.mark.parametrize("scene", SCENES, ids=lambda s: s.slug)
def test_each_scene_shows_its_point_on_the_first_projector_screen(browser: Any, app_server: str,
                                                                   scene: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    RunLog.of(page)  # before the app opens its websocket
    try:
        enter(page, app_server, timeout_s=COMPUTE_MS / 1000)
        # What is measured is the key element's place, which the parts of the page drawn after
        # it (a gallery, a test-set count further down) do not move: wait for it, not for them.
        page.goto(app_server + scene.url(talk=True))
        page.locator(KEY_ELEMENT[scene.slug]).first.wait_for(timeout=COMPUTE_MS)
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => "
                      "requestAnimationFrame(r)))")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"talk-scene-{scene.slug}.png"))
        box = page.evaluate("""([sel, n]) => {
            const rs = [...document.querySelectorAll(sel)].slice(0, n)
                .map(e => e.getBoundingClientRect());
            return {top: Math.min(...rs.map(r => r.top)), bottom: Math.max(...rs.map(r => r.bottom)),
                    left: Math.min(...rs.map(r => r.left)), right: Math.max(...rs.map(r => r.right)),
                    scroll: document.querySelector('[data-testid="stMain"]').scrollTop
                            + window.scrollY};
        }""", [KEY_ELEMENT[scene.slug], KEY_COUNT.get(scene.slug, 1000)])
        assert box["scroll"] == 0, box
        assert box["top"] >= 0 and box["bottom"] <= 720, f"{scene.slug}: {box}"
        assert box["left"] >= 0 and box["right"] <= 1280, f"{scene.slug}: {box}"
        assert_nothing_cut(page, scene.slug)
    finally:
        context.close()


# Normal mode at 1280 px: test_e2e.py's test_every_page_and_scene_opens_without_errors checks
# that nothing is cut off on every page, at 1280 px, as it opens them.


def test_talk_mode_shows_the_room_a_qr_code_of_the_scene(browser: Any, app_server: str) -> None:
    scene = SCENES[0]
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    log = RunLog.of(page)
    try:
        open_page(page, app_server, scene.url(talk=True), timeout_s=COMPUTE_MS / 1000)
        page.get_by_test_id("stExpandSidebarButton").click()
        before = time.perf_counter()
        page.get_by_role("button", name="QR code of this scene").click()
        log.settle(after=before, timeout_s=COMPUTE_MS / 1000)
        dialog = page.get_by_role("dialog")
        dialog.locator("img").wait_for(timeout=COMPUTE_MS)
        wait_rendered(page)
        assert dialog.locator("img").evaluate("i => i.complete && i.naturalWidth") >= 300
        shown = dialog.locator("code").inner_text().replace("\n", "")
        assert shown == page.url, (shown, page.url)  # the code is this very scene
        page.screenshot(path=str(ARTIFACTS / "talk-qr.png"))
    finally:
        context.close()
