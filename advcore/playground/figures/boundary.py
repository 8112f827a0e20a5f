"""Plotly builders for the boundary page, from plain arrays (advcore.playground.boundary results).

The main figure is one animated scatter over a static background:

    layout image  P(class 1) as a PNG             static (advcore.playground.figures.decision_map)
    trace 0  the 0.5 boundary, a line with gaps   static
    trace 1  clean positions, faint               static
    trace 2  class-0 points                       animated
    trace 3  class-1 points                       animated
    trace 4  rings on flipped points              animated
    trace 5+ static extras, in this order, each only when asked for:
             points the attack missed (ground truth: ε* ≤ ε, still correct)
             the selected point's path and ring, its optimal adversarial point (ground truth)
             an invisible grid of click targets (adding points: clicks on a layout image fire
             no event, clicks on these markers do)

Frames name only traces 2-4 (`traces=[2, 3, 4]`) and play with `redraw: False` and no tweening.
The background is a layout image and a scatter line, not heatmap/contour traces, because a
frame re-plots only the traces it names and Plotly drops the layers of every trace type not
among them: a heatmap vanished on every frame until the redraw put it back, and on a loaded
machine the browser painted the gap (decision_map's docstring). With nothing to drop, no frame
needs a full redraw.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from advcore.playground.boundary import Attacked, Grid, GroundTruth
from advcore.playground.figures import (
    BASE_FONT_SIZE,
    CLASS_COLORS,
    FLIP_COLOR,
    TALK_FONT_SIZE,
    decision_map,
)

# Accuracy against ε is drawn by figures.curves for every page; the boundary page reaches its
# builder as figs.curve_spec, and this module takes the colours and typed arrays from there.
from advcore.playground.figures.curves import CERTIFIED_COLOR, EXACT_COLOR
from advcore.playground.figures.curves import curve_figure as curve_figure
from advcore.playground.figures.curves import curve_spec as curve_spec
from advcore.playground.figures.curves import typed as _typed

ANIMATED = [2, 3, 4]
ATTACK_NAMES = {"fgsm": "FGSM", "bim": "BIM", "pgd": "PGD-L∞", "pgd-l2": "PGD-L2",
                "deepfool": "DeepFool", "square": "Square-L∞", "square-l2": "Square-L2",
                "hsja": "HopSkipJump"}
FRAME_MS = 350
CLICK_GRID = 64  # click targets per side of the map when adding points
CLICK_NAME = "click to add a point"


def _name(attack: str) -> str:
    return ATTACK_NAMES.get(attack, attack.upper())


def title_text(a: Attacked, frame: int | None = None, *, prefix: str = "") -> str:
    """"FGSM at ε = 0.3: 31 of 200 points flipped" for the last frame (the default), or the
    same for a frame of the animation ("FGSM at ε = 0.12: …", "PGD-L∞ ε = 0.3, step 4: …").
    A black-box attack's title counts the model queries used so far, summed over the points
    ("Square-L∞ · 4,158 queries: …", ε being on the slider above); its last frame's is the
    attack's own count."""
    last = len(a.frames) - 1
    f = last if frame is None else frame
    flipped = int((~a.frame_wrong[0] & a.frame_wrong[f]).sum())
    if a.frame_queries is not None:
        where = f"· {query_text(int(a.frame_queries[f].sum()))}"
    elif f == last:
        where = f"at ε = {a.eps:g}"
    elif a.attack == "fgsm":
        where = f"at ε = {round(float(a.frame_eps[f]), 4):g}"
    else:
        where = f"ε = {a.eps:g}, {a.frame_label[f]} of {a.steps}"
    return f"<b>{prefix}{_name(a.attack)} {where}: {flipped} of {len(a.y)} points flipped</b>"


def query_text(total: int) -> str:
    """"4,158 queries" (the thousands separated, as the page's counters are)."""
    return f"{total:,} quer{'y' if total == 1 else 'ies'}"


def _eps_text(v: float, eps_max: float) -> str:
    return f"> {eps_max:g}" if v > eps_max else f"{v:.3f}"


def hover_texts(a: Attacked, truth: GroundTruth | None) -> list[str]:
    """Each point's hover line: its index and class, and with ground truth its exact ε* and
    certified radius (feature units, in the attack's norm)."""
    out = []
    for i, cls in enumerate(a.y):
        line = f"point #{i} · class {int(cls)}"
        if truth is not None:
            line += (f"<br>exact ε* = {_eps_text(truth.eps_star[i], truth.eps_max)}"
                     f" · certified {_eps_text(truth.certified[i], truth.eps_max)}")
        out.append(line)
    return out


