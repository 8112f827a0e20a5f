"""AppTest for the digits page: it runs, shows three panels, follows ε, and a URL is a scene.

Most runs use mnist-linear and one-step or few-step attacks, so the whole file stays quick on two
cores; one run uses the default scene (mnist-cnn, FGSM) as a visitor would first see it.
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from apptest_figures import figures
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from advcore import data, models
from advcore.playground import digits
from advcore.playground.figures import digits as figs

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "digits.py")
TIMEOUT = 240


def run_page(**params: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    for name, value in params.items():
        at.query_params[name] = value
    return at.run()


def chart(at: AppTest, name: str) -> dict[str, Any]:
    """The Plotly figure (as JSON) of the chart with key digits.<name>."""
    for figure in figures(at):
        if figure.id.endswith(f"digits.{name}") or f"digits.{name}" in figure.id:
            return figure.spec
    raise AssertionError(f"no chart digits.{name}")


def panels(at: AppTest) -> str:
    """The HTML of the three panels (advcore.playground.figures.digits.panels_html)."""
    for element in at.get("html"):
        if "data-panels=" in element.proto.body:
            return element.proto.body
    raise AssertionError("no panels")


def panel(at: AppTest, name: str) -> np.ndarray:
    """The ink (28×28, in [0, 1], within 1/476) of the digit drawn in panel `name`."""
    found = re.search(rf"data-panel='{name}' src='data:image/png;base64,([^']+)'", panels(at))
    assert found, name
    rgb = np.asarray(Image.open(io.BytesIO(base64.b64decode(found.group(1)))).convert("RGB"))
    assert rgb.shape == (28, 28, 3)
    return figs.ink_of(rgb)


def change(at: AppTest) -> np.ndarray:
    """δ = adversarial − original as drawn (each panel within 1/476, so δ within 1/238)."""
    return panel(at, "adversarial") - panel(at, "original")


def messages(at: AppTest) -> str:
    return " | ".join(str(e.value) for kind in ("warning", "error", "info")
                      for e in getattr(at, kind))


def test_default_scene_runs_and_shows_three_equal_panels() -> None:
    at = run_page()
    assert not at.exception
    # Original, perturbation, adversarial, in that order (sizes are the browser test's job).
    assert re.findall(r"data-panel='(\w+)'", panels(at)) == [
        "original", "perturbation", "adversarial"]
    for name in ("original", "adversarial"):
        assert panel(at, name).shape == (28, 28)
    assert "colour scale ±ε = ±0.100" in panels(at)
    # Probabilities, logit race, fragility and gallery are all there too.
    for name in ("race", "fragility"):
        chart(at, name)
    blocks = " ".join(e.proto.body for e in at.get("html"))
    assert "data-probabilities='10'" in blocks and "data-gallery='16'" in blocks
    assert dict(at.query_params)["attack"] == "fgsm"


def test_changing_eps_changes_the_adversarial_digit() -> None:
    at = run_page(model="mnist-linear", attack="fgsm", eps="0.05", index="3")
    before = panel(at, "adversarial")
    at.slider(key="digits.eps.linf").set_value(0.2).run()
    assert not at.exception
    after = panel(at, "adversarial")
    assert np.abs(before - after).max() > 0.05
    assert np.abs(change(at)).max() == pytest.approx(0.2, abs=1 / 238)
    assert at.query_params["eps"] == ["0.2"] or at.query_params["eps"] == "0.2"
    assert "51.0/255" in " ".join(m.value for m in at.main.markdown)


def test_url_restores_a_scene_exactly() -> None:
    params = {"model": "mnist-linear", "attack": "bim", "eps": "0.06", "steps": "7",
              "index": "12", "target": "3"}
    at = run_page(**params)
    assert not at.exception and not at.warning
    assert at.selectbox(key="digits.model").value == "mnist-linear"
    assert at.selectbox(key="digits.attack").value == "bim"
    assert at.slider(key="digits.eps.linf").value == pytest.approx(0.06)
    assert at.slider(key="digits.steps").value == 7
    assert at.number_input(key="digits.index").value == 12
    assert at.selectbox(key="digits.target").value == "3"
    # The picture is the one advcore computes for that scene...
    x, y = data.mnist("test")
    expected = digits.attack_digit(models.pretrained("mnist-linear"), x[12].numpy(), int(y[12]),
                                   attack="bim", eps=0.06, steps=7, target=3)
    np.testing.assert_allclose(panel(at, "adversarial"), expected.adversarial.reshape(28, 28),
                               atol=1 / 476)
    # ...and the same URL gives the same picture again.
    again = run_page(**params)
    assert panels(again) == panels(at)
    assert {k: at.query_params[k] for k in params} == {
        k: again.query_params[k] for k in params}


@pytest.mark.parametrize("params, expect", [
    ({"model": "banana", "eps": "lots", "index": "5000", "steps": "-3"},
     ["model", "eps", "index", "steps"]),
    ({"attack": "deepfool", "target": "3", "model": "mnist-linear"}, ["no targeted mode"]),
    ({"attack": "pgd", "eps": "5", "model": "mnist-linear", "steps": "2"}, ["outside [0, 0.5]"]),
    ({"attack": "rm -rf", "target": "12", "model": "mnist-linear", "talk": "maybe"},
     ["attack", "target", "talk"]),
])
def test_bad_url_parameters_warn_and_fall_back(params: dict[str, str],
                                               expect: list[str]) -> None:
    at = run_page(**params)
    assert not at.exception
    shown = messages(at)
    for word in expect:
        assert word in shown, (word, shown)
    panels(at)  # the page still draws, with the fallback values
    for value in at.query_params.values():  # and the URL is clean again
        assert "rm -rf" not in str(value) and "banana" not in str(value)


def test_l2_attacks_use_an_l2_epsilon_and_have_no_target_when_untargeted() -> None:
    at = run_page(model="mnist-linear", attack="deepfool", eps="1.5")
    assert not at.exception
    slider = at.slider(key="digits.eps.l2")
    assert slider.value == pytest.approx(1.5) and slider.max == pytest.approx(10.0)
    assert at.selectbox(key="digits.target").disabled
    # The verdict states the exact size; the pictures agree to their 8-bit rounding.
    stated = re.search(r"‖δ‖₂ = (\d+\.\d+)", " ".join(str(m.value) for m in at.success)
                       + " ".join(str(m.value) for m in at.info))
    assert stated and float(stated.group(1)) <= 1.5 + 5e-3
    assert float(np.linalg.norm(change(at))) <= 1.5 + 28 / 238
    assert "L2 attack: ε caps ‖δ‖₂" in panels(at)


def test_empty_canvas_asks_for_a_drawing() -> None:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.query_params["model"] = "mnist-linear"
    at.run()
    at.button_group(key="digits.index.source").set_value("Draw").run()
    assert not at.exception
    assert "draw a digit" in messages(at)
    assert not figures(at) and not at.get("html")  # nothing yet
    # The ε and steps sliders stay on the page with their values, ready for the drawing.
    assert at.slider(key="digits.eps.linf").value == pytest.approx(0.1)
    assert at.slider(key="digits.steps").value == 10


def _png_of_a_seven() -> bytes:
    img = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(img).line([(40, 40), (160, 40), (80, 180)], fill=0, width=16)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_uploads_good_and_bad() -> None:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.query_params["model"] = "mnist-linear"
    at.run()
    at.button_group(key="digits.index.source").set_value("Upload").run()
    at.get("file_uploader")[0].upload("notes.png", b"these are not pixels", "image/png")
    at.run()
    assert not at.exception
    assert "not a PNG or JPEG" in " ".join(e.value for e in at.error)
    at.get("file_uploader")[0].set_value(("seven.png", _png_of_a_seven(), "image/png"))
    at.run()
    assert not at.exception and not at.error
    assert panel(at, "original").max() == pytest.approx(1.0, abs=1 / 476)
    # Saying which digit it is makes that the class the attack moves away from.
    at.selectbox(key="digits.index.stated").set_value("7").run()
    assert not at.exception
    bars = next(e.proto.body for e in at.get("html") if "data-probabilities" in e.proto.body)
    assert re.search(r"data-class='7'.*?<b>7</b> \(label\)</div>", bars)


def test_fragility_shows_mnist_linears_exact_minimum_beside_the_attacks() -> None:
    at = run_page(model="mnist-linear", attack="fgsm", index="8")
    assert not at.exception, [e.value for e in at.exception]
    table = next(d.value for d in at.dataframe if "mnist-linear, smallest L∞ ε" in d.value)
    exact, fgsm, pgd = (float(v.split()[0]) for v in table["ε"])
    assert 0 < exact <= fgsm + 1e-4 and exact <= pgd + 1e-4  # no attack goes below the truth
    assert any("no exact answer is computed" in c.value for c in at.caption)


# --- the new attacks: each runs and shows what it asked of the model --------------------------


def _metric(at: AppTest, label: str) -> int:
    found = [m.value for m in at.metric if m.label == label]
    assert found, (label, [m.label for m in at.metric])
    return int(str(found[0]).replace(",", ""))


@pytest.mark.parametrize("attack, eps", [("square", "0.15"), ("square-l2", "2"),
                                         ("hsja", "3")])
def test_black_box_attacks_show_the_engines_query_count(attack: str, eps: str) -> None:
    from advcore.attacks import run_attack

    at = run_page(model="mnist-linear", attack=attack, eps=eps, index="4", queries="120")
    assert not at.exception and not at.error, [e.value for e in at.exception]
    assert at.slider(key="digits.queries").value == 120
    x, y = data.mnist("test")
    ref = run_attack(attack, models.pretrained("mnist-linear"), x[4:5], y[4:5], eps=float(eps),
                     queries=120, seed=digits.SEED, return_info=True)
    shown = _metric(at, "Queries of the model")
    assert shown == int(ref.queries[0]) and 1 <= shown <= 120
    assert f"used **{shown:,} queries**" in " ".join(c.value for c in at.caption)
    np.testing.assert_allclose(panel(at, "adversarial"), ref.x_adv[0, 0].numpy(), atol=1 / 476)
    assert not any(m.label == "Gradient passes" for m in at.metric)  # no gradient, none shown
    gallery = [c.value for c in at.caption if "queries of the model for these 16" in c.value]
    assert gallery, "the gallery's query total"
    assert at.query_params["queries"] in ("120", ["120"])


@pytest.mark.parametrize("attack", ["apgd-ce", "apgd-dlr"])
def test_apgd_runs_and_shows_its_gradient_passes(attack: str) -> None:
    import copy

    from advcore.attacks import get_attack

    at = run_page(model="mnist-linear", attack=attack, eps="0.1", index="4", steps="6")
    assert not at.exception and not at.error, [e.value for e in at.exception]
    # Oracle: a backward hook on a copy of the model, around the engine's own call.
    model = copy.deepcopy(models.pretrained("mnist-linear"))
    passes = [0]
    model.linear.register_full_backward_hook(lambda *_: passes.__setitem__(0, passes[0] + 1))
    x, y = data.mnist("test")
    adv = get_attack(attack)(model, x[4:5], y[4:5], eps=0.1, steps=6, seed=digits.SEED)
    assert _metric(at, "Gradient passes") == passes[0] > 0
    np.testing.assert_allclose(panel(at, "adversarial"), adv[0, 0].numpy(), atol=1 / 476)


def test_attack_chooser_offers_the_new_attacks() -> None:
    at = run_page(model="mnist-linear", attack="fgsm", eps="0.1")
    offered = set(at.selectbox(key="digits.attack").options)
    labels = {"APGD-CE (L∞)", "APGD-DLR (L∞)", "Square (L∞)", "Square (L2)", "HopSkipJump (L2)"}
    assert labels <= offered, offered


def test_picking_hopskipjump_gives_it_room_and_the_url_keeps_the_budget() -> None:
    from advcore.playground import state

    at = run_page(model="mnist-linear", attack="square", eps="0.1", index="4")
    assert at.slider(key="digits.queries").value == state.DIGIT_QUERIES
    at.selectbox(key="digits.attack").set_value("hsja").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key="digits.queries").value == state.HSJA_QUERIES
    assert at.query_params["queries"] in (str(state.HSJA_QUERIES), [str(state.HSJA_QUERIES)])
    assert 1 <= _metric(at, "Queries of the model") <= state.HSJA_QUERIES
