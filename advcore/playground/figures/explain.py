"""Plotly figures for the "How it works" page, drawn from the dataclasses of `advcore.playground.explain`.

Digits are 28×28 heatmaps with square pixels, black ink on white paper; signed quantities
(gradients, weights) use a diverging scale centred on white at 0: red raises the loss (or the
logit), blue lowers it. Every figure takes `talk` for projector-sized text (see `style`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from advcore.playground.explain import (
    ClipDemo,
    DecisionGrid,
    EpsUnitsDemo,
    InputGradient,
    Linearity,
    ProjectionPath,
    SignComparison,
    SoftmaxDemo,
    TrainModeDemo,
)
from advcore.playground.figures import (
    BASE_FONT_SIZE,
    CLASS_COLORS,
    FLIP_COLOR,
    INK,
    SIGNED,
    TALK_FONT_SIZE,
    decision_map,
)

SIGN_COLOR = "#2ca02c"  # the sign step (L∞ optimum)
GRAD_COLOR = "#9467bd"  # the normalised-gradient step (L2 optimum)
MEASURED_COLOR = "#111111"
PREDICTED_COLOR = "#d62728"
CLIPPED_COLOR = "#7f7f7f"
CLASSES = [str(k) for k in range(10)]


def style(fig: go.Figure, *, talk: bool = False) -> go.Figure:
    """White background, dark text; in talk mode larger text and thicker lines."""
    size = TALK_FONT_SIZE if talk else BASE_FONT_SIZE
    fig.update_layout(font={"size": size, "color": "#000000" if talk else "#222222"},
                      paper_bgcolor="#ffffff", plot_bgcolor="#ffffff",
                      legend_font_size=18 if talk else 13)
    # Subplot titles are annotations: the layout font does not reach them.
    fig.update_annotations(font={"size": 20 if talk else 14})
    if talk:
        fig.update_traces(selector={"type": "scatter"}, line={"width": 4})
        fig.update_xaxes(tickfont={"size": size - 2}, linewidth=2)
        fig.update_yaxes(tickfont={"size": size - 2}, linewidth=2)
    return fig


def _height(base: int, talk: bool) -> int:
    return int(base * 1.3) if talk else base


def _digit_axes(fig: go.Figure, n: int) -> None:
    """Square pixels, row 0 on top, no ticks, for the first n subplots of fig."""
    for i in range(1, n + 1):
        s = "" if i == 1 else str(i)
        fig.update_layout({
            f"xaxis{s}": {"visible": False, "constrain": "domain", "fixedrange": True},
            f"yaxis{s}": {"visible": False, "autorange": "reversed", "scaleanchor": f"x{s}",
                          "scaleratio": 1, "constrain": "domain", "fixedrange": True},
        })


def _heatmap(z: np.ndarray, *, colorscale: Any, zmin: float, zmax: float, hover: str,
             showscale: bool = False, **extra: Any) -> go.Heatmap:
    return go.Heatmap(z=np.asarray(z, dtype=np.float32).round(5), colorscale=colorscale,
                      zmin=zmin, zmax=zmax, showscale=showscale,
                      hovertemplate=hover + "<extra></extra>", **extra)


def _symmetric(a: np.ndarray) -> float:
    return max(float(np.abs(a).max()), 1e-12)


def _images(titles: Sequence[str], talk: bool, base: int = 300) -> go.Figure:
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=list(titles),
                        horizontal_spacing=0.04)
    fig.update_layout(height=_height(base, talk), margin={"l": 10, "r": 10, "t": 60, "b": 10})
    return fig


def _finish(fig: go.Figure, talk: bool, n_images: int = 0) -> go.Figure:
    _digit_axes(fig, n_images)
    return style(fig, talk=talk)


# --- 1. gradients -------------------------------------------------------------------------------


def gradient_figure(g: InputGradient, *, talk: bool = False) -> go.Figure:
    """The digit x, ∇ₓ L (one number per pixel, diverging colours) and sign(∇ₓ L)."""
    scale = _symmetric(g.grad)
    fig = _images([
        f"x: a {g.label} (model says {g.prediction})",
        "∇ₓ L: red pixels raise the loss",
        "sign(∇ₓ L): the FGSM direction",
    ], talk)
    fig.add_trace(_heatmap(g.image, colorscale=INK, zmin=0, zmax=1,
                           hover="row %{y}, col %{x}<br>pixel %{z:.3f}"), 1, 1)
    fig.add_trace(_heatmap(g.grad, colorscale=SIGNED, zmin=-scale, zmax=scale,
                           hover="row %{y}, col %{x}<br>∂L/∂x = %{z:.2e}"), 1, 2)
    fig.add_trace(_heatmap(np.sign(g.grad), colorscale=SIGNED, zmin=-1, zmax=1,
                           hover="row %{y}, col %{x}<br>sign = %{z:.0f}"), 1, 3)
    return _finish(fig, talk, 3)


def weight_gradient_figure(g: InputGradient, *, talk: bool = False) -> go.Figure:
    """∇_W L of a linear model as ten 28×28 tiles: tile k is x scaled by p_k − [k = y].

    It looks like the digit itself, because ∇_W L = (p − onehot(y)) xᵀ: the weights' gradient
    says how to change the *model* for this digit, not how to change the digit.
    """
    if g.linear_weight_grad is None:
        raise ValueError("weight tiles exist only for the linear model")
    tiles = g.linear_weight_grad
    scale = _symmetric(tiles)
    coef = g.probs - np.eye(len(g.probs))[g.label]
    titles = [f"{k}: {coef[k]:+.3f}·x" for k in range(len(tiles))]
    fig = make_subplots(rows=2, cols=5, subplot_titles=titles, horizontal_spacing=0.02,
                        vertical_spacing=0.1)
    for k, tile in enumerate(tiles):
        fig.add_trace(_heatmap(tile, colorscale=SIGNED, zmin=-scale, zmax=scale,
                               hover=f"∂L/∂W[{k}, pixel]<br>%{{z:.2e}}"), k // 5 + 1, k % 5 + 1)
    fig.update_layout(height=_height(380, talk), margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return _finish(fig, talk, len(tiles))


def seed_gradient_figure(g: InputGradient, *, talk: bool = False) -> go.Figure:
    """The model's predictions (10 bars) and what np.gradient makes of them along the class
    axis (10 bars): differences between neighbouring classes, nothing per pixel."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=[
        "p = predictions", "np.gradient(p), per class"])
    fig.add_trace(go.Bar(x=CLASSES, y=g.probs, marker_color=CLASS_COLORS[0],
                         hovertemplate="class %{x}: p = %{y:.3f}<extra></extra>"), 1, 1)
    fig.add_trace(go.Bar(x=CLASSES, y=g.seed_gradient, marker_color=CLIPPED_COLOR,
                         hovertemplate="class %{x}: (p[k+1] − p[k−1]) / 2 = %{y:.3f}"
                                       "<extra></extra>"), 1, 2)
    fig.update_xaxes(title_text="class", type="category")
    fig.update_layout(height=_height(300, talk), showlegend=False,
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return _finish(fig, talk)


# --- 2. why the sign ----------------------------------------------------------------------------


def sign_geometry_figure(gradient: np.ndarray, eps: float, *, talk: bool = False) -> go.Figure:
    """The L∞ ball (a square) and the L2 ball through its corners (a circle, radius ε√2) around
    a 2-D point, the level lines of the linear gain gᵀδ, and each ball's best step: the corner
    ε·sign(g) of the square, and ε√2·g/‖g‖ on the circle."""
    g = np.asarray(gradient, dtype=np.float64)
    gn = g / max(np.linalg.norm(g), 1e-12)
    r2 = eps * np.sqrt(2)
    lim = 1.25 * r2
    u = np.linspace(-lim, lim, 81)
    gain = (g[0] * u[None, :] + g[1] * u[:, None])
    fig = go.Figure()
    fig.add_trace(go.Contour(x=u, y=u, z=gain, colorscale=SIGNED, showscale=False,
                             contours={"coloring": "heatmap"}, ncontours=16, opacity=0.55,
                             line={"width": 0.5}, hoverinfo="skip", name="gain gᵀδ"))
    t = np.linspace(0, 2 * np.pi, 200)
    fig.add_trace(go.Scatter(x=r2 * np.cos(t), y=r2 * np.sin(t), mode="lines",
                             line={"color": GRAD_COLOR, "width": 2, "dash": "dot"},
                             name=f"L2 ball, radius ε√2 = {r2:.2f}"))
    sq = eps * np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]])
    fig.add_trace(go.Scatter(x=sq[:, 0], y=sq[:, 1], mode="lines",
                             line={"color": SIGN_COLOR, "width": 2},
                             name=f"L∞ ball, ε = {eps:.2f}"))
    corner = eps * np.sign(g)
    along = r2 * gn
    for point, color, name in (
        (corner, SIGN_COLOR, f"ε·sign(g): gain ε‖g‖₁ = {eps * np.abs(g).sum():.3f}"),
        (along, GRAD_COLOR, f"ε√2·g/‖g‖₂: gain ε√2‖g‖₂ = {r2 * np.linalg.norm(g):.3f}"),
    ):
        fig.add_trace(go.Scatter(x=[0, point[0]], y=[0, point[1]], mode="lines+markers",
                                 line={"color": color, "width": 3},
                                 marker={"size": [0, 14], "color": color, "symbol": "circle"},
                                 name=name))
    fig.add_trace(go.Scatter(x=[0], y=[0], mode="markers", name="x (δ = 0)",
                             marker={"size": 12, "color": "#111111", "symbol": "x"}))
    fig.update_xaxes(range=[-lim, lim], title_text="δ₁", zeroline=False, constrain="domain")
    fig.update_yaxes(range=[-lim, lim], title_text="δ₂", zeroline=False, scaleanchor="x",
                     scaleratio=1, constrain="domain")
    fig.update_layout(height=_height(560, talk), margin={"l": 10, "r": 10, "t": 20, "b": 10},
                      legend={"orientation": "h", "y": -0.12, "x": 0})
    return _finish(fig, talk)


