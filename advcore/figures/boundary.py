"""Plotly builders for the boundary page, from plain arrays (advcore.boundary results).

The main figure is one animated scatter over a static background:

    layout image  P(class 1) as a PNG             static (advcore.figures.decision_map)
    trace 0  the 0.5 boundary, a line with gaps   static
    trace 1  clean positions, faint               static
    trace 2  class-0 points                       animated
    trace 3  class-1 points                       animated
    trace 4  rings on flipped points              animated
    trace 5+ the selected point's path, ring      static

Frames name only traces 2-4 (`traces=[2, 3, 4]`) and play with `redraw: False` and no tweening.
The background is a layout image and a scatter line, not heatmap/contour traces, because a
frame re-plots only the traces it names and Plotly drops the layers of every trace type not
among them: a heatmap vanished on every frame until the redraw put it back, and on a loaded
machine the browser painted the gap (decision_map's docstring). With nothing to drop, no frame
needs a full redraw.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from advcore.boundary import AccuracyCurve, Attacked, Grid
from advcore.figures import (
    BASE_FONT_SIZE,
    CLASS_COLORS,
    FLIP_COLOR,
    TALK_FONT_SIZE,
    axis_style,
    decision_map,
    layout_style,
)

ANIMATED = [2, 3, 4]
ATTACK_NAMES = {"fgsm": "FGSM", "bim": "BIM", "pgd": "PGD-L∞", "pgd-l2": "PGD-L2",
                "deepfool": "DeepFool"}
FRAME_MS = 350


def _name(attack: str) -> str:
    return ATTACK_NAMES.get(attack, attack.upper())


def title_text(a: Attacked, frame: int | None = None, *, prefix: str = "") -> str:
    """"FGSM at ε = 0.3: 31 of 200 points flipped" for the last frame (the default), or the
    same for a frame of the animation ("FGSM at ε = 0.12: …", "PGD-L∞ ε = 0.3, step 4: …")."""
    last = len(a.frames) - 1
    f = last if frame is None else frame
    flipped = int((~a.frame_wrong[0] & a.frame_wrong[f]).sum())
    if f == last:
        where = f"at ε = {a.eps:g}"
    elif a.attack == "fgsm":
        where = f"at ε = {round(float(a.frame_eps[f]), 4):g}"
    else:
        where = f"ε = {a.eps:g}, {a.frame_label[f]} of {a.steps}"
    return f"<b>{prefix}{_name(a.attack)} {where}: {flipped} of {len(a.y)} points flipped</b>"


def _typed(values: np.ndarray, dtype: str = "f4") -> dict[str, str]:
    """A numpy array as a Plotly.js typed-array spec (base64 bytes): compact, parsed at once."""
    arr = np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<"))
    spec = {"dtype": dtype, "bdata": base64.b64encode(arr.tobytes()).decode("ascii")}
    if arr.ndim > 1:
        spec["shape"] = ", ".join(map(str, arr.shape))
    return spec


def _point_traces(a: Attacked, f: int, size: int, *, full: bool = True) -> list[dict[str, Any]]:
    """Traces 2-4 at frame f: the two classes where the attack has moved them, and rings.

    full=False (a frame) sends only what changes: the class traces' positions (which points
    belong to a class never changes, so their customdata and style stay from the figure) and
    the rings' positions and indices (the flipped set grows frame by frame)."""
    pos = a.frames[f]
    idx = np.arange(len(a.y))
    flips = ~a.frame_wrong[0] & a.frame_wrong[f]
    out: list[dict[str, Any]] = []
    for cls in (0, 1):
        m = a.y == cls
        t: dict[str, Any] = {"type": "scatter", "x": _typed(pos[m, 0]), "y": _typed(pos[m, 1])}
        if full:
            t.update(
                customdata=_typed(idx[m], "u2"), mode="markers", name=f"class {cls}",
                legendgroup=f"c{cls}",
                marker={"color": CLASS_COLORS[cls], "size": size,
                        "line": {"width": 1, "color": "#ffffff"}},
                unselected={"marker": {"opacity": 1.0}}, selected={"marker": {"opacity": 1.0}},
                hovertemplate=f"point #%{{customdata}} · class {cls}<extra></extra>")
        out.append(t)
    rings: dict[str, Any] = {"type": "scatter", "x": _typed(pos[flips, 0]),
                             "y": _typed(pos[flips, 1]), "customdata": _typed(idx[flips], "u2")}
    if full:
        rings.update(
            mode="markers", name="flipped (now misclassified)", legendgroup="flip",
            marker={"symbol": "circle-open", "color": FLIP_COLOR, "size": size + 8,
                    "line": {"width": 3, "color": FLIP_COLOR}},
            hovertemplate="point #%{customdata} · flipped<extra></extra>")
    out.append(rings)
    return out


