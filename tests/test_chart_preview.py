"""pages/chart.py's previews: the quick difference between two figures, and the neighbours.

The property that matters: the difference `quick_diff(a, b)` applied to figure a is figure b in
every key a browser draws (frames aside), and it only touches what pages/chart.js's quick path
can move; anything else (a trace more, a style, an axis) is None, so the browser never previews
a picture it cannot draw exactly. Checked on real /boundary figures at neighbouring ε.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from advcore.playground import boundary
from advcore.playground.figures import boundary as figs
from advcore.playground.state import BoundaryScene
from pages import chart

SCENE = BoundaryScene(n=60, width=8, depth=1)
EPSILONS = (0.3, 0.35, 0.4, 0.25, 0.2)


@pytest.fixture(scope="module")
def world():
    X, y = boundary.points_of(SCENE)
    model = boundary.train_model(SCENE)
    grid = boundary.decision_grid(model, X, resolution=40)
    attacked = {(attack, e): boundary.attack_points(model, X, y, attack=attack, eps=e, steps=5,
                                                    seed=0)
                for attack in ("pgd", "fgsm") for e in EPSILONS}
    truth = boundary.ground_truth(model, X, y, norm="linf")
    return X, grid, attacked, truth


def _spec(world, attack, eps, *, frames=True, **kw):
    X, grid, attacked, _ = world
    return figs.boundary_spec(X, grid, attacked[attack, eps], frames=frames, **kw)


def _drawn(fig):
    """What the browser draws of a figure: its traces and layout, a layout key set to [] being
    the same as none (the quick path clears a shape list that way)."""
    layout = {k: v for k, v in (fig.get("layout") or {}).items() if v != []}
    return {"data": fig.get("data") or [], "layout": layout}


@pytest.mark.parametrize("attack", ["pgd", "fgsm"])
@pytest.mark.parametrize("selected", [None, 7])
def test_the_diff_applied_to_a_figure_is_the_neighbours_figure(world, attack, selected):
    now = _spec(world, attack, 0.3, selected=selected)
    untouched = copy.deepcopy(now)
    for e in EPSILONS[1:]:
        after = _spec(world, attack, e, frames=False, selected=selected)
        diff = chart.quick_diff(now, after)
        assert diff is not None, f"ε {e}: an ε step is a quick change"
        assert _drawn(chart.apply_diff(now, diff)) == _drawn(after)
        # Only the keys the quick path moves, and the points really moved.
        assert diff["traces"] and all(set(u) <= chart.MOVING for u in diff["traces"].values())
        assert set(diff["layout"]) <= chart.RELAYOUT and "title" in diff["layout"]
        assert {"2", "3"} <= set(diff["traces"])  # the two classes' points
        assert "0" not in diff["traces"] and "1" not in diff["traces"]  # boundary, clean
        if selected is not None:
            assert "shapes" in diff["layout"]  # the ε-ball grows with ε
    assert now == untouched  # neither figure is edited


def test_a_diff_with_nothing_changed_is_empty(world):
    assert chart.quick_diff(_spec(world, "pgd", 0.3), _spec(world, "pgd", 0.3)) == {
        "traces": {}, "layout": {}}


def test_a_structural_change_has_no_quick_diff(world):
    now = _spec(world, "pgd", 0.3)
    at = _spec(world, "pgd", 0.35, frames=False)
    # A trace more: a selected point adds its path and ring.
    assert chart.quick_diff(now, _spec(world, "pgd", 0.35, selected=3)) is None
    # A trace's style.
    styled = copy.deepcopy(at)
    styled["data"][2]["marker"]["color"] = "#123456"
    assert chart.quick_diff(now, styled) is None
    # A moving key taken away (the quick path cannot unset it).
    gone = copy.deepcopy(at)
    del gone["data"][4]["customdata"]
    assert chart.quick_diff(now, gone) is None
    # The axes, the size, the map image.
    for k, v in (("xaxis", {"range": [0, 1]}), ("height", 300), ("images", [])):
        changed = copy.deepcopy(at)
        changed["layout"][k] = v
        assert chart.quick_diff(now, changed) is None, k
    # No title at all.
    untitled = copy.deepcopy(at)
    del untitled["layout"]["title"]
    assert chart.quick_diff(now, untitled) is None


def test_a_layout_list_the_neighbour_lacks_is_cleared(world):
    now = _spec(world, "pgd", 0.3, selected=7)
    after = copy.deepcopy(now)
    del after["layout"]["annotations"]
    assert chart.quick_diff(now, after) == {"traces": {}, "layout": {"annotations": []}}


def test_ground_truth_figures_preview_with_the_missed_count_in_the_legend(world):
    """With ground truth the missed points' legend entry counts them, and the count changes
    with ε: the diff restyles that trace's name (RESTYLE) beside moving the diamonds, and
    applied it is the neighbour's figure."""
    *_, truth = world
    now = _spec(world, "pgd", 0.3, truth=truth)
    renamed = 0
    for e in EPSILONS[1:]:
        after = _spec(world, "pgd", e, frames=False, truth=truth)
        diff = chart.quick_diff(now, after)
        assert diff is not None and _drawn(chart.apply_diff(now, diff)) == _drawn(after)
        if now["data"][5]["name"] != after["data"][5]["name"]:
            renamed += 1
            assert diff["traces"]["5"]["name"] == after["data"][5]["name"]
    assert renamed  # the count did change somewhere, so the name path was exercised