def sign_gain_figure(cmp: SignComparison, *, talk: bool = False) -> go.Figure:
    """For one digit's 784-dimensional gradient: the linear gain gᵀδ and the true loss change of
    the sign step and the gradient step, under the L∞ budget ε and the L2 budget ε√d."""
    budgets = {"linf": f"L∞ ball, ε = {cmp.eps:.3f}",
               "l2": f"L2 ball, ε√d = {cmp.radius_l2:.2f}"}
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=[
        "first-order gain gᵀδ", "true loss change L(x+δ) − L(x)"])
    for direction, color, name in (("sign", SIGN_COLOR, "ε·sign(g)"),
                                   ("gradient", GRAD_COLOR, "g scaled to the ball")):
        rows = [s for s in cmp.steps if s.direction == direction]
        xs = [budgets[s.budget] for s in rows]
        for col, values in ((1, [s.linear_gain for s in rows]), (2, [s.loss_change for s in rows])):
            fig.add_trace(go.Bar(x=xs, y=values, name=name, marker_color=color,
                                 legendgroup=direction, showlegend=col == 1,
                                 text=[f"{v:.3g}" for v in values], textposition="outside",
                                 hovertemplate="%{x}<br>%{y:.4g}<extra>" + name + "</extra>"),
                          1, col)
    fig.update_layout(barmode="group", height=_height(360, talk),
                      margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      legend={"orientation": "h", "y": -0.15})
    fig.update_yaxes(rangemode="tozero", tickformat=".2~g")
    for col in (1, 2):
        top = max(max(s.linear_gain if col == 1 else s.loss_change for s in cmp.steps), 1e-9)
        fig.update_yaxes(range=[min(0, min(s.loss_change for s in cmp.steps) * 1.2),
                                top * 1.25], row=1, col=col)
    return _finish(fig, talk)


