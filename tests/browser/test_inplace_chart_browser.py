"""Figures update in place (pages/chart.py): moving ε never takes a chart out of the page.

st.plotly_chart mounted a new chart for every new figure, so each ε step removed the old one and
the browser painted a blank frame before the new one. Here a MutationObserver counts every
`.js-plotly-plot` that leaves the DOM while ε moves on /boundary and /digits: there must be none,
and the chart must be the very same element after the steps. Clicking a point still selects it
(and it stays selected while ε moves), ▶ Play still plays after an ε step re-created the frames,
and plotly.js came from this server, once.

An ε press moves the points before the server has answered (the preview pages/chart.py sends
beside each figure): the map and the curve change before the new figure reaches the chart, and
once the server's figure is drawn the map is the picture a fresh page draws, also after presses
faster than the server, and never on a figure the visitor has changed.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from harness import RunLog, open_page, wait_rendered

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(os.environ.get("ADVPLAY_CHART") == "native",
                       reason="ADVPLAY_CHART=native draws with st.plotly_chart"),
]

FIG = ".js-plotly-plot"
BOUNDARY = "/boundary?dataset=moons&n=80&model=mlp&width=8&depth=1&attack=pgd&steps=5&eps=0.3"
DIGITS = "/digits?model=mnist-linear&attack=fgsm&index=0&eps=0.1"

WATCH = """() => {
    window.__removed = 0;
    window.__charts = [...document.querySelectorAll('.js-plotly-plot')];
    new MutationObserver(records => {
        for (const r of records) for (const n of r.removedNodes) {
            if (n.nodeType === 1 && (n.matches('.js-plotly-plot')
                                     || n.querySelector('.js-plotly-plot'))) window.__removed++;
        }
    }).observe(document.body, {subtree: true, childList: true});
}"""
SAME = """() => { const now = [...document.querySelectorAll('.js-plotly-plot')];
    return now.length === window.__charts.length
        && now.every((c, i) => c === window.__charts[i]); }"""


@pytest.fixture
def tab(app_server: str, browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(120_000)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.requests = requests
    RunLog.of(page)
    try:
        yield page
    finally:
        context.close()


def _eps_thumb(page: Any) -> Any:
    return (page.get_by_test_id("stSlider").filter(has_text=re.compile(r"^ε")).first
            .get_by_role("slider"))


def _step(page: Any, key: str = "ArrowRight") -> None:
    """One ε step with the keyboard, as a speaker does; back when the page is drawn again."""
    _eps_thumb(page).focus()
    start = time.perf_counter()
    page.keyboard.press(key)
    RunLog.of(page).wait_finished(start)
    RunLog.of(page).settle(after=start)
    wait_rendered(page, quiet_ms=300)


def _title(page: Any) -> str:
    return page.locator(f"{FIG} .gtitle").first.text_content()


def test_boundary_map_and_curve_stay_in_the_page_while_eps_moves(tab: Any,
                                                                 app_server: str) -> None:
    open_page(tab, app_server, BOUNDARY)
    assert tab.locator(FIG).count() == 2  # the map and the accuracy curve
    tab.evaluate(WATCH)
    for eps in ("0.35", "0.4", "0.45", "0.5"):
        _step(tab)
        assert f"ε = {eps}" in _title(tab)
    assert tab.evaluate("() => window.__removed") == 0
    assert tab.evaluate(SAME), "a chart was replaced by a new element"
    # plotly.js: from this server's component asset route, fetched once, nothing from outside.
    plotly = [u for u in tab.requests if u.endswith("/plotly.min.js")]
    assert plotly == [f"{app_server}/_stcore/bidi-components/advplay.plotlyjs/plotly.min.js"]
    assert all(u.startswith((app_server, "data:", "blob:")) for u in tab.requests), [
        u for u in tab.requests if not u.startswith((app_server, "data:", "blob:"))]


def test_clicking_a_point_selects_it_and_it_stays_selected_while_eps_moves(
        tab: Any, app_server: str) -> None:
    open_page(tab, app_server, BOUNDARY)
    tab.evaluate(WATCH)
    assert tab.evaluate(f"() => (document.querySelector('{FIG}').layout.shapes || []).length") == 0
    tab.locator(f"{FIG} .scatterlayer .trace").nth(2).locator("path.point").nth(3).click(
        force=True)
    tab.wait_for_function(f"() => (document.querySelector('{FIG}').layout.shapes || [])"
                          ".length > 0")
    RunLog.of(tab).settle()
    heading = tab.get_by_text(re.compile(r"^Point #\d+")).first.text_content()
    point = re.search(r"#(\d+)", heading).group(1)
    assert f"point={point}" in tab.url
    _step(tab)
    assert tab.get_by_text(f"Point #{point}").count() >= 1  # still the clicked point
    assert tab.evaluate(f"() => document.querySelector('{FIG}').layout.shapes.length") == 1
    assert tab.evaluate("() => window.__removed") == 0 and tab.evaluate(SAME)


def test_play_still_plays_after_an_eps_step(tab: Any, app_server: str) -> None:
    open_page(tab, app_server, BOUNDARY)
    _step(tab)
    final = _title(tab)
    frames = tab.evaluate(f"() => document.querySelector('{FIG}')._transitionData._frames"
                          ".length")
    assert frames >= 3
    tab.evaluate(f"""() => {{ window.__titles = [];  // each title shown, as it changes
        const gd = document.querySelector('{FIG}');
        const tick = () => {{
            const t = (gd.querySelector('.gtitle') || {{}}).textContent;
            if (t !== window.__titles[window.__titles.length - 1]) window.__titles.push(t);
            requestAnimationFrame(tick);
        }};
        requestAnimationFrame(tick); }}""")
    tab.locator(f"{FIG} .updatemenu-button").first.click()  # ▶ Play
    tab.wait_for_function(f"() => window.__titles.length >= 3 && "
                          f"window.__titles[window.__titles.length - 1] === {final!r}")
    assert "step" in " ".join(tab.evaluate("() => window.__titles"))


def test_digits_race_and_fragility_stay_in_the_page_while_eps_moves(tab: Any,
                                                                    app_server: str) -> None:
    open_page(tab, app_server, DIGITS)
    assert tab.locator(FIG).count() == 2  # the logit race and the fragility chart
    tab.evaluate(WATCH)
    for _ in range(3):
        _step(tab)
    assert tab.evaluate("() => window.__removed") == 0
    assert tab.evaluate(SAME), "a chart was replaced by a new element"


def _chart_pixels(page: Any) -> Any:
    """The map as an RGB array (the first chart on the page, with its title and slider)."""
    import io

    import numpy as np
    from PIL import Image

    png = page.locator(FIG).first.screenshot(animations="disabled")
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def _quick_draws(page: Any) -> int:
    return int(page.locator("[data-testid=stPlotlyChart]").first.get_attribute(
        "data-quick-draws") or 0)


def _same_as_a_fresh_page(page: Any, app_server: str, eps: str, scene: str = BOUNDARY) -> None:
    """The map drawn step by step looks as the page opened afresh at the same ε draws it."""
    import numpy as np

    stepped = _chart_pixels(page)
    open_page(page, app_server, scene.replace("eps=0.3", f"eps={eps}"))
    assert f"ε = {eps}" in _title(page)
    fresh = _chart_pixels(page)
    assert stepped.shape == fresh.shape
    differ = np.abs(stepped - fresh).sum(axis=2) > 60
    assert differ.mean() < 0.002, f"{differ.sum()} pixels differ from a fresh draw"


def test_an_eps_step_moves_only_the_points_and_draws_what_a_fresh_page_draws(
        tab: Any, app_server: str) -> None:
    """An ε step changes the points, the title, the slider and the frames: it is drawn without
    Plotly.react's full redraw (the quick path counts itself), and the result is the picture the
    page draws when opened at that ε."""
    open_page(tab, app_server, BOUNDARY)
    for _ in range(3):
        _step(tab)
    assert _quick_draws(tab) == 3
    assert "ε = 0.45" in _title(tab)
    _same_as_a_fresh_page(tab, app_server, "0.45")


def test_a_played_frame_is_put_back_by_the_next_eps_step(tab: Any, app_server: str) -> None:
    """The quick path compares with the last figure sent; once the visitor has shown another
    frame, the next ε step redraws everything (Plotly.react), so no frame's points linger."""
    open_page(tab, app_server, BOUNDARY)
    _step(tab)
    assert _quick_draws(tab) == 1
    tab.evaluate(f"""() => Plotly.animate(document.querySelector('{FIG}'), ['1'],
        {{frame: {{duration: 0, redraw: true}}, transition: {{duration: 0}},
          mode: 'immediate'}})""")  # as a click on the frame slider's second stop does
    tab.wait_for_function(f"() => /step/.test(document.querySelector('{FIG} .gtitle')"
                          ".textContent)")
    _step(tab)
    assert _quick_draws(tab) == 1  # this one went through Plotly.react
    assert _counter(tab, "preview-draws") == 1  # and no preview on the played frame
    assert "ε = 0.4" in _title(tab)
    _same_as_a_fresh_page(tab, app_server, "0.4")


