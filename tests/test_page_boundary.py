"""The boundary page through AppTest: it runs, ε changes the figure, the URL is the scene."""

from __future__ import annotations

import pytest
from apptest_figures import figures
from streamlit.testing.v1 import AppTest

PAGE = "../pages/boundary.py"
SMALL = {"n": "60", "width": "8", "depth": "1"}  # a scene that trains in a blink


def _app(params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=240)
    for k, v in {**SMALL, **(params or {})}.items():
        at.query_params[k] = v
    return at.run()


def _figure(at: AppTest) -> dict:
    return figures(at)[0].spec


def _q(at: AppTest, name: str) -> str:
    v = at.query_params[name]
    return v[0] if isinstance(v, list) else v


def test_page_runs_and_changing_eps_changes_the_figure():
    at = _app()
    assert not at.exception, [e.value for e in at.exception]
    assert [w.value for w in at.warning] == []
    before = _figure(at)
    assert before["layout"]["images"][0]["source"].startswith("data:image/png")
    assert before["data"][0]["name"].startswith("boundary")
    at.slider(key="boundary.eps").set_value(0.8).run()
    assert not at.exception
    after = _figure(at)
    assert _q(at, "eps") == "0.8"
    assert after["layout"]["title"]["text"] != before["layout"]["title"]["text"]
    assert after["data"][2] != before["data"][2]  # the class-0 points moved further


def test_query_params_restore_a_scene():
    at = _app({"dataset": "circles", "model": "linear", "attack": "pgd-l2", "eps": "0.45",
               "steps": "7", "seed": "3", "talk": "1"})
    assert not at.exception
    assert at.selectbox(key="boundary.dataset").value == "circles"
    assert at.selectbox(key="boundary.attack").value == "pgd-l2"
    assert at.slider(key="boundary.eps").value == pytest.approx(0.45)
    assert at.slider(key="boundary.steps").value == 7
    assert at.number_input(key="boundary.seed").value == 3
    assert at.toggle(key="boundary.talk").value is True
    assert "PGD-L2" in _figure(at)["layout"]["title"]["text"]
    assert _q(at, "eps") == "0.45" and _q(at, "dataset") == "circles"


@pytest.mark.parametrize("params", [
    {"eps": "abc"}, {"eps": "-1"}, {"dataset": "nope"}, {"n": "1000000000"},
])
def test_bad_params_warn_and_fall_back(params):
    at = _app(params)
    assert not at.exception, [e.value for e in at.exception]
    name = next(iter(params))
    assert any(name in w.value for w in at.warning), [w.value for w in at.warning]
    assert figures(at)  # the page still draws a picture


def test_robust_switch_shows_two_figures():
    at = _app({"robust": "1", "eps": "0.3"})
    assert not at.exception
    charts = figures(at)
    assert len(charts) == 3  # two boundary figures and the accuracy curve
    assert "Adv. trained" in charts[1]["layout"]["title"]["text"]
    # The adversarially trained model is trained at ε itself: no map moves before the server.
    assert [c.preview for c in charts] == [None, None, None]


def _drawn(fig: dict) -> dict:
    """A figure as the browser draws it: frames aside, a layout list set to [] being none."""
    return {"data": fig["data"],
            "layout": {k: v for k, v in fig["layout"].items() if v != []}}


@pytest.mark.parametrize("params", [{"point": "4"}, {"attack": "fgsm", "truth": "1"}])
def test_each_eps_preview_is_the_page_drawn_at_that_eps(params):
    """The map's and the curve's previews, applied to the figures sent with them, are the
    figures the page sends when ε is set to that neighbour: what the browser shows early is
    exactly what the server then draws. Both move or neither (the same ε values)."""
    from pages.chart import apply_diff

    at = _app({"eps": "0.3", **params})
    assert not at.exception, [e.value for e in at.exception]
    start = figures(at)
    assert [f.key for f in start] == ["boundary.fig0.0", "boundary.curve"]
    values = [set((f.preview or {"values": {}})["values"]) for f in start]
    assert values[0] == values[1]
    if "truth" not in params:  # every neighbour: one and two steps either side
        assert values[0] == {"0.35", "0.25", "0.4", "0.2"}
        assert start[0].preview["slider"].startswith(".st-key-boundary-eps ")
    previewed = 0
    for eps in ("0.35", "0.25", "0.4", "0.2"):
        at.slider(key="boundary.eps").set_value(float(eps)).run()
        assert not at.exception
        for before, after in zip(start, figures(at), strict=True):
            if eps not in values[0]:
                # Left out only where the quick path cannot draw the change: with ground
                # truth the legend counts the missed points, and that count changed.
                assert "truth" in params
                assert (before.key == "boundary.curve"
                        or before.spec["data"][5]["name"] != after.spec["data"][5]["name"])
                continue
            previewed += 1
            diff = before.preview["values"][eps]
            assert _drawn(apply_diff(before.spec, diff)) == _drawn(after.spec), (eps, before.key)
    assert previewed == 2 * len(values[0])