# --- 3. the ε-ball and PGD's projection ----------------------------------------------------------


def _ball(center: np.ndarray, eps: float, norm: str) -> tuple[np.ndarray, np.ndarray]:
    if norm == "linf":
        sq = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=np.float64)
        pts = center + eps * sq
    else:
        t = np.linspace(0, 2 * np.pi, 200)
        pts = center + eps * np.stack([np.cos(t), np.sin(t)], 1)
    return pts[:, 0], pts[:, 1]


def projection_figure(path: ProjectionPath, grid: DecisionGrid, *,
                      talk: bool = False) -> go.Figure:
    """PGD's walk on a 2-D point: the boundary, the ε-ball, each step before projection (hollow)
    and after (filled), with a dashed line where projection pulled a step back into the ball."""
    fig = go.Figure()
    # The same map and boundary line as every 2-D figure of the playground.
    fig.add_layout_image(decision_map.map_image(grid.xs, grid.ys, grid.prob))
    fig.add_trace(go.Scatter(decision_map.boundary_trace(grid.xs, grid.ys, grid.prob, width=3),
                             name="decision boundary", showlegend=True))
    bx, by = _ball(path.center, path.eps, path.norm)
    ball_name = "L∞ ball (square)" if path.norm == "linf" else "L2 ball (circle)"
    fig.add_trace(go.Scatter(x=bx, y=by, mode="lines", name=f"{ball_name}, ε = {path.eps:.2f}",
                             line={"color": "#111111", "width": 2, "dash": "dash"},
                             hoverinfo="skip"))
    # Projection segments: proposal k -> iterate k + 1, only where the proposal left the ball.
    seg_x: list[float | None] = []
    seg_y: list[float | None] = []
    for k in np.flatnonzero(path.outside):
        p, q = path.proposals[k], path.iterates[k + 1]
        seg_x += [float(p[0]), float(q[0]), None]
        seg_y += [float(p[1]), float(q[1]), None]
    fig.add_trace(go.Scatter(x=seg_x, y=seg_y, mode="lines", name="projection back",
                             line={"color": FLIP_COLOR, "width": 2, "dash": "dot"},
                             hoverinfo="skip"))
    # The walk: start, then each step's proposal and its projection.
    walk = [path.start] + [pt for k in range(len(path.proposals))
                           for pt in (path.proposals[k], path.iterates[k + 1])]
    walk_arr = np.array(walk)
    fig.add_trace(go.Scatter(x=walk_arr[:, 0], y=walk_arr[:, 1], mode="lines",
                             line={"color": "#555555", "width": 1}, hoverinfo="skip",
                             showlegend=False))
    n = len(path.proposals)
    fig.add_trace(go.Scatter(
        x=path.proposals[:, 0], y=path.proposals[:, 1], mode="markers",
        name="step before projection",
        marker={"size": 11, "symbol": "circle-open", "color": FLIP_COLOR, "line": {"width": 2}},
        text=[f"step {k + 1}: proposal{' (outside)' if path.outside[k] else ''}"
              for k in range(n)],
        hovertemplate="%{text}<br>(%{x:.3f}, %{y:.3f})<extra></extra>"))
    colors = [CLASS_COLORS[int(c)] for c in path.predictions[1:]]
    fig.add_trace(go.Scatter(
        x=path.iterates[1:, 0], y=path.iterates[1:, 1], mode="markers",
        name="iterate (after projection)",
        marker={"size": 11, "color": colors, "line": {"width": 1, "color": "#111111"}},
        text=[f"iterate {k + 1}: class {int(c)}" for k, c in enumerate(path.predictions[1:])],
        hovertemplate="%{text}<br>(%{x:.3f}, %{y:.3f})<extra></extra>"))
    fig.add_trace(go.Scatter(x=[path.start[0]], y=[path.start[1]], mode="markers",
                             name="random start",
                             marker={"size": 12, "symbol": "diamond", "color": "#7f7f7f"}))
    fig.add_trace(go.Scatter(
        x=[path.center[0]], y=[path.center[1]], mode="markers", name=f"x (class {path.label})",
        marker={"size": 16, "symbol": "star", "color": CLASS_COLORS[path.label],
                "line": {"width": 1.5, "color": "#111111"}}))
    g = path.gradient / max(float(np.linalg.norm(path.gradient)), 1e-12) * path.eps
    head = path.center + g
    fig.add_annotation(x=head[0], y=head[1], ax=path.center[0], ay=path.center[1], xref="x",
                       yref="y", axref="x", ayref="y", showarrow=True, arrowhead=3,
                       arrowwidth=3, arrowcolor="#111111", text="")
    fig.add_annotation(x=head[0], y=head[1], xref="x", yref="y", showarrow=False,
                       text="<b>∇ₓL</b>", yshift=16, bgcolor="rgba(255,255,255,0.7)",
                       font={"size": 18 if talk else 14})
    fig.update_xaxes(range=[float(grid.xs[0]), float(grid.xs[-1])], title_text="feature 1",
                     constrain="domain")
    fig.update_yaxes(range=[float(grid.ys[0]), float(grid.ys[-1])], title_text="feature 2",
                     scaleanchor="x", scaleratio=1, constrain="domain")
    fig.update_layout(height=_height(640, talk), margin={"l": 10, "r": 10, "t": 20, "b": 10},
                      legend={"orientation": "h", "y": -0.14, "x": 0})
    return _finish(fig, talk)


