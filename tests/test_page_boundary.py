"""The boundary page through AppTest: it runs, ε changes the figure, the URL is the scene."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

PAGE = "../pages/boundary.py"
SMALL = {"n": "60", "width": "8", "depth": "1"}  # a scene that trains in a blink


def _app(params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for k, v in {**SMALL, **(params or {})}.items():
        at.query_params[k] = v
    return at.run()


def _figure(at: AppTest) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


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
    assert at.get("plotly_chart")  # the page still draws a picture


def test_robust_switch_shows_two_figures():
    at = _app({"robust": "1", "eps": "0.3"})
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 3  # two boundary figures and the accuracy curve
    assert "Adv. trained" in json.loads(charts[1].proto.spec)["layout"]["title"]["text"]


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
    at.button(key="boundary.clear").click().run()  # "Clear selection" writes point=-1
    assert not at.exception
    assert "shapes" not in _figure(at)["layout"] and _q(at, "point") == "-1"


def test_url_point_beyond_the_data_warns_and_selects_none():
    at = _app({"point": "500"})  # SMALL has 60 points
    assert not at.exception
    assert any("point=500" in w.value for w in at.warning), [w.value for w in at.warning]
    assert "shapes" not in _figure(at)["layout"] and _q(at, "point") == "-1"


def test_moving_eps_the_attack_or_the_steps_never_retrains(monkeypatch):
    """The issue's speed promise: the model is trained once per data/model fields, not per ε."""
    from advcore import boundary
    from pages import ui

    trained = []
    real = boundary.train_model

    def counting(scene, *, robust=False):
        trained.append((scene.n, robust))
        return real(scene, robust=robust)

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