def test_url_point_restores_the_highlighted_point():
    at = _app({"point": "4", "attack": "fgsm", "eps": "0.5"})
    assert not at.exception, [e.value for e in at.exception]
    assert [w.value for w in at.warning] == []
    fig = _figure(at)
    assert fig["layout"]["shapes"][0]["type"] == "rect"  # point #4's ε-square
    assert fig["layout"]["shapes"][0]["x1"] - fig["layout"]["shapes"][0]["x0"] == (
        pytest.approx(1.0))
    assert any(t.get("name") == "path of point #4" for t in fig["data"])
    assert any("Point #4" in m.value for m in at.markdown)
    assert _q(at, "point") == "4"
    at.button(key="boundary.point.clear").click().run()  # "Clear selection" writes point=-1
    assert not at.exception
    assert "shapes" not in _figure(at)["layout"] and _q(at, "point") == "-1"


def test_a_selection_reported_by_the_chart_selects_that_point():
    """What the in-place chart (pages/chart.js) reports for a click, as st.plotly_chart did:
    the point's customdata is its index; the page highlights it and writes it to the URL."""
    at = _app({"attack": "fgsm", "eps": "0.5"})
    chart = figures(at)[0]
    assert chart.kind == "bidi_component" and chart.key == "boundary.fig0.0"
    assert at.session_state[chart.key]["selection"]["points"] == []
    at.session_state[chart.key]["selection"] = {
        "points": [{"curve_number": 2, "point_number": 3, "point_index": 3, "x": 0.1, "y": 0.2,
                    "customdata": [7]}], "point_indices": [3], "box": [], "lasso": []}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert _q(at, "point") == "7"
    assert any("Point #7" in m.value for m in at.markdown)
    assert any(t.get("name") == "path of point #7" for t in _figure(at)["data"])


def test_url_point_beyond_the_data_warns_and_selects_none():
    at = _app({"point": "500"})  # SMALL has 60 points
    assert not at.exception
    assert any("point=500" in w.value for w in at.warning), [w.value for w in at.warning]
    assert "shapes" not in _figure(at)["layout"] and _q(at, "point") == "-1"


def test_moving_eps_the_attack_or_the_steps_never_retrains(monkeypatch):
    """The issue's speed promise: the model is trained once per data/model fields, not per ε."""
    from advcore.playground import boundary
    from pages import ui

    trained = []
    real = boundary.train_model

    def counting(spec, **kw):
        trained.append((spec.n, spec.robust))
        return real(spec, **kw)

    monkeypatch.setattr(boundary, "train_model", counting)
    ui.boundary_model.clear()
    at = _app({"seed": "4242", "attack": "fgsm", "eps": "0.3"})
    at.slider(key="boundary.eps").set_value(0.6).run()
    at.selectbox(key="boundary.attack").set_value("bim").run()
    at.slider(key="boundary.steps").set_value(4).run()
    assert not at.exception, [e.value for e in at.exception]
    assert trained == [(60, False)]
    at.slider(key="boundary.n").set_value(80).run()  # new data: a new model, trained once
    assert trained == [(60, False), (80, False)]