def _counter(page: Any, name: str, i: int = 0) -> int:
    return int(page.locator("[data-testid=stPlotlyChart]").nth(i).get_attribute(
        f"data-{name}") or 0)


# Each chart's counters as they change, in order, with the map's title at that moment:
# "preview-draws" (the figure moved on the slider's value alone), "received" (a new figure from
# the server reached the chart), "server-draws" (it was drawn).
EVENTS = """() => {
    window.__events = [];
    document.querySelectorAll("[data-testid=stPlotlyChart]").forEach((box, i) =>
        new MutationObserver(records => { for (const r of records) window.__events.push({
            chart: i, what: r.attributeName.slice(5),
            title: (document.querySelector('.js-plotly-plot .gtitle') || {}).textContent});
        }).observe(box, {attributes: true, attributeFilter: [
            "data-preview-draws", "data-received", "data-server-draws"]}));
}"""


def test_an_eps_press_moves_the_points_before_the_server_answers(tab: Any,
                                                                 app_server: str) -> None:
    open_page(tab, app_server, BOUNDARY)
    for eps in ("0.35", "0.4", "0.45"):
        tab.evaluate(EVENTS)
        _step(tab)
        events = tab.evaluate("() => window.__events")
        for chart in (0, 1):  # the map, and the accuracy curve's ε marker with it
            mine = [e["what"] for e in events if e["chart"] == chart]
            assert mine and mine[0] == "preview-draws", (chart, mine)
            assert "received" in mine and "server-draws" in mine, (chart, mine)
        first = next(e for e in events if e["chart"] == 0)
        assert f"ε = {eps}:" in first["title"], first  # the new ε's picture, at once
        assert f"ε = {eps}:" in _title(tab)
    assert _counter(tab, "preview-draws") == 3 and _counter(tab, "server-draws") >= 4
    assert _quick_draws(tab) == 3  # the server's figures found the points already moved
    _same_as_a_fresh_page(tab, app_server, "0.45")