def _point_traces(a: Attacked, f: int, size: int, *, full: bool = True,
                  truth: GroundTruth | None = None) -> list[dict[str, Any]]:
    """Traces 2-4 at frame f: the two classes where the attack has moved them, and rings.

    full=False (a frame) sends only what changes: the class traces' positions (which points
    belong to a class never changes, so their customdata and style stay from the figure) and
    the rings' positions and indices (the flipped set grows frame by frame). truth: adds each
    point's exact ε* and certified radius to its hover text."""
    pos = a.frames[f]
    idx = np.arange(len(a.y))
    flips = ~a.frame_wrong[0] & a.frame_wrong[f]
    out: list[dict[str, Any]] = []
    texts = np.array(hover_texts(a, truth), dtype=object) if full else None
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
                text=texts[m].tolist(), hovertemplate="%{text}<extra></extra>")
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
            "currentvalue": {"prefix": "frame: " if a.frame_queries is None
                             else "queries per point: ", "font": font, "xanchor": "right"},
            "steps": [{"label": lab, "method": "animate", "args": [[str(k)], still]}
                      for k, lab in enumerate(a.frame_label)],
        }],
    }


def _missed_trace(a: Attacked, truth: GroundTruth, size: int, talk: bool) -> dict[str, Any]:
    """Diamonds on the points the attack left correct that some perturbation within ε flips
    (exact.missed_flips), where they sit after the attack."""
    missed = truth.missed(a)
    idx = np.flatnonzero(missed)
    return {"type": "scatter", "x": _typed(a.x_adv[missed, 0]), "y": _typed(a.x_adv[missed, 1]),
            "customdata": _typed(idx, "u2"), "mode": "markers",
            "name": (f"missed ({len(idx)})" if talk
                     else f"missed: flippable within ε ({len(idx)})"),
            "marker": {"symbol": "diamond-open", "color": EXACT_COLOR, "size": size + 9,
                       "line": {"width": 2.5, "color": EXACT_COLOR}},
            "hovertemplate": "point #%{customdata} · the attack missed it: a flip within ε "
                             "exists<extra></extra>"}


def _ball(x0: float, y0: float, r: float, norm: str, line: dict[str, Any], fill: str,
          name: str) -> dict[str, Any]:
    return {"type": "rect" if norm == "linf" else "circle", "x0": x0 - r, "x1": x0 + r,
            "y0": y0 - r, "y1": y0 + r, "xref": "x", "yref": "y", "line": line,
            "fillcolor": fill, "name": name}


def _truth_selection(spec: dict[str, Any], X: np.ndarray, truth: GroundTruth, i: int,
                     talk: bool) -> None:
    """The selected point's certified ball (CROWN) and its optimal adversarial point: the
    nearest point on the boundary, joined to the point by a dashed line."""
    x0, y0 = (float(v) for v in X[i])
    r = float(truth.certified[i])
    if 0 < r <= truth.eps_max:
        spec["layout"].setdefault("shapes", []).append(_ball(
            x0, y0, r, truth.norm, {"color": CERTIFIED_COLOR, "width": 3 if talk else 2},
            "rgba(15,139,141,0.12)", "certified-ball"))
    star = truth.x_star[i]
    if truth.eps_star[i] > 0 and np.isfinite(star).all():
        spec["data"].append({
            "type": "scatter", "x": [x0, float(star[0])], "y": [y0, float(star[1])],
            "mode": "lines+markers", "name": f"optimal adversarial point (ε* = "
                                             f"{truth.eps_star[i]:.3f})",
            "showlegend": not talk,
            "line": {"color": EXACT_COLOR, "width": 3 if talk else 2, "dash": "dash"},
            "marker": {"symbol": ["circle", "star"], "size": [1, 26 if talk else 20],
                       "color": EXACT_COLOR, "line": {"width": 1, "color": "#ffffff"}},
            "hoverinfo": "skip"})


def click_grid(grid: Grid, n: int = CLICK_GRID) -> dict[str, Any]:
    """An invisible n × n grid of markers over the map: clicking an empty place fires a click
    on the nearest one, whose x, y the page reads (a layout image fires no click events)."""
    gx = np.linspace(float(grid.gx[0]), float(grid.gx[-1]), n)
    gy = np.linspace(float(grid.gy[0]), float(grid.gy[-1]), n)
    xx, yy = np.meshgrid(gx, gy)
    return {"type": "scatter", "x": _typed(xx.ravel()), "y": _typed(yy.ravel()),
            "mode": "markers", "name": CLICK_NAME, "showlegend": False,
            "marker": {"size": 6, "color": "#000000", "opacity": 0},
            "hovertemplate": "add a point at (%{x:.2f}, %{y:.2f})<extra></extra>"}


def _selection(spec: dict[str, Any], X: np.ndarray, a: Attacked, i: int, talk: bool,
               legend: bool = True) -> None:
    """The selected point: its ε-ball (square L∞, circle L2), gradient arrow, path and ring
    (in the legend if `legend`)."""
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
         "mode": "lines+markers", "name": f"path of point #{i}", "showlegend": legend,
         "line": {"color": "#000000", "width": 4 if talk else 2},
         "marker": {"size": 5, "color": "#000000"}, "hoverinfo": "skip"},
        {"type": "scatter", "x": [x0], "y": [y0], "mode": "markers",
         "name": f"point #{i} (clean)", "hoverinfo": "skip", "showlegend": legend,
         "marker": {"symbol": "circle-open", "size": 18, "color": "#000000",
                    "line": {"width": 3, "color": "#000000"}}},
    ]