def test_the_accuracy_curve_previews_its_marker(world):
    X, grid, attacked, truth = world
    model = boundary.train_model(SCENE)
    X, y = boundary.points_of(SCENE)
    curve = boundary.accuracy_curve(model, X, y, attack="pgd", steps=5, seed=0)

    def spec(e):
        return figs.curve_spec([("PGD", curve, attacked["pgd", e].adversarial_accuracy)],
                               eps=e)

    diff = chart.quick_diff(spec(0.3), spec(0.4))
    assert diff is not None and _drawn(chart.apply_diff(spec(0.3), diff)) == _drawn(spec(0.4))
    assert set(diff["layout"]) == {"title", "shapes"}
    assert set(diff["traces"]) == {"1"}  # the dot at ε, not the curve


def test_neighbours_stay_in_bounds_and_match_the_sliders_values():
    assert chart.neighbours(0.3, 0.05, 0.0, 2.0) == [0.35, 0.25, 0.4, 0.2]
    assert chart.neighbours(0.0, 0.05, 0.0, 2.0) == [0.05, 0.1]
    assert chart.neighbours(2.0, 0.05, 0.0, 2.0) == [1.95, 1.9]
    assert chart.neighbours(0.05, 0.05, 0.0, 2.0) == [0.1, 0.0, 0.15]
    assert chart.neighbours(0.7, 0.05, 0.0, 2.0, reach=1) == [0.75, 0.65]


def test_previews_leave_out_values_without_a_quick_diff(world):
    now = _spec(world, "pgd", 0.3)
    p = chart.previews(".st-key-boundary-eps", 0.3, {0.35: _spec(world, "pgd", 0.35, frames=False),
                                            0.4: _spec(world, "pgd", 0.4, selected=2),
                                            0.25: None}, now)
    assert p["value"] == 0.3 and set(p["values"]) == {"0.35"}
    assert ".st-key-boundary-eps " in p["slider"]
    assert chart.previews(".st-key-boundary-eps", 0.3, {0.4: _spec(world, "pgd", 0.4, selected=2)},
                          now) is None


def test_python_and_javascript_agree_on_what_the_quick_path_moves():
    js = Path(chart.__file__).with_name("chart.js").read_text()

    def js_set(name):
        body = re.search(rf"const {name} = new Set\(\[([^\]]*)\]\)", js).group(1)
        return frozenset(re.findall(r'"([^"]+)"', body))

    assert js_set("MOVING") == chart.MOVING
    assert js_set("RELAYOUT") == chart.RELAYOUT
    assert js_set("RESTYLE") == chart.RESTYLE