# --- ground truth and added points ------------------------------------------------------------


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_ground_truth_switch_shows_the_exact_and_certified_answers():
    at = _app({"attack": "pgd", "eps": "0.6", "steps": "5", "point": "3"})
    assert "True robust accuracy" not in _metrics(at)
    at.toggle(key="boundary.truth").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert _q(at, "truth") == "1"
    m = _metrics(at)
    pct = {k: float(v.rstrip("%")) for k, v in m.items()}
    assert pct["Certified accuracy"] <= pct["True robust accuracy"] <= pct[
        "PGD (L∞) accuracy"] <= pct["Clean accuracy"]
    assert any("can be flipped at this ε" in md.value for md in at.markdown)
    fig = _figure(at)
    names = [t.get("name", "") for t in fig["data"]]
    assert any(n.startswith("missed: flippable within ε") for n in names)
    assert any(n.startswith("optimal adversarial point") for n in names)
    assert "certified-ball" in {s["name"] for s in fig["layout"]["shapes"]}
    curve = figures(at)[1].spec
    assert {"certified (CROWN)", "exact (true robust accuracy)", "PGD (L∞)"} <= {
        t.get("name") for t in curve["data"]}
    assert len(at.dataframe) == 2  # the point's probabilities, and attack vs exact vs certified


def test_ground_truth_side_by_side_says_how_close_each_model_comes():
    """Both models' ground truth at once: each says how close the attack came, in its column."""
    at = _app({"attack": "pgd", "eps": "0.6", "steps": "5", "robust": "1", "truth": "1"})
    assert not at.exception, [e.value for e in at.exception]
    assert len(figures(at)) == 3
    close = [md.value for md in at.markdown if "the exact minimum for those points" in md.value]
    assert len(close) == 2


def test_moving_eps_with_ground_truth_on_reuses_the_per_model_answer(monkeypatch):
    from advcore.playground import boundary
    from pages import ui

    calls = []
    real = boundary.ground_truth

    def counting(*args, **kw):
        calls.append(kw["norm"])
        return real(*args, **kw)

    monkeypatch.setattr(boundary, "ground_truth", counting)
    ui.boundary_truth.clear()
    at = _app({"truth": "1", "seed": "4343", "eps": "0.2"})
    before = _metrics(at)["True robust accuracy"]
    at.slider(key="boundary.eps").set_value(0.9).run()
    assert not at.exception
    assert _metrics(at)["True robust accuracy"] != before
    assert calls == ["linf"]  # once per model and norm, never per ε
    at.selectbox(key="boundary.attack").set_value("pgd-l2").run()
    assert calls == ["linf", "l2"]


def test_added_points_round_trip_through_the_url_and_clear():
    at = _app({"add": "0.5,0.25,1;-1,1,0", "point": "61"})
    assert not at.exception, [e.value for e in at.exception]
    assert [w.value for w in at.warning] == []
    assert _q(at, "add") == "0.5,0.25,1;-1,1,0" and _q(at, "point") == "61"
    fig = _figure(at)
    shown = sum(len(figs_points(t)) for t in fig["data"][2:4])
    assert shown == 62  # 60 dataset points and the two added
    assert any("Point #61 (class 0 · added by you)" in md.value for md in at.markdown)
    at.button(key="boundary.add.clear").click().run()
    assert not at.exception
    assert _q(at, "add") == "" and _q(at, "point") == "-1"
    assert sum(len(figs_points(t)) for t in _figure(at)["data"][2:4]) == 60


def figs_points(trace: dict) -> list:
    """The points of a class trace (a typed array of uint16 indices)."""
    import base64

    import numpy as np
    return np.frombuffer(base64.b64decode(trace["customdata"]["bdata"]), "<u2").tolist()


def test_added_points_retrain_the_model(monkeypatch):
    from advcore.playground import boundary
    from pages import ui

    trained = []
    real = boundary.train_model

    def counting(spec, **kw):
        trained.append(spec.add)
        return real(spec, **kw)

    monkeypatch.setattr(boundary, "train_model", counting)
    ui.boundary_model.clear()
    _app({"seed": "4444"})
    _app({"seed": "4444", "add": "0.1,0.1,0"})
    assert trained == [(), ((0.1, 0.1, 0),)]


def test_bad_added_points_warn_and_keep_the_good_ones():
    at = _app({"add": "0.5,0.5,1;<b>x</b>,1,1;1,1,7"})
    assert not at.exception
    warned = [w.value for w in at.warning]
    assert len(warned) == 1 and warned[0].startswith("URL parameter add"), warned
    assert "<b>" not in warned[0]
    assert _q(at, "add") == "0.5,0.5,1"


