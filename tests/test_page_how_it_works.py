"""The "How it works" page runs, keeps its controls in the URL, reacts to them, and survives
missing weights with a message instead of a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import torch
from apptest_figures import figures
from streamlit.testing.v1 import AppTest

from advcore import models

PAGE = "../pages/how-it-works.py"
KEYS = {
    "selectbox": ["how.model"],
    "number_input": ["how.index", "how.point", "how.seed"],
    "slider": ["how.eps", "how.ball", "how.steps"],
    "radio": ["how.norm"],
    "toggle": ["how.talk"],
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _page(**params: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=240)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _charts(at: AppTest) -> list[str]:
    """Each figure as canonical JSON text (equal text, equal figure)."""
    return [json.dumps(f.spec, sort_keys=True) for f in figures(at)]


def test_default_page_runs_with_its_controls():
    at = _page()
    assert not at.exception
    for kind, keys in KEYS.items():
        found = {w.key for w in getattr(at, kind)}
        assert set(keys) <= found, (kind, found)
    assert len(_charts(at)) >= 10
    titles = [h.value for h in at.header]
    assert any("gradient of the loss" in t for t in titles)
    assert any("Why the sign" in t for t in titles)
    assert any("projection" in t for t in titles)
    assert any("linearity" in t for t in titles)
    assert any("mistakes" in t for t in titles)


def test_url_sets_the_controls_and_a_bad_value_warns():
    at = _page(model="mnist-linear", index="7", norm="l2", ball="0.5", steps="abc", talk="1")
    assert not at.exception
    assert at.number_input(key="how.index").value == 7
    assert at.radio(key="how.norm").value == "l2"
    assert at.slider(key="how.ball").value == pytest.approx(0.5)
    assert at.toggle(key="how.talk").value is True
    assert at.slider(key="how.steps").value == 10  # the default, after a warning
    assert any("steps" in w.value for w in at.warning)
    assert at.query_params["steps"] in ("10", ["10"])  # the URL is rewritten to what is shown


def test_moving_a_slider_changes_the_figures():
    at = _page()
    before = _charts(at)
    at.slider(key="how.ball").set_value(0.7).run()
    assert not at.exception
    after = _charts(at)
    changed = sum(a != b for a, b in zip(before, after, strict=True))
    assert changed >= 2  # the sign geometry and the PGD projection
    assert at.query_params["ball"] in ("0.7", ["0.7"])


def test_missing_weights_give_a_message_not_a_traceback(monkeypatch):
    def missing(name: str) -> torch.nn.Module:
        raise models.AssetError(f"weight file assets/{name}.safetensors is missing; rebuild it "
                                f"with `{models.REBUILD}`")

    import pages.ui as ui

    monkeypatch.setattr(ui, "pretrained_model", missing)
    at = _page(model="mnist-cnn-robust")
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "mnist-cnn-robust" in errors and models.REBUILD in errors
    assert any("projection" in h.value for h in at.header)  # the 2-D section still works


def test_upper_bounds_section_shows_the_sandwich_on_live_numbers():
    at = _page(ball="0.5", steps="20")
    assert not at.exception, [e.value for e in at.exception]
    assert any("Attacks give upper bounds" in h.value for h in at.header)
    sandwich = next(json.loads(c) for c in _charts(at)
                    if "exact" in {t.get("name") for t in json.loads(c)["data"]})
    names = {t.get("name") for t in sandwich["data"]}
    assert {"FGSM", "PGD-20, 10 restarts", "certified (CROWN)", "exact"} <= names
    assert any("restarts" in m.value and "miss" in m.value for m in at.markdown)
