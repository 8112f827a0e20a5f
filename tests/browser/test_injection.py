"""A stranger's URL cannot put markup on the page: no link, image, formatting, table or LaTeX.

Every parameter of every page, and an unknown parameter name, gets each hostile value in turn
(newlines, backticks, brackets, `<`, `$`, `|`, bare addresses, Streamlit directives). The page is
opened in headless Chromium and its DOM is searched for anything the visitor's text created:
an element inside a warning, a link or image that points off the host, the attacker's host
anywhere in an attribute. The warnings must still say what was wrong, with the text shown as
typed.
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import fields
from typing import Any

import pytest
from harness import RunLog

from advcore.playground import state

pytestmark = pytest.mark.browser

PAGES = {
    "/boundary": state.BoundaryScene,
    "/digits": state.DigitsScene,
    "/robustness": state.RobustnessScene,
    "/how-it-works": state.HowScene,
}
# Short enough to be shown whole (state.SHOWN_CHARS); each breaks out of a naive code span.
HOSTILE = (
    "x`\n\n**b** [Login](//e.vil)",
    "a\n\n![](//e.vil/i.png)",
    "<img src=//e.vil/x.png>",
    "$x^2$|a|b|\n|-|-|",
    "www.e.vil :red[x] _i_",
    "<https://e.vil> a@e.vil",
    "`` ` ``<b>B</b>\\",
)
# What a warning may contain: Streamlit's own alert frame. Anything else the text would have made.
MADE_BY_TEXT = "a, img, b, strong, em, i, code, table, del, span.katex, .katex, iframe, svg image"


def hostile_url(path: str, offset: int) -> tuple[str, list[str]]:
    """The page's URL with every field and one unknown name set to a hostile value, rotated by
    `offset` so that over len(HOSTILE) URLs every parameter gets every value."""
    names = [f.name for f in fields(PAGES[path])] + ["zz_unknown"]
    values = [HOSTILE[(i + offset) % len(HOSTILE)] for i in range(len(names))]
    query = urllib.parse.urlencode(dict(zip(names, values, strict=True)))
    unknown_name = HOSTILE[offset % len(HOSTILE)]
    query += "&" + urllib.parse.urlencode({unknown_name: "1"})
    return f"{path}?{query}", values


@pytest.fixture(scope="module")
def tab(browser: Any, app_server: str) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.requests = requests  # every URL the page asked for, to catch a fetched remote image
    log = RunLog.of(page)
    page.goto(app_server + "/")
    page.get_by_test_id("stSidebarNav").wait_for()
    log.settle()
    yield page
    context.close()


@pytest.mark.parametrize("offset", range(len(HOSTILE)))
@pytest.mark.parametrize("path", list(PAGES))
def test_no_markup_from_the_url(tab: Any, app_server: str, path: str, offset: int) -> None:
    url, _ = hostile_url(path, offset)
    log = RunLog.of(tab)
    before = time.perf_counter()
    tab.requests.clear()
    tab.goto(app_server + url)
    tab.get_by_test_id("stSidebarNav").wait_for()
    log.settle(after=before)
    alerts = tab.get_by_test_id("stAlert")
    # Read as a person does: the zero-width spaces that keep addresses inert are not seen.
    texts = [t.replace("\u200b", "") for t in alerts.all_inner_texts()]
    assert any("zz_unknown" in t for t in texts), texts  # the unknown name was pointed out
    assert sum("URL parameter" in t for t in texts) >= len(fields(PAGES[path])), texts
    # The warnings that repeat a visitor's text (the page's own alerts may use bold).
    made = tab.evaluate(
        """sel => [...document.querySelectorAll('[data-testid=stAlert]')]
                   .filter(a => a.textContent.includes('URL parameter'))
                   .flatMap(a => [...a.querySelectorAll(sel)])
                   .map(e => e.outerHTML.slice(0, 120))""", MADE_BY_TEXT)
    assert made == [], made
    off_host = tab.evaluate(
        """() => [...document.querySelectorAll('a[href], img[src], iframe[src], link[href]')]
                 .map(e => e.href || e.src)
                 .filter(u => u && !u.startsWith(location.origin) && !u.startsWith('data:'))""")
    assert off_host == [], off_host
    assert "e.vil" not in tab.evaluate("() => document.body.innerHTML.replace(/>[^<]*</g, '><')")
    # blob:http://127.0.0.1:…/<id> is a same-origin object (the chart component's script).
    fetched = {urllib.parse.urlsplit(u.removeprefix("blob:")).hostname for u in tab.requests}
    assert fetched <= {"127.0.0.1"}, fetched
    # The text is shown as typed (line breaks as ⏎), not swallowed.
    assert any("⏎" in t for t in texts) and any("e.vil" in t for t in texts), texts
