"""advcore.playground.figures.curves: one builder draws every accuracy-vs-ε line of the house
(/boundary, /how-it-works, the robustness lab), so the pages cannot drift apart in look."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from advcore.playground import robustness as rb
from advcore.playground.boundary import AccuracyCurve
from advcore.playground.figures import curves
from advcore.playground.figures import robustness as rb_figs


@pytest.fixture
def tagged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every line `curves.line` builds carries a mark (meta), wherever it is called from."""
    built = curves.line

    def marked(*args, **kwargs):
        return {**built(*args, **kwargs), "meta": "curves.line"}

    monkeypatch.setattr(curves, "line", marked)
    monkeypatch.setattr(rb_figs, "line", marked)


def _curve(attack: str, n: int = 21) -> AccuracyCurve:
    eps = np.linspace(0, 2, n).astype(np.float32)
    return AccuracyCurve(attack, eps, np.linspace(1, 0.1, n).astype(np.float32))


def _lines(fig: go.Figure) -> list:
    """The lines, and the papers' points (legend group "ref-…": in talk mode their legend names
    are the papers' alone)."""
    return [t for t in fig.data
            if "lines" in (t.mode or "") or (t.legendgroup or "").startswith("ref-")]


@pytest.mark.parametrize("talk", [False, True])
def test_every_line_of_both_figures_comes_from_the_one_builder(tagged, talk: bool) -> None:
    one = curves.curve_figure([("FGSM", _curve("fgsm"), 0.5), ("PGD", _curve("pgd"), 0.4)],
                              eps=0.4, talk=talk,
                              bounds=[("exact", _curve("exact", 401), 0.45),
                                      ("certified (CROWN)", _curve("certified", 401), 0.4)])
    model = rb.Curve("mnist-cnn", "fgsm", (0.0, 0.1, 0.2), (0.98, 0.6, 0.2), 1, 1000, "card")
    pgd = rb.Curve("mnist-cnn", "pgd", (0.0, 0.1, 0.2), (0.98, 0.5, 0.1), 20, 1000, "card")
    exact = rb.Curve("mnist-linear", "exact", (0.0, 0.1, 0.2), (0.9, 0.2, 0.0), 0, 1000,
                     "exact")
    worst = [rb.WorstCase("mnist-cnn", e, 100, 98, k, k + 3, 20) for e, k in ((0.1, 40),
                                                                            (0.2, 5))]
    two = rb_figs.curves_figure([model, pgd], rb.REFERENCES, compare=[model], exact=[exact],
                                worst=worst, talk=talk)
    for fig, want in ((one, 4), (two, 9)):
        lines = _lines(fig)
        assert len(lines) >= want
        assert all(t.meta == "curves.line" for t in lines), [t.name for t in lines
                                                             if t.meta != "curves.line"]
    # The same staircase for an exact curve on every page.
    assert {t.line.shape for t in _lines(one) if t.name == "exact"} == {"hv"}
    assert {t.line.shape for t in _lines(two) if "exact" in (t.name or "")} == {"hv"}


def test_line_keeps_what_it_is_given() -> None:
    t = curves.line([0, 0.1], [1.0, 0.5], name="x", color="#123456", width=3, step=True,
                    mode="lines+markers", legendgroup="g")
    assert t == {"type": "scatter", "x": [0, 0.1], "y": [1.0, 0.5], "mode": "lines+markers",
                 "name": "x", "line": {"color": "#123456", "dash": "solid", "width": 3,
                                       "shape": "hv"}, "legendgroup": "g"}
    go.Figure(t)  # valid Plotly