# --- 4. linearity -----------------------------------------------------------------------------


def linearity_figure(lin: Linearity, eps: float, *, talk: bool = False) -> go.Figure:
    """How far the margin z_y − z_other falls along −ε·sign(w): measured, predicted ε‖w‖₁, and
    measured with the image clipped to [0, 1]; the prediction flips where the fall passes the
    margin."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=lin.epsilons, y=lin.predicted, mode="lines",
                             name="predicted: ε·‖w‖₁",
                             line={"color": PREDICTED_COLOR, "width": 6}))
    fig.add_trace(go.Scatter(x=lin.epsilons, y=lin.measured, mode="markers",
                             name="measured (no clipping)",
                             marker={"color": MEASURED_COLOR, "size": 9}))
    fig.add_trace(go.Scatter(x=lin.epsilons, y=lin.measured_clipped, mode="lines+markers",
                             name="measured, clipped to [0, 1]",
                             line={"color": CLIPPED_COLOR, "width": 2, "dash": "dash"},
                             marker={"size": 6}))
    fig.add_hline(y=lin.margin, line={"color": FLIP_COLOR, "width": 2, "dash": "dot"},
                  annotation_text=f"margin {lin.margin:.2f}: the prediction flips above",
                  annotation_position="bottom right")
    fig.add_vline(x=eps, line={"color": "#555555", "width": 1},
                  annotation_text=f"ε = {eps:.3f}", annotation_position="bottom right")
    fig.update_xaxes(title_text="ε (per pixel, [0, 1] scale)")
    fig.update_yaxes(title_text=f"fall of z_{lin.label} − z_{lin.other} (logits)")
    fig.update_layout(height=_height(400, talk), margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      legend={"x": 0.01, "y": 0.99, "bgcolor": "rgba(255,255,255,0.8)"})
    return _finish(fig, talk)


def dimension_figure(lin: Linearity, eps: float, *, talk: bool = False) -> go.Figure:
    """|w| per pixel, and ε times ‖w‖₁ summed over the first n pixels: each pixel moves by only
    ε, yet the logit's change adds up over all 784 of them."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.35, 0.65], horizontal_spacing=0.1,
                        subplot_titles=[f"|w| = |w_{lin.label} − w_{lin.other}| per pixel",
                                        "ε·‖w‖₁ over the first n pixels"])
    fig.add_trace(_heatmap(lin.abs_w, colorscale=INK, zmin=0, zmax=float(lin.abs_w.max()),
                           hover="row %{y}, col %{x}<br>|w| = %{z:.3f}"), 1, 1)
    n = np.arange(1, len(lin.cumulative) + 1)
    fig.add_trace(go.Scatter(x=n, y=eps * lin.cumulative, mode="lines", name="ε·Σ|wᵢ|",
                             line={"color": MEASURED_COLOR, "width": 3}), 1, 2)
    fig.add_trace(go.Scatter(x=n, y=eps * lin.mean_abs_w * n, mode="lines",
                             name=f"ε·n·mean|w| (mean |w| = {lin.mean_abs_w:.3f})",
                             line={"color": PREDICTED_COLOR, "width": 2, "dash": "dash"}), 1, 2)
    fig.add_trace(go.Scatter(x=[1, len(n)], y=[lin.margin, lin.margin], mode="lines",
                             name=f"margin {lin.margin:.2f}",
                             line={"color": FLIP_COLOR, "width": 2, "dash": "dot"}), 1, 2)
    fig.update_xaxes(title_text="pixels counted, n (random order)", row=1, col=2)
    fig.update_yaxes(title_text="logits", row=1, col=2)
    fig.update_layout(height=_height(340, talk), margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      legend={"orientation": "h", "y": -0.25})
    _digit_axes(fig, 1)
    return _finish(fig, talk)