def _animation_controls(a: Attacked, talk: bool) -> dict[str, Any]:
    """Play/Pause buttons and a frame slider (one stop per frame, starting on the last)."""
    still = {"frame": {"duration": 0, "redraw": True}, "mode": "immediate",
             "transition": {"duration": 0}}
    play = {"frame": {"duration": FRAME_MS, "redraw": True}, "fromcurrent": False,
            "mode": "immediate", "transition": {"duration": 0}}
    font = {"size": 18 if talk else 13}
    # Anchored at the bottom of the plot and pushed down in pixels, below the x tick labels
    # (a fraction of the plot's height put them over the ticks of a short figure).
    below_ticks = 40 if talk else 30
    return {
        "updatemenus": [{
            "type": "buttons", "direction": "left", "showactive": False,
            "x": 0.0, "y": 0.0, "xanchor": "left", "yanchor": "top",
            "pad": {"t": below_ticks, "r": 10}, "font": font,
            "buttons": [
                {"label": "▶ Play", "method": "animate", "args": [None, play]},
                {"label": "❚❚ Pause", "method": "animate",
                 "args": [[None], {**still, "frame": {"duration": 0, "redraw": False}}]},
            ],
        }],
        "sliders": [{
            "active": len(a.frames) - 1, "x": 0.25, "len": 0.75, "y": 0.0,
            "yanchor": "top", "pad": {"t": below_ticks + 25, "b": 0}, "font": font,
            "currentvalue": {"prefix": "frame: ", "font": font, "xanchor": "right"},
            "steps": [{"label": lab, "method": "animate", "args": [[str(k)], still]}
                      for k, lab in enumerate(a.frame_label)],
        }],
    }


def _selection(spec: dict[str, Any], X: np.ndarray, a: Attacked, i: int, talk: bool) -> None:
    """The selected point: its ε-ball (square L∞, circle L2), gradient arrow, path and ring."""
    x0, y0 = (float(v) for v in X[i])
    r = a.eps
    layout = spec["layout"]
    layout["shapes"] = [{
        "type": "rect" if a.norm == "linf" else "circle",
        "x0": x0 - r, "x1": x0 + r, "y0": y0 - r, "y1": y0 + r, "xref": "x", "yref": "y",
        "line": {"color": "#000000", "width": 3 if talk else 2, "dash": "dot"},
        "fillcolor": "rgba(0,0,0,0.06)", "name": "eps-ball"}]
    dx, dy = (float(v) for v in a.direction[i])
    if r > 0:
        layout["annotations"] = [{
            "x": x0 + dx, "y": y0 + dy, "ax": x0, "ay": y0, "xref": "x", "yref": "y",
            "axref": "x", "ayref": "y", "showarrow": True, "arrowhead": 3, "arrowsize": 1.2,
            "arrowwidth": 3 if talk else 2, "arrowcolor": "#000000", "text": "",
            "name": "gradient-arrow"}]
    path = a.frames[:, i]
    spec["data"] += [
        {"type": "scatter", "x": _typed(path[:, 0]), "y": _typed(path[:, 1]),
         "mode": "lines+markers", "name": f"path of point #{i}",
         "line": {"color": "#000000", "width": 4 if talk else 2},
         "marker": {"size": 5, "color": "#000000"}, "hoverinfo": "skip"},
        {"type": "scatter", "x": [x0], "y": [y0], "mode": "markers",
         "name": f"point #{i} (clean)", "hoverinfo": "skip",
         "marker": {"symbol": "circle-open", "size": 18, "color": "#000000",
                    "line": {"width": 3, "color": "#000000"}}},
    ]