# What the ε slider said at the moment each chart's figure first moved ahead (data-shown
# changed), and whether Streamlit had handled the key by then.
SLIDER_WHEN_MOVED = """() => {
    window.__moved = [];
    const input = () => [...document.querySelectorAll("[data-testid=stSlider]")]
        .find(s => s.textContent.startsWith("ε")).querySelector("input[type=range]");
    document.querySelectorAll("[data-testid=stPlotlyChart]").forEach((box, i) =>
        new MutationObserver(() => window.__moved.push(
            {chart: i, shown: box.dataset.shown, slider: input().value}))
        .observe(box, {attributes: true, attributeFilter: ["data-shown"]}));
}"""


def test_an_arrow_key_moves_the_map_before_streamlit_handles_it(tab: Any,
                                                                app_server: str) -> None:
    """pages/chart.js holds an arrow key back until the map has moved (and been painted), then
    hands the same key on: the map shows 0.35 while the slider still says 0.3, and the slider,
    the server's run and the final picture are then exactly those of a normal press."""
    open_page(tab, app_server, BOUNDARY)
    tab.evaluate(SLIDER_WHEN_MOVED)
    _step(tab)
    moved = tab.evaluate("() => window.__moved")
    assert moved[0] == {"chart": 0, "shown": "0.35", "slider": "0.3"}, moved
    assert any(m["chart"] == 1 and m["shown"] == "0.35" for m in moved), moved  # the curve too
    assert _eps_thumb(tab).input_value() == "0.35"
    assert "ε = 0.35:" in _title(tab)
    _same_as_a_fresh_page(tab, app_server, "0.35")


