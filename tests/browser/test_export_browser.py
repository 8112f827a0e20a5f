"""Exports for slides, from the page: the buttons hand over a GIF and an MP4 that decode to one
frame per step of the digit's morph, made on the server with no browser involved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from harness import open_page

from advcore.playground.scenes import get_scene

pytestmark = pytest.mark.browser

COMPUTE_MS = 240_000


def test_the_digit_morph_downloads_as_gif_and_mp4(browser: Any, app_server: str,
                                                   tmp_path: Path) -> None:
    import imageio_ffmpeg
    from PIL import Image, ImageSequence


    scene = get_scene("seven-to-three")  # PGD: an iterative attack, so the race has 6 frames
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(COMPUTE_MS)
    try:
        open_page(page, app_server, scene.url())
        page.get_by_text("For your slides: the digit morphing as ε grows").click()  # no rerun
        page.get_by_role("button", name="Animated GIF").wait_for()
        files = {}
        for label, suffix in (("Animated GIF", "gif"), ("Video (MP4)", "mp4")):
            with page.expect_download(timeout=COMPUTE_MS) as info:
                page.get_by_role("button", name=label).click()
            path = tmp_path / f"morph.{suffix}"
            info.value.save_as(path)
            files[suffix] = path
        gif = Image.open(files["gif"])
        assert sum(1 for _ in ImageSequence.Iterator(gif)) == 6
        reader = imageio_ffmpeg.read_frames(str(files["mp4"]))
        next(reader)
        assert sum(1 for _ in reader) == 6
    finally:
        context.close()


def test_the_boundary_scene_exports_gif_mp4_and_an_html_that_plays_offline(
        browser: Any, app_server: str, tmp_path: Path) -> None:
    import imageio_ffmpeg
    from PIL import Image, ImageSequence

    scene = get_scene("pgd-walks")
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(COMPUTE_MS)
    try:
        open_page(page, app_server, scene.url())
        frames = page.evaluate("() => document.querySelector('.js-plotly-plot')"
                               "._transitionData._frames.length")
        page.get_by_text("For your slides: this animation as GIF, MP4 or HTML").click()
        files = {}
        for label, suffix in (("Animated GIF", "gif"), ("Video (MP4)", "mp4"),
                              ("Figure (HTML, offline)", "html")):
            button = page.get_by_role("button", name=label)
            button.wait_for()
            with page.expect_download(timeout=COMPUTE_MS) as info:
                button.click()
            files[suffix] = tmp_path / f"scene.{suffix}"
            info.value.save_as(files[suffix])
    finally:
        context.close()
    assert sum(1 for _ in ImageSequence.Iterator(Image.open(files["gif"]))) == frames
    reader = imageio_ffmpeg.read_frames(str(files["mp4"]))
    next(reader)
    assert sum(1 for _ in reader) == frames
    # The HTML opens with the network off and plays: ▶ Play changes the figure's title.
    offline = browser.new_context(offline=True)
    try:
        tab = offline.new_page()
        failed: list[str] = []
        tab.on("requestfailed", lambda r: failed.append(r.url))
        tab.goto(files["html"].as_uri())
        title = tab.locator(".gtitle").first
        title.wait_for(timeout=60_000)
        final = title.text_content()
        tab.locator(".updatemenu-button").first.click()
        tab.wait_for_function("t => document.querySelector('.gtitle').textContent !== t",
                              arg=final, timeout=60_000)
        assert not failed, failed
        assert scene.params["dataset"] in tab.content()  # the stamp names the scene
    finally:
        offline.close()