def boundary_spec(
    X: np.ndarray, grid: Grid, a: Attacked, *, selected: int | None = None, talk: bool = False,
    title_prefix: str = "", height: int = 620,
) -> dict[str, Any]:
    """The probability map, the boundary, and every point animated from clean to adversarial,
    as a plain Plotly figure dict (what `boundary_figure` wraps; the page sends it unvalidated).

    X (N, 2) clean points; grid: P(class 1) over the window; a: the attack's frames and flags.
    selected: index of a clicked point (ε-ball, gradient arrow, path), or None.

    Lean on purpose: moving ε resends all of it. Arrays go as base64 float32 typed arrays and
    frames carry only what moves; the probability map is a small PNG.
    """
    size = 10 if talk else 7
    clean_size = max(size - 3, 3)
    data: list[dict[str, Any]] = [
        decision_map.boundary_trace(grid.gx, grid.gy, grid.prob, width=4 if talk else 2.5,
                                    typed=_typed),
        {"type": "scatter", "x": _typed(X[:, 0]), "y": _typed(X[:, 1]), "mode": "markers",
         "name": "clean position", "hoverinfo": "skip", "visible": True,
         "marker": {"color": "rgba(60,60,60,0.35)", "size": clean_size}},
        *_point_traces(a, len(a.frames) - 1, size),
    ]
    font = BASE_FONT_SIZE if not talk else TALK_FONT_SIZE
    axis = {"showgrid": False, "zeroline": False, "constrain": "domain", "autorange": False}
    if talk:
        axis |= {"tickfont": {"size": font - 2}, "linewidth": 2}
    spec: dict[str, Any] = {"data": data, "layout": {
        "title": {"text": title_text(a, prefix=title_prefix), "x": 0.01, "xanchor": "left",
                  "yref": "container", "y": 0.99, "yanchor": "top",
                  "font": {"size": font + 4}},
        "height": height, "margin": {"l": 10, "r": 10, "t": 110 if talk else 95, "b": 120},
        "legend": {"orientation": "h", "x": 0.0, "xanchor": "left", "y": 1.0,
                   "yanchor": "bottom", "font": {"size": 16 if talk else 12}},
        "hovermode": "closest", "clickmode": "event+select",
        "font": {"size": font, "color": "#000000" if talk else "#222222"},
        "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
        "images": [decision_map.map_image(grid.gx, grid.gy, grid.prob)],
        "xaxis": {**axis, "range": [float(grid.gx[0]), float(grid.gx[-1])]},
        "yaxis": {**axis, "range": [float(grid.gy[0]), float(grid.gy[-1])],
                  "scaleanchor": "x", "scaleratio": 1},
        **_animation_controls(a, talk),
    }}
    if selected is not None and 0 <= selected < len(X):
        _selection(spec, X, a, selected, talk)
    spec["frames"] = [
        {"name": str(k), "traces": ANIMATED, "data": _point_traces(a, k, size, full=False),
         "layout": {"title": {"text": title_text(a, k, prefix=title_prefix)}}}
        for k in range(len(a.frames))
    ]
    return spec


class LeanFigure(go.Figure):
    """A go.Figure that hands a prebuilt dict to whoever asks for `to_dict()` (st.plotly_chart):
    Streamlit validates a dict trace by trace (~150 ms for an animated figure), a Figure not.
    Only for serialising: `.data`/`.layout` of this object are empty; read `.spec` instead."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self._lean_spec = spec  # plotly only lets underscored names be set on a Figure

    @property
    def spec(self) -> dict[str, Any]:
        return self._lean_spec

    def to_dict(self) -> dict[str, Any]:
        return self._lean_spec


def boundary_figure(
    X: np.ndarray, grid: Grid, a: Attacked, *, selected: int | None = None, talk: bool = False,
    title_prefix: str = "", height: int = 620,
) -> go.Figure:
    """`boundary_spec` as a validated go.Figure, for callers that edit it (update_layout)."""
    return go.Figure(boundary_spec(X, grid, a, selected=selected, talk=talk,
                                   title_prefix=title_prefix, height=height))


def curve_spec(
    curves: Sequence[tuple[str, AccuracyCurve, float]], *, eps: float, talk: bool = False,
) -> dict[str, Any]:
    """Accuracy vs ε, one line per (label, curve, accuracy at the current ε), ε marked, as a
    plain Plotly figure dict: built without plotly's validation, which cost ~30 ms per ε change
    (the page sends it through LeanFigure; `curve_figure` wraps it for callers that edit it)."""
    data: list[dict[str, Any]] = []
    dashes = ("solid", "dash")
    for k, (label, c, now) in enumerate(curves):
        data.append({
            "type": "scatter", "x": np.asarray(c.epsilons).tolist(),
            "y": np.asarray(c.accuracy).tolist(), "mode": "lines", "name": label,
            "line": {"color": "#333333" if k == 0 else "#2ca02c", "dash": dashes[k % 2],
                     "width": 4 if talk else 2},
            "hovertemplate": "ε = %{x:.2f}: %{y:.0%}<extra>" + label + "</extra>"})
        data.append({
            "type": "scatter", "x": [eps], "y": [now], "mode": "markers", "showlegend": False,
            "hoverinfo": "skip", "marker": {"color": FLIP_COLOR, "size": 12 if talk else 9}})
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
        "showlegend": len(curves) > 1,
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
) -> go.Figure:
    """`curve_spec` as a validated go.Figure."""
    return go.Figure(curve_spec(curves, eps=eps, talk=talk))


def point_table(a: Attacked, i: int) -> list[dict[str, str]]:
    """The selected point before and after, as display rows (strings carry the units)."""
    rows = []
    for what, pos, p in (("clean", a.frames[0, i], a.prob_clean[i]),
                         ("adversarial", a.x_adv[i], a.prob_adv[i])):
        rows.append({
            "": what, "(x₁, x₂)": f"({pos[0]:+.2f}, {pos[1]:+.2f})",
            "P(class 1)": f"{p[1]:.3f}", "predicted": f"class {int(p.argmax())}",
        })
    return rows