# --- the mistakes --------------------------------------------------------------------------------


def train_mode_figure(demo: TrainModeDemo, *, talk: bool = False) -> go.Figure:
    """The logits of one digit: once in eval mode, and in repeated training-mode calls (logits,
    not probabilities: a confident softmax hides how much they move)."""
    fig = go.Figure()
    fig.add_trace(go.Bar(x=CLASSES, y=demo.eval_logits, name="eval mode",
                         marker_color=MEASURED_COLOR))
    shades = ("#fdae6b", "#e6550d", "#a63603", "#7f2704")
    for i, logits in enumerate(demo.train_logits):
        fig.add_trace(go.Bar(x=CLASSES, y=logits, name=f"training mode, call {i + 1}",
                             marker_color=shades[i % len(shades)]))
    fig.update_layout(barmode="group", height=_height(320, talk),
                      margin={"l": 10, "r": 10, "t": 20, "b": 10},
                      legend={"orientation": "h", "y": -0.25})
    fig.update_xaxes(title_text="class", type="category")
    fig.update_yaxes(title_text="logit")
    return _finish(fig, talk)


def clip_figure(demo: ClipDemo, *, talk: bool = False) -> go.Figure:
    """The raw digit, the normalised one (values beyond [0, 1]), and normalised-then-clipped."""
    lo, hi = float(demo.normalised.min()), float(demo.normalised.max())
    fig = _images([
        f"raw [0, 1] (model says {demo.predictions[0]})",
        f"normalised: [{lo:.2f}, {hi:.2f}]",
        f"then clipped to [0, 1] (model says {demo.predictions[2]})",
    ], talk, base=290)
    fig.add_trace(_heatmap(demo.raw, colorscale=INK, zmin=0, zmax=1,
                           hover="pixel %{z:.3f}"), 1, 1)
    fig.add_trace(_heatmap(demo.normalised, colorscale=INK, zmin=lo, zmax=hi,
                           hover="value %{z:.3f}"), 1, 2)
    fig.add_trace(_heatmap(demo.clipped, colorscale=INK, zmin=0, zmax=1,
                           hover="pixel %{z:.3f}"), 1, 3)
    return _finish(fig, talk, 3)


