"""Plotly figure for the gradient-masking lab: what the evaluation claims vs the worst case.

`claims_figure` draws one bar per attack of an advcore.playground.masking.MaskingReport (the naive
evaluation in grey, the right tools in red), then the naive claim and the worst case, accuracy
in % on the fixed batch, each bar labelled with its value and the ball it searched.

`plane_figure` draws the 2-D demo (advcore.playground.masking.PlaneReport): the masked model's
decision map twice, PGD's paths on one copy and Square's on the other.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from advcore.playground.boundary import Attacked
from advcore.playground.figures import (
    BASE_FONT_SIZE,
    CLASS_COLORS,
    FLIP_COLOR,
    TALK_FONT_SIZE,
    axis_style,
    decision_map,
    layout_style,
)
from advcore.playground.masking import MaskingReport, PlaneReport

NAIVE_COLOR = "#7f7f7f"
CLAIM_COLOR = "#0072B2"
TITLE = "What the evaluation claims vs the worst case"


def _small(text: str) -> str:
    return f"<span style='font-size:0.8em;color:#555'>{text}</span>"


def claims_figure(report: MaskingReport, *, talk: bool = False) -> go.Figure:
    """Accuracy (%) under each attack, the naive claim and the worst case, as bars."""
    labels = [f"{m.label}<br>{_small(m.threat)}" for m in report.measurements]
    values = [100 * m.accuracy for m in report.measurements]
    colors = [NAIVE_COLOR if m.naive else FLIP_COLOR for m in report.measurements]
    labels += [f"<b>claimed</b><br>{_small('FGSM and PGD')}",
               f"<b>worst case</b><br>{_small('every attack')}"]
    values += [100 * report.claimed, 100 * report.worst]
    colors += [CLAIM_COLOR, FLIP_COLOR]
    fig = go.Figure(go.Bar(
        x=labels, y=values, marker={"color": colors}, text=[f"{v:.0f}%" for v in values],
        textposition="outside", cliponaxis=False,
        hovertemplate="%{x}: %{y:.1f}% of the digits still correct<extra></extra>",
    ))
    fig.update_layout(
        **layout_style(talk),
        height=400 if talk else 380,
        margin={"l": 60, "r": 20, "t": 70, "b": 90},
        showlegend=False,
    )
    fig.update_layout(title={"text": f"{TITLE} ({report.n} test digits)",
                             "font": {"size": (26 if talk else 18)}})
    # Explicit axis fonts: Streamlit's chart theme would otherwise shrink and grey them.
    ink = {"color": "#000000" if talk else "#333333"}
    tick = {"size": 18 if talk else 13, **ink}
    axes = {**axis_style(talk), "tickfont": tick}
    fig.update_yaxes(title="accuracy under attack (%)", range=[0, 112],
                     title_font={"size": 20 if talk else 14, **ink}, **axes)
    fig.update_xaxes(**axes)
    # The naive claim as a dashed line, so the drop to the worst case reads at a glance.
    fig.add_hline(y=100 * report.claimed, line={"dash": "dash", "color": CLAIM_COLOR,
                                               "width": 2})
    return fig


# --- in 2-D: the masked model's map, PGD's paths beside Square's -------------------------------

PGD_COLOR = NAIVE_COLOR
SQUARE_COLOR = FLIP_COLOR


def _path_xy(frames: np.ndarray, which: np.ndarray) -> tuple[list, list]:
    """The paths of the points `which` through frames (F, N, 2), as one x and one y list with
    None between paths (a line trace with gaps)."""
    xs: list = []
    ys: list = []
    for i in np.flatnonzero(which):
        xs += [*map(float, frames[:, i, 0]), None]
        ys += [*map(float, frames[:, i, 1]), None]
    return xs, ys


def _panel(report: PlaneReport, attacked: Attacked, name: str, color: str, axes: tuple[str, str],
           *, size: int, talk: bool, first: bool) -> list[dict[str, Any]]:
    """One copy of the map with one attack's paths; `first`: its boundary, classes and rings
    get the legend entries (the second panel's are the same)."""
    x_ref, y_ref = axes
    on = {"xaxis": x_ref, "yaxis": y_ref}
    X, within = report.X, report.within
    traces: list[dict[str, Any]] = [
        {**decision_map.boundary_trace(report.inner_grid.gx, report.inner_grid.gy,
                                       report.inner_grid.prob, width=4 if talk else 2.5),
         **on, "showlegend": first, "legendgroup": "boundary"}]
    for cls in (0, 1):
        m = report.y == cls
        traces.append({
            "type": "scatter", "x": X[m, 0].tolist(), "y": X[m, 1].tolist(), **on,
            "mode": "markers", "name": f"class {cls}", "legendgroup": f"class {cls}",
            "showlegend": first, "hoverinfo": "skip",
            "marker": {"color": CLASS_COLORS[cls], "size": size, "opacity": 0.55,
                       "line": {"width": 0}}})
    xs, ys = _path_xy(attacked.frames, within)
    traces.append({"type": "scatter", "x": xs, "y": ys, **on, "mode": "lines",
                   "name": f"{name}'s path", "connectgaps": False, "hoverinfo": "skip",
                   "opacity": 0.75, "line": {"color": color, "width": 2.5 if talk else 1.5}})
    fooled = within & attacked.flipped
    ends = attacked.x_adv
    traces.append({"type": "scatter", "x": ends[fooled, 0].tolist(), "y": ends[fooled, 1].tolist(),
                   **on, "mode": "markers", "name": f"{name}: fooled", "hoverinfo": "skip",
                   "marker": {"symbol": "x", "color": color, "size": size + 5,
                              "line": {"width": 1, "color": "#000000"}}})
    missed = within & ~attacked.flipped
    traces.append({"type": "scatter", "x": X[missed, 0].tolist(), "y": X[missed, 1].tolist(),
                   **on, "mode": "markers", "name": "not fooled", "legendgroup": "missed",
                   "showlegend": first, "hoverinfo": "skip",
                   "marker": {"symbol": "circle-open", "color": "#000000", "size": size + 6,
                              "line": {"width": 2}}})
    return traces


def plane_figure(report: PlaneReport, *, talk: bool = False) -> go.Figure:
    """Two copies of the masked model's decision map side by side: PGD's paths on the left,
    Square's on the right, for the points the truth says lie within ε of the boundary (each
    ends in an x where the attack fooled it, a ring where it did not). The black line is the
    network's 0.5 boundary, which the fake defence keeps."""
    size = 9 if talk else 6
    font = TALK_FONT_SIZE if talk else BASE_FONT_SIZE
    grid = report.grid
    pgd_name, square_name = f"PGD-{report.pgd.steps}", "Square"
    data = [*_panel(report, report.pgd, pgd_name, PGD_COLOR, ("x", "y"), size=size, talk=talk,
                    first=True),
            *_panel(report, report.square, square_name, SQUARE_COLOR, ("x2", "y2"), size=size,
                    talk=talk, first=False)]
    reach = report.within_count
    queries = report.square.queries
    spent = int(queries[report.within].sum()) if queries is not None else 0
    pgd_fooled = int((report.within & report.pgd.flipped).sum())
    titles = (f"<b>{pgd_name}</b> (reads the gradient): fooled {pgd_fooled} of {reach}",
              f"<b>{square_name}</b> (reads the scores): fooled "
              f"{int((report.within & report.square.flipped).sum())} of {reach}"
              + (f", {spent:,} queries" if not talk else ""))
    axis = {"showgrid": False, "zeroline": False, "constrain": "domain", "autorange": False,
            "range": [float(grid.gx[0]), float(grid.gx[-1])], **axis_style(talk)}
    yaxis = {**axis, "range": [float(grid.gy[0]), float(grid.gy[-1])]}
    image = decision_map.map_image(grid.gx, grid.gy, grid.prob)
    layout = {
        **layout_style(talk),
        "title": {"text": (f"The truth: {reach} of {report.n} points lie within ε = "
                           f"{report.eps:g} of the boundary"),
                  "x": 0.01, "xanchor": "left", "font": {"size": font + 4}},
        "height": 560 if talk else 700,
        "margin": {"l": 10, "r": 10, "t": 110 if talk else 100, "b": 10},
        "legend": {"orientation": "h", "x": 0.0, "xanchor": "left", "y": -0.1 if talk else -0.06,
                   "yanchor": "top", "font": {"size": 16 if talk else 12}},
        "hovermode": False,
        "xaxis": {**axis, "domain": [0.0, 0.485]},
        "yaxis": {**yaxis, "scaleanchor": "x", "scaleratio": 1},
        "xaxis2": {**axis, "domain": [0.515, 1.0]},
        "yaxis2": {**yaxis, "scaleanchor": "x2", "scaleratio": 1, "anchor": "x2"},
        "images": [image, {**image, "xref": "x2", "yref": "y2"}],
        "annotations": [
            {"text": text, "xref": f"{ref} domain", "yref": "paper", "x": 0.0, "y": 1.0,
             "xanchor": "left", "yanchor": "bottom", "showarrow": False,
             "font": {"size": font - 2 if talk else font}}
            for text, ref in zip(titles, ("x", "x2"), strict=True)],
    }
    return go.Figure({"data": data, "layout": layout})