def test_held_keys_reach_the_slider_in_order_and_none_is_lost(tab: Any,
                                                              app_server: str) -> None:
    """Keys pressed while one is held back wait behind it and are handed on one per task (two
    in one task would step from the same value): → → → ← from 0.3 ends at 0.4, and a Shift
    (page) step, which no preview shows, goes to Streamlit at once and still lands."""
    open_page(tab, app_server, BOUNDARY)
    _eps_thumb(tab).focus()
    start = time.perf_counter()
    for key in ("ArrowRight", "ArrowRight", "ArrowRight", "ArrowLeft"):
        tab.keyboard.press(key)
    tab.wait_for_function("() => !(window.__advplayKeys || {held: []}).held.length")
    assert _eps_thumb(tab).input_value() == "0.4"
    RunLog.of(tab).wait_finished(start)
    RunLog.of(tab).settle(after=start)
    wait_rendered(tab, quiet_ms=300)
    tab.wait_for_function(f"() => /ε = 0.4:/.test(document.querySelector('{FIG} .gtitle')"
                          ".textContent)")
    _same_as_a_fresh_page(tab, app_server, "0.4")
    before = _counter(tab, "preview-draws")
    _eps_thumb(tab).focus()
    start = time.perf_counter()
    tab.keyboard.press("Shift+ArrowRight")
    RunLog.of(tab).wait_finished(start)
    RunLog.of(tab).settle(after=start)
    wait_rendered(tab, quiet_ms=300)
    page_step = float(_eps_thumb(tab).input_value())
    assert page_step > 0.45, page_step  # more than one step: Streamlit's own page step
    assert _counter(tab, "preview-draws") == before
    assert f"ε = {page_step:g}:" in _title(tab)


def test_presses_faster_than_the_server_end_on_the_fresh_pages_picture(
        tab: Any, app_server: str) -> None:
    """Three presses before the server answers the first: 0.35 and 0.4 are previewed from
    0.3's figure, 0.45 (three steps away) is not; whichever figures the server sends on the way,
    the last one leaves exactly the fresh page's map."""
    open_page(tab, app_server, BOUNDARY)
    _eps_thumb(tab).focus()
    start = time.perf_counter()
    for _ in range(3):
        tab.keyboard.press("ArrowRight")
    RunLog.of(tab).wait_finished(start)
    RunLog.of(tab).settle(after=start)
    wait_rendered(tab, quiet_ms=300)
    tab.wait_for_function(f"() => /ε = 0.45:/.test(document.querySelector('{FIG} .gtitle')"
                          ".textContent)")
    assert _counter(tab, "preview-draws") >= 1
    _same_as_a_fresh_page(tab, app_server, "0.45")


def test_a_point_selected_then_eps_previewed_draws_the_fresh_pages_ball(
        tab: Any, app_server: str) -> None:
    """A clicked point's ε-ball grows with ε: the preview carries the shapes too."""
    scene = BOUNDARY + "&point=5"
    open_page(tab, app_server, scene)
    assert tab.evaluate(f"() => document.querySelector('{FIG}').layout.shapes.length") == 1
    _step(tab)
    assert _counter(tab, "preview-draws") == 1
    stepped = _chart_pixels(tab)
    open_page(tab, app_server, scene.replace("eps=0.3", "eps=0.35"))
    import numpy as np

    fresh = _chart_pixels(tab)
    assert stepped.shape == fresh.shape
    assert (np.abs(stepped - fresh).sum(axis=2) > 60).mean() < 0.002


def test_ground_truth_previews_carry_the_missed_points_and_their_count(
        tab: Any, app_server: str) -> None:
    """With ground truth the legend counts the points the attack missed, and the count changes
    with ε: the preview restyles that legend entry as it moves the diamonds, and the map ends
    on the fresh page's picture, legend included."""
    scene = BOUNDARY + "&truth=1"
    open_page(tab, app_server, scene)
    legend = lambda: tab.locator(f"{FIG} .legend").first.text_content()  # noqa: E731
    seen = {legend()}
    for _ in range(3):
        _step(tab)
        seen.add(legend())
    assert len(seen) > 1, seen  # the missed count did change on the way
    assert _counter(tab, "preview-draws") == 3
    assert _counter(tab, "preview-draws", 1) == 3  # the curve's ε marker moved with it
    assert "ε = 0.45" in _title(tab)
    _same_as_a_fresh_page(tab, app_server, "0.45", scene)
    assert legend() in seen
