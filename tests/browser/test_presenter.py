"""Presenter URLs in real headless Chromium: `show=` leaves only the named controls in view.

A speaker's link `/boundary?…&show=eps` shows the ε slider and the figure and nothing else to
fiddle with; the hidden controls still hold the URL's values, the URL keeps `show` as the page
rewrites it, and a name that is not a control of the page gets the usual warning.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from harness import RunLog, open_page, wait_rendered

pytestmark = pytest.mark.browser
LOAD_MS = 120_000

VISIBLE_KEYS_JS = """() => [...document.querySelectorAll('[data-testid=stElementContainer]')]
    .filter(e => e.checkVisibility())
    .flatMap(e => [...e.classList].filter(c => c.startsWith('st-key-')))"""
VISIBLE_WIDGETS_JS = """() => [...document.querySelectorAll(
    '[data-testid=stSlider], [data-testid=stSelectbox], [data-testid=stNumberInput], ' +
    '[data-testid=stCheckbox], [data-testid=stButton], [data-testid=stButtonGroup], ' +
    '[data-testid=stExpander]')].filter(e => e.checkVisibility()).length"""


def _open(browser: Any, base: str, path: str) -> Any:
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.set_default_timeout(LOAD_MS)
    open_page(page, base, path, timeout_s=LOAD_MS / 1000)
    return page


def test_a_presenter_url_shows_only_the_named_controls(app_server: str, browser: Any) -> None:
    page = _open(browser, app_server, "/boundary?attack=pgd&eps=0.4&steps=12&show=eps")
    try:
        keys = page.evaluate(VISIBLE_KEYS_JS)
        assert "st-key-boundary-eps" in keys
        assert not {"st-key-boundary-attack", "st-key-boundary-steps", "st-key-boundary-dataset",
                    "st-key-boundary-talk", "st-key-boundary-truth"} & set(keys)
        assert page.evaluate(VISIBLE_WIDGETS_JS) == 1  # the ε slider, nothing else
        assert page.locator(".js-plotly-plot .scatterlayer path.point").first.is_visible()
        # The hidden controls hold the URL's values: the figure is PGD's, with 12 steps.
        assert "PGD" in page.locator(".js-plotly-plot .gtitle").first.text_content()
        assert "show=eps" in page.url and "steps=12" in page.url
        # ε moves as usual, and the rewritten URL keeps the presenter's choice.
        before = page.url
        slider = page.get_by_role("slider").first
        slider.focus()
        started = time.perf_counter()
        page.keyboard.press("ArrowRight")
        RunLog.of(page).settle(after=started, timeout_s=LOAD_MS / 1000)
        wait_rendered(page)
        page.wait_for_url(lambda url: url != before and "eps=0.45" in url)
        assert "show=eps" in page.url
    finally:
        page.context.close()


def test_a_presenter_url_warns_of_a_name_that_is_no_control(app_server: str,
                                                            browser: Any) -> None:
    page = _open(browser, app_server, "/digits?show=eps,attack,colour")
    try:
        keys = set(page.evaluate(VISIBLE_KEYS_JS))
        assert {"st-key-digits-eps-linf", "st-key-digits-attack"} <= keys
        assert not {"st-key-digits-model", "st-key-digits-steps", "st-key-digits-index",
                    "st-key-digits-index-source"} & keys
        warning = page.get_by_test_id("stAlertContentWarning").first.inner_text()
        assert "colour" in warning and "not a control of this page" in warning
    finally:
        page.context.close()


def test_a_presenter_url_keeps_every_copy_of_a_setting(app_server: str, browser: Any) -> None:
    """/robustness has a control per tab for some settings (ε of the MNIST comparison, the
    attack, the steps): `show=eps` keeps the open tab's ε slider and hides the rest, toy_eps
    (another setting whose name ends in eps) included."""
    page = _open(browser, app_server,
                 "/robustness?section=training&toy_attack=fgsm&attack=fgsm&show=eps")
    try:
        keys = set(page.evaluate(VISIBLE_KEYS_JS))
        assert "st-key-robustness-eps-training" in keys
        assert not {"st-key-robustness-toy_eps", "st-key-robustness-noise",
                    "st-key-robustness-attack-training", "st-key-robustness-steps-training",
                    "st-key-robustness-talk"} & keys
        assert page.evaluate(VISIBLE_WIDGETS_JS) == 1  # the ε slider, nothing else
        assert "show=eps" in page.url
    finally:
        page.context.close()