def softmax_figure(demo: SoftmaxDemo, n_classes: int = 10, *, talk: bool = False) -> go.Figure:
    """The loss each version of FGSM sees as ε grows: logits (unbounded) versus probabilities fed
    as logits (trapped in a narrow band), with the true probability of the label underneath."""
    low = float(np.log1p((n_classes - 1) / np.e))
    high = float(np.log(np.e + n_classes - 1))
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=[
        "the loss the attack sees", "model's probability of the true class"])
    fig.add_hrect(y0=low, y1=high, fillcolor="#fdd0a2", opacity=0.5, line_width=0, row=1, col=1)
    fig.add_trace(go.Scatter(x=demo.epsilons, y=demo.loss_right, mode="lines+markers",
                             name="cross-entropy on logits (right)",
                             line={"color": MEASURED_COLOR, "width": 3}), 1, 1)
    fig.add_trace(go.Scatter(x=demo.epsilons, y=demo.loss_wrong, mode="lines+markers",
                             name=f"on softmax outputs (wrong): stuck in [{low:.2f}, {high:.2f}]",
                             line={"color": FLIP_COLOR, "width": 3, "dash": "dash"}), 1, 1)
    fig.add_trace(go.Scatter(x=demo.epsilons, y=demo.true_prob_right, mode="lines+markers",
                             line={"color": MEASURED_COLOR, "width": 3}, showlegend=False), 1, 2)
    fig.add_trace(go.Scatter(x=demo.epsilons, y=demo.true_prob_wrong, mode="lines+markers",
                             line={"color": FLIP_COLOR, "width": 3, "dash": "dash"},
                             showlegend=False), 1, 2)
    fig.update_xaxes(title_text="ε")
    fig.update_yaxes(range=[0, 1.05], row=1, col=2)
    fig.update_layout(height=_height(340, talk), margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      legend={"orientation": "h", "y": -0.3})
    return _finish(fig, talk)


def eps_units_figure(demo: EpsUnitsDemo, *, talk: bool = False) -> go.Figure:
    """The clean digit beside its FGSM versions at each ε, with ε in both units and the model's
    answer: 8/255 and 0.3 are both called "ε" and are ten times apart."""
    titles = [f"clean (a {demo.label})"] + [
        f"ε = {e:.3f} = {e * 255:.3g}/255 → {p}"
        for e, p in zip(demo.epsilons, demo.predictions, strict=True)
    ]
    fig = _images(titles, talk, base=290)
    fig.add_trace(_heatmap(demo.clean, colorscale=INK, zmin=0, zmax=1,
                           hover="pixel %{z:.3f}"), 1, 1)
    for i, image in enumerate(demo.images):
        fig.add_trace(_heatmap(image, colorscale=INK, zmin=0, zmax=1,
                               hover="pixel %{z:.3f}"), 1, i + 2)
    return _finish(fig, talk, len(titles))