def boundary_spec(
    X: np.ndarray, grid: Grid, a: Attacked, *, selected: int | None = None, talk: bool = False,
    title_prefix: str = "", height: int = 620, truth: GroundTruth | None = None,
    clickable: bool = False, frames: bool = True,
) -> dict[str, Any]:
    """The probability map, the boundary, and every point animated from clean to adversarial,
    as a plain Plotly figure dict (what `boundary_figure` wraps; the page sends it unvalidated).

    X (N, 2) clean points; grid: P(class 1) over the window; a: the attack's frames and flags.
    selected: index of a clicked point (ε-ball, gradient arrow, path), or None.
    truth: the exact answer in the attack's norm: ε* in each point's hover text, diamonds on
    the points the attack missed, and for the selected point its certified ball and optimal
    adversarial point. clickable: add the invisible click grid (adding points). frames=False
    leaves out the animation's frames (a figure only compared, never played: a preview).

    Lean on purpose: moving ε resends all of it. Arrays go as base64 float32 typed arrays and
    frames carry only what moves; the probability map is a small PNG.
    """
    size = 10 if talk else 7
    clean_size = max(size - 3, 3)
    data: list[dict[str, Any]] = [
        decision_map.boundary_trace(grid.gx, grid.gy, grid.prob, width=4 if talk else 2.5,
                                    typed=_typed),
        {"type": "scatter", "x": _typed(X[:, 0]), "y": _typed(X[:, 1]), "mode": "markers",
         "name": "clean position", "hoverinfo": "skip", "visible": True, "showlegend": not talk,
         "marker": {"color": "rgba(60,60,60,0.35)", "size": clean_size}},
        *_point_traces(a, len(a.frames) - 1, size, truth=truth),
    ]
    # On a projector the legend keeps one row (what the speaker points at): the classes, the
    # flips and the misses; the boundary line, faint clean positions and the path explain
    # themselves, and more rows squeezed the map.
    data[0]["showlegend"] = not talk
    if truth is not None:
        data.append(_missed_trace(a, truth, size, talk))
    font = BASE_FONT_SIZE if not talk else TALK_FONT_SIZE
    axis = {"showgrid": False, "zeroline": False, "constrain": "domain", "autorange": False}
    if talk:
        axis |= {"tickfont": {"size": font - 2}, "linewidth": 2}
    spec: dict[str, Any] = {"data": data, "layout": {
        "title": {"text": title_text(a, prefix=title_prefix), "x": 0.01, "xanchor": "left",
                  "yref": "container", "y": 0.99, "yanchor": "top",
                  "font": {"size": font + 4}},
        "height": height, "margin": {"l": 10, "r": 10, "t": 85 if talk else 95, "b": 120},
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
        # With ground truth the legend already has two rows: the path and ring are told in the
        # point's caption instead (and on a projector they never are in the legend).
        _selection(spec, X, a, selected, talk, legend=not talk and truth is None)
        if truth is not None:
            _truth_selection(spec, X, truth, selected, talk)
    if clickable:
        data.append(click_grid(grid))
    if not frames:
        return spec
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
    title_prefix: str = "", height: int = 620, truth: GroundTruth | None = None,
    clickable: bool = False,
) -> go.Figure:
    """`boundary_spec` as a validated go.Figure, for callers that edit it (update_layout)."""
    return go.Figure(boundary_spec(X, grid, a, selected=selected, talk=talk,
                                   title_prefix=title_prefix, height=height, truth=truth,
                                   clickable=clickable))


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


def truth_table(a: Attacked, truth: GroundTruth, i: int) -> list[dict[str, str]]:
    """The selected point's distances side by side: what the attack found, the exact ε*, and
    what CROWN certifies (feature units, in the attack's norm)."""
    norm = "‖δ‖∞" if truth.norm == "linf" else "‖δ‖₂"
    flipped = bool(a.prob_adv[i].argmax() != a.y[i])
    star = truth.x_star[i]
    rows = [
        {"": f"{_name(a.attack)} found",
         norm: f"{a.perturbation[i]:.3f}",
         "(x₁, x₂)": f"({a.x_adv[i][0]:+.2f}, {a.x_adv[i][1]:+.2f})",
         "at this ε": "flipped" if flipped else "not flipped"},
        {"": "exact",
         norm: _eps_text(truth.eps_star[i], truth.eps_max),
         "(x₁, x₂)": (f"({star[0]:+.2f}, {star[1]:+.2f})" if np.isfinite(star).all()
                      else "beyond the map"),
         "at this ε": ("already wrong" if truth.eps_star[i] == 0 else
                       "can be flipped" if truth.eps_star[i] <= a.eps else "cannot be flipped")},
        {"": "certified (CROWN)", norm: _eps_text(truth.certified[i], truth.eps_max),
         "(x₁, x₂)": "",
         "at this ε": "proved safe" if truth.certified[i] > a.eps else "not proved"},
    ]
    return rows
