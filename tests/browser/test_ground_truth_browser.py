"""/boundary's ground truth and added points in real headless Chromium.

With ground truth on, clicking a point draws its optimal adversarial point (the nearest point
on the boundary) and its certified ε-ball; with "Add points" on, clicking an empty place on the
map (where only the invisible click grid is) adds a point there, which the URL then holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import RunLog, open_page, wait_rendered

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
pytestmark = pytest.mark.browser

SCENE = "/boundary?dataset=moons&n=120&noise=0.15&seed=0&model=mlp&width=16&depth=2" \
        "&attack=pgd&eps=0.4&steps=10&truth=1"
LOAD_MS = 120_000
FIG = ".js-plotly-plot"


@pytest.fixture
def tab(app_server: str, browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(LOAD_MS)
    open_page(page, app_server, SCENE, timeout_s=LOAD_MS / 1000)
    page.locator(f"{FIG} .scatterlayer path.point").first.wait_for()
    try:
        yield page
    finally:
        context.close()


def _trace_names(page: Any) -> list[str]:
    return page.evaluate(f"() => document.querySelector('{FIG}')._fullData.map(t => t.name)")


def _shape_names(page: Any) -> list[str]:
    return page.evaluate(f"""() => (document.querySelector('{FIG}').layout.shapes || [])
        .map(s => s.name)""")


def _point_count(page: Any) -> int:
    """How many points the two class traces hold (traces 2 and 3)."""
    return page.evaluate(f"""() => {{
        const d = document.querySelector('{FIG}')._fullData;
        return d[2].x.length + d[3].x.length; }}""")


def _settle(page: Any) -> None:
    RunLog.of(page).settle(timeout_s=LOAD_MS / 1000)
    wait_rendered(page)


EMPTY_PLACE_JS = f"""() => {{
    // The screen position of a click-grid marker far from every point: an empty place.
    const gd = document.querySelector('{FIG}');
    const d = gd._fullData;
    const grid = d.find(t => t.name === 'click to add a point');
    const xs = [...d[2].x, ...d[3].x], ys = [...d[2].y, ...d[3].y];
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    let best = null;
    for (let k = 0; k < grid.x.length; k++) {{
        const gx = grid.x[k], gy = grid.y[k];
        let near = Infinity;
        for (let i = 0; i < xs.length; i++)
            near = Math.min(near, Math.max(Math.abs(xs[i] - gx), Math.abs(ys[i] - gy)));
        const inside = gx > xa.range[0] + 0.3 && gx < xa.range[1] - 0.3
            && gy > ya.range[0] + 0.3 && gy < ya.range[1] - 0.3;
        if (inside && (best === null || near > best.near)) best = {{near, gx, gy}};
    }}
    const box = gd.getBoundingClientRect();
    return {{x: box.left + xa._offset + xa.l2p(best.gx), y: box.top + ya._offset + ya.l2p(best.gy),
             gx: best.gx, gy: best.gy, near: best.near}};
}}"""


def test_ground_truth_draws_the_optimal_point_and_a_click_adds_a_point(tab: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    names = _trace_names(tab)
    assert any(n.startswith("missed") for n in names), names
    assert tab.get_by_text("True robust accuracy", exact=True).count() == 1
    # Click a class-0 point: its optimal adversarial point and certified ball are drawn.
    tab.locator(f"{FIG} .scatterlayer .trace").nth(2).locator("path.point").nth(5).click(
        force=True)
    tab.wait_for_function(f"""() => document.querySelector('{FIG}')._fullData
        .some(t => (t.name || '').startsWith('optimal adversarial point'))""")
    _settle(tab)
    star = tab.evaluate(f"""() => {{
        const gd = document.querySelector('{FIG}');
        const i = gd._fullData.findIndex(t => (t.name || '').startsWith('optimal adversarial'));
        return gd.querySelectorAll('.scatterlayer .trace')[i].querySelectorAll('path.point')
            .length; }}""")
    assert star == 2  # the clean end and the star, drawn as SVG points
    assert "certified-ball" in _shape_names(tab)
    assert tab.get_by_text("can be flipped", exact=True).count() + tab.get_by_text(
        "cannot be flipped", exact=True).count() >= 1  # the point's exact row
    tab.screenshot(path=str(ARTIFACTS / "boundary-ground-truth-clicked.png"), full_page=True)

    # "Add points" on, then a click on an empty place of the map adds a class-0 point there.
    before = _point_count(tab)
    tab.get_by_text("Add points", exact=True).click()
    tab.wait_for_function(f"""() => document.querySelector('{FIG}')._fullData
        .some(t => t.name === 'click to add a point')""")
    _settle(tab)
    place = tab.evaluate(EMPTY_PLACE_JS)
    assert place["near"] > 0.2, place
    tab.mouse.click(place["x"], place["y"])
    tab.wait_for_function("() => new URL(location.href).searchParams.get('add')")
    _settle(tab)
    tab.wait_for_function(f"""() => {{ const d = document.querySelector('{FIG}')._fullData;
        return d[2].x.length + d[3].x.length === {before + 1}; }}""")
    added = tab.evaluate("() => new URL(location.href).searchParams.get('add')")
    x, y, cls = added.split(",")
    assert abs(float(x) - place["gx"]) < 0.01 and abs(float(y) - place["gy"]) < 0.01
    assert cls == "0"
    assert tab.get_by_text("added by you").count() >= 1  # the new point is selected
    tab.screenshot(path=str(ARTIFACTS / "boundary-point-added.png"), full_page=True)