def test_add_points_switch_draws_the_click_grid():
    from advcore.playground.figures import boundary as figs

    at = _app()
    assert figs.CLICK_NAME not in [t.get("name") for t in _figure(at)["data"]]
    at.toggle(key="boundary.add.on").set_value(True).run()
    assert not at.exception
    assert _figure(at)["data"][-1]["name"] == figs.CLICK_NAME
    assert at.get("button_group")  # the class selector


def test_talk_mode_keeps_eps_on_the_page_and_ground_truth_in_the_sidebar():
    at = _app({"talk": "1", "truth": "1"})
    assert not at.exception
    in_sidebar = {w.key for w in at.sidebar.toggle} | {w.key for w in at.sidebar.selectbox}
    assert {"boundary.truth", "boundary.add.on", "boundary.attack"} <= in_sidebar
    assert "boundary.eps" not in {w.key for w in at.sidebar.slider}
    assert at.slider(key="boundary.eps")  # on the page, above the figure
    assert "True robust accuracy" in _metrics(at)


# --- black-box attacks: they animate with a query counter that ends at the engine's count -----

def _engine(attack: str, eps: float, params: dict[str, str] | None = None):
    """The oracle: the same scene's model and points, attacked by the engine directly."""
    import torch

    from advcore.attacks import get_attack
    from advcore.playground import boundary
    from advcore.playground.state import BoundaryScene, from_query

    scene, _ = from_query(BoundaryScene, {**SMALL, **(params or {})})
    X, y = boundary.points_of(scene)
    model = boundary.train_model(scene)
    ref = get_attack(attack).run(model, torch.from_numpy(X), torch.from_numpy(y), eps=eps,
                                 bounds=None, seed=scene.seed,
                                 queries=boundary.queries_of(attack))
    return model, X, y, ref


def _frame_queries(fig: dict) -> list[int]:
    import re

    found = [re.search(r"· ([\d,]+) quer", f["layout"]["title"]["text"]) for f in fig["frames"]]
    assert all(found), [f["layout"]["title"]["text"] for f in fig["frames"]]
    return [int(m.group(1).replace(",", "")) for m in found]


@pytest.mark.parametrize("attack", ["square", "square-l2", "hsja"])
def test_black_box_attacks_animate_with_a_query_counter(attack):
    at = _app({"attack": attack, "eps": "0.4"})
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key="boundary.steps").disabled
    _, _, _, ref = _engine(attack, 0.4)
    total = int(ref.queries.sum())
    assert _metrics(at)["Queries of the model"] == f"{total:,}"
    fig = _figure(at)
    counts = _frame_queries(fig)
    assert counts[0] == 0 and counts == sorted(counts)  # a counter that never runs backwards
    assert counts[-1] == total  # and ends on what the engine says the attack cost
    assert f"{total:,} queries" in fig["layout"]["title"]["text"]
    assert fig["layout"]["sliders"][0]["currentvalue"]["prefix"] == "queries per point: "


def test_ground_truth_says_how_close_a_black_box_attack_gets():
    import re

    import numpy as np
    import torch

    from advcore.playground import boundary

    at = _app({"attack": "hsja", "eps": "0.6", "truth": "1"})
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(md.value for md in at.markdown if "the exact minimum" in md.value)
    found = re.search(r"found \*\*([\d.]+)\*\* on average over the (\d+) points it flipped; "
                      r"the exact minimum for those points is \*\*([\d.]+)\*\*", text)
    assert found, text
    model, X, y, ref = _engine("hsja", 0.6)
    flipped = ((model(ref.x_adv).argmax(1).numpy() != y)
               & (model(torch.from_numpy(X)).argmax(1).numpy() == y))
    truth = boundary.ground_truth(model, X, y, norm="l2")
    picked = flipped & np.isfinite(truth.eps_star)
    sizes = np.linalg.norm(ref.x_adv.numpy() - X, axis=1)
    assert int(found.group(2)) == int(picked.sum()) > 0
    assert float(found.group(1)) == pytest.approx(sizes[picked].mean(), abs=5e-4)
    assert float(found.group(3)) == pytest.approx(truth.eps_star[picked].mean(), abs=5e-4)
    assert float(found.group(3)) <= float(found.group(1))  # no attack beats the exact minimum
