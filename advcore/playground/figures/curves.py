"""Accuracy against ε, for every page that draws it.

- `line`: one accuracy-vs-ε line as a plain Plotly scatter dict. Every such line of the house
  is built by it: the attack curves and the exact and certified staircases of /boundary and
  /how-it-works, and the model, exact, worst-case and published lines of the robustness lab.
- `curve_spec` / `curve_figure`: the one-panel figure with the current ε marked (/boundary, and
  /how-it-works's certified ≤ exact ≤ attack sandwich), from advcore.playground.boundary's
  AccuracyCurve.
- The robustness lab's two panels (FGSM | PGD, with the papers' points and the dashed worst
  case) are `figures.robustness.curves_figure`, whose lines come from `line` too; its legend is
  set there.

Built as dicts, without plotly's validation (~30 ms per ε change on /boundary); `curve_figure`
wraps the spec in a validated go.Figure for callers that edit it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from advcore.playground.boundary import AccuracyCurve
from advcore.playground.figures import FLIP_COLOR, axis_style, layout_style

EXACT_COLOR = "#6a3d9a"  # the exact answer: ε*, the optimal adversarial point, the true curve
CERTIFIED_COLOR = "#0f8b8d"  # what a certificate proves (CROWN)
BOUND_STYLES = {  # the sandwich's lower slices: (colour, dash)
    "exact": (EXACT_COLOR, "solid"),
    "certified": (CERTIFIED_COLOR, "dashdot"),
}
ATTACK_COLORS = ("#333333", "#2ca02c")  # the standard model's curve, then the robust one's
ATTACK_DASHES = ("solid", "dash")


def typed(values: np.ndarray, dtype: str = "f4") -> dict[str, str]:
    """A numpy array as a Plotly.js typed-array spec (base64 bytes): compact, parsed at once."""
    arr = np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<"))
    spec = {"dtype": dtype, "bdata": base64.b64encode(arr.tobytes()).decode("ascii")}
    if arr.ndim > 1:
        spec["shape"] = ", ".join(map(str, arr.shape))
    return spec


def line(x: Any, y: Any, *, name: str, color: str, width: float, dash: str = "solid",
         step: bool = False, mode: str = "lines", **extra: Any) -> dict[str, Any]:
    """One accuracy-vs-ε line as a plain scatter dict: x the ε values, y the accuracies in the
    figure's units (fractions or %), lists or `typed` arrays. step: a staircase (an exact or
    certified curve falls at each input's ε*). extra: further scatter keys (legendgroup,
    showlegend, marker, customdata, hovertemplate, error_y)."""
    style = {"color": color, "dash": dash, "width": width}
    if step:
        style["shape"] = "hv"
    return {"type": "scatter", "x": x, "y": y, "mode": mode, "name": name, "line": style,
            **extra}


def _now(eps: float, accuracy: float, color: str, size: int) -> dict[str, Any]:
    """The dot at the current ε on a curve."""
    return {"type": "scatter", "x": [eps], "y": [accuracy], "mode": "markers",
            "showlegend": False, "hoverinfo": "skip", "marker": {"color": color, "size": size}}


def curve_spec(
    curves: Sequence[tuple[str, AccuracyCurve, float]], *, eps: float, talk: bool = False,
    bounds: Sequence[tuple[str, AccuracyCurve, float]] = (),
) -> dict[str, Any]:
    """Accuracy vs ε, one line per (label, curve, accuracy at the current ε), ε marked, as a
    plain Plotly figure dict (the page sends it through figures.boundary.LeanFigure).

    bounds: the exact and certified curves under the attack curves (curve.attack "exact" or
    "certified" picks the style), drawn as steps: certified ≤ exact ≤ every attack's curve."""
    data: list[dict[str, Any]] = []
    for label, c, now in bounds:
        color, dash = BOUND_STYLES.get(c.attack, ("#555555", "dot"))
        data.append(line(typed(c.epsilons), typed(c.accuracy), name=label, color=color,
                         dash=dash, step=True, width=4 if talk else 2.5,
                         hovertemplate="ε = %{x:.2f}: %{y:.0%}<extra>" + label + "</extra>"))
        data.append(_now(eps, now, color, 10 if talk else 8))
    for k, (label, c, now) in enumerate(curves):
        data.append(line(np.asarray(c.epsilons).tolist(), np.asarray(c.accuracy).tolist(),
                         name=label, color=ATTACK_COLORS[0] if k == 0 else ATTACK_COLORS[1],
                         dash=ATTACK_DASHES[k % 2], width=4 if talk else 2,
                         hovertemplate="ε = %{x:.2f}: %{y:.0%}<extra>" + label + "</extra>"))
        data.append(_now(eps, now, FLIP_COLOR, 12 if talk else 9))
    hi = float(curves[0][1].epsilons[-1]) if curves else 2.0
    look = layout_style(talk)
    axis = axis_style(talk)
    layout = {
        **look,
        "title": {**look["title"], "text": f"<b>Accuracy vs ε</b> (now ε = {eps:g})",
                  "x": 0.01, "xanchor": "left"},
        "height": 300, "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
        "legend": {"x": 0.99, "xanchor": "right", "y": 0.98, "yanchor": "top",
                   "bgcolor": "rgba(255,255,255,0.8)"},
        "showlegend": len(curves) + len(bounds) > 1,
        "shapes": [{"type": "line", "x0": eps, "x1": eps, "xref": "x", "y0": 0, "y1": 1,
                    "yref": "y domain", "line": {"color": FLIP_COLOR, "width": 2,
                                                 "dash": "dot"}}],
        "xaxis": {"title": {"text": "ε (feature units)"}, "range": [0, hi], "showgrid": True,
                  **axis},
        "yaxis": {"title": {"text": "accuracy"}, "range": [0, 1.02], "tickformat": ".0%",
                  **axis},
    }
    return {"data": data, "layout": layout}


def curve_figure(
    curves: Sequence[tuple[str, AccuracyCurve, float]], *, eps: float, talk: bool = False,
    bounds: Sequence[tuple[str, AccuracyCurve, float]] = (),
) -> go.Figure:
    """`curve_spec` as a validated go.Figure."""
    return go.Figure(curve_spec(curves, eps=eps, talk=talk, bounds=bounds))
