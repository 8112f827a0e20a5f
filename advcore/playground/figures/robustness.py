"""Plotly figures for the robustness lab, built from advcore.playground.robustness's plain results.

- `curves_figure`: accuracy vs ε for the shipped models, FGSM and PGD side by side, with the
  published points overlaid in the colour of the model of ours they compare with; every line
  is figures.curves.line, the builder all accuracy-vs-ε figures share. Its legend is set here.
- `transfer_figure`: the transferability matrix as an annotated heatmap.
- `robust_bars_figure`, `examples_figure`: standard vs adversarially trained CNN on MNIST.
- `training_figures`: a 2-D model's boundary before and after adversarial training, drawn with
  the boundary page's builder.

Every axis says its units: ε on the [0, 1] pixel scale *and* in 0-255 grey levels; accuracy in %.
Goodfellow et al. 2015 report error rates; they are drawn as accuracy = 1 − error, and say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from advcore.playground.figures import FLIP_COLOR, FONT, INK
from advcore.playground.figures.boundary import boundary_figure
from advcore.playground.figures.curves import line
from advcore.playground.robustness import (
    AdversarialTraining,
    Comparison,
    Curve,
    Examples,
    Reference,
    TransferMatrix,
    WorstCase,
    eps_255,
    interval,
    percent,
)

# Okabe-Ito colours: distinct for colour-blind viewers and on a washed-out projector.
MODEL_COLORS = {
    "mnist-linear": "#CC79A7",
    "mnist-cnn": "#0072B2",
    "mnist-cnn-robust": "#009E73",
}
MODEL_LABELS = {
    "mnist-linear": "mnist-linear (softmax regression)",
    "mnist-cnn": "mnist-cnn (standard training)",
    "mnist-cnn-robust": "mnist-cnn-robust (PGD training)",
}
ATTACK_TITLES = {"fgsm": "FGSM (one step)", "pgd": "PGD ({steps} steps, random start)"}
WORST_TITLE = "PGD-{steps} (solid) and the worst case (dashed)"
REFERENCE_SYMBOLS = {
    "Goodfellow et al. 2015": "diamond-open",
    "Madry et al. 2018": "star",
    "Croce & Hein 2020": "star-open",
    "PyTorch FGSM tutorial": "x-thin-open",
}
WRONG = FLIP_COLOR
RIGHT = "#1a7f37"


def _font(talk: bool) -> dict[str, Any]:
    return {"family": FONT, "size": 20 if talk else 14, "color": "#000000" if talk else "#222222"}


def _finish(fig: go.Figure, *, talk: bool, height: int) -> go.Figure:
    """The lab's shared look: white paper, readable fonts, larger in talk mode."""
    fig.update_layout(
        font=_font(talk), height=int(height * (1.2 if talk else 1.0)), paper_bgcolor="#ffffff",
        plot_bgcolor="#ffffff", margin={"l": 70, "r": 20, "t": 60, "b": 60},
        hoverlabel={"font_size": 18 if talk else 13},
    )
    fig.update_annotations(font_size=(20 if talk else 14))
    # Explicit axis fonts: Streamlit's chart theme would otherwise shrink and grey them.
    ink = "#000000" if talk else "#333333"
    tick = {"size": 18 if talk else 13, "color": ink}
    title = {"size": 20 if talk else 14, "color": ink}
    fig.update_xaxes(tickfont=tick, title_font=title)
    fig.update_yaxes(tickfont=tick, title_font=title)
    fig.update_layout(legend_font={"color": ink, "size": 17 if talk else 13},
                      title_font={"size": 22 if talk else 16, "color": ink})
    return fig


def eps_ticks(epsilons: Sequence[float]) -> dict[str, Any]:
    """Tick labels that give ε both ways: "0.1" over "25.5" (grey levels out of 255; the axis
    title says so, which keeps two-line ticks narrow enough for a half-width panel)."""
    return {
        "tickvals": list(epsilons),
        "ticktext": [f"{e:g}<br><span style='font-size:0.85em;color:#555'>{e * 255:.4g}</span>"
                     for e in epsilons],
    }


# --- accuracy vs ε ----------------------------------------------------------------------------


def darker(colour: str, share: float = 0.35) -> str:
    """`colour` (#rrggbb) mixed with `share` black: the same hue family, a shade darker."""
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c * (1 - share)):02x}" for c in rgb)


def curves_figure(
    curves: Sequence[Curve],
    references: Sequence[Reference] = (),
    *,
    compare: Sequence[Curve] = (),
    exact: Sequence[Curve] = (),
    worst: Sequence[WorstCase] = (),
    talk: bool = False,
) -> go.Figure:
    """Accuracy (%) vs ε, FGSM on the left and PGD on the right, one line per model.

    curves: what to draw solid (the cards, or a live recomputation). compare: drawn thin and
    dotted in the same colours (the cards, when `curves` is live), so agreement is visible.
    references: published points, each drawn in the colour of the model of ours it compares with.
    exact: true robust-accuracy curves (robustness.exact_linear_curve), drawn in both panels as
    a dashed step in the model's colour, under the attack curves.
    worst: worst-case points (robustness.WorstCase, the ensemble of advcore.evaluate), drawn in
    the PGD panel as one dashed line per model and source, a shade darker than the model's
    colour, with their 95% intervals as error bars.
    """
    pgd_steps = next((c.steps for c in curves if c.attack == "pgd"), 20)
    titles = (ATTACK_TITLES["fgsm"], (WORST_TITLE if worst else ATTACK_TITLES["pgd"]).format(
        steps=pgd_steps))
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=titles)
    width = 4 if talk else 2.5
    marker = 11 if talk else 7
    for col, attack in enumerate(("fgsm", "pgd"), start=1):
        for c in compare:
            if c.attack == attack:
                fig.add_trace(_curve_trace(c, attack, col, dotted=True, width=width,
                                           marker=marker, short=talk), row=1, col=col)
        for c in curves:
            if c.attack == attack:
                fig.add_trace(_curve_trace(c, attack, col, dotted=False, width=width,
                                           marker=marker, short=talk), row=1, col=col)
        for c in exact:
            fig.add_trace(_exact_trace(c, col, width=width, short=talk), row=1, col=col)
        if attack == "pgd":
            for trace in _worst_traces(worst, width=width, marker=marker, short=talk):
                fig.add_trace(trace, row=1, col=col)
        traces, labels = _reference_traces(references, attack, marker,
                                           also=("worst-case",) if attack == "pgd" else (),
                                           short=talk)
        for trace in traces:
            fig.add_trace(trace, row=1, col=col)
        for label in labels:
            fig.add_annotation(label, row=1, col=col)
    epsilons = sorted({e for c in (*curves, *compare) for e in c.epsilons}
                      | {r.eps for r in references}) or [0.0, 0.1, 0.2, 0.3]
    # Two-line ticks need room: on a projector, label every other ε.
    ticks = epsilons[::2] if talk and len(epsilons) > 5 else epsilons
    fig.update_xaxes(range=[-0.01, max(epsilons) + 0.02], showgrid=True, gridcolor="#e5e5e5",
                     zeroline=False, tickangle=0, **eps_ticks(ticks))
    fig.update_yaxes(range=[-3, 103], ticksuffix="%", showgrid=True, gridcolor="#e5e5e5",
                     zeroline=False, dtick=20)
    fig.update_yaxes(title_text="accuracy on attacked test digits", row=1, col=1)
    fig.add_annotation(text="ε per pixel: on the [0, 1] scale, and below it in grey levels (out of 255)",
                       xref="paper", yref="paper", x=0.5, y=-0.2, yanchor="top",
                       showarrow=False)
    # On a projector the legend goes on top, so that it is on the first screen with the curves,
    # in short names (the model's, the paper's) that keep it to two or three rows: with the
    # long ones it took five and pushed the curves below the first screen.
    legend_y = {"yanchor": "bottom", "y": 1.08} if talk else {"yanchor": "top", "y": -0.3}
    fig.update_layout(
        legend={"orientation": "h", **legend_y, "x": 0, "xanchor": "left",
                "font": {"size": 13}, "tracegroupgap": 0},
        hovermode="closest",
    )
    _finish(fig, talk=talk, height=(520 if worst else 460) if talk else 600)
    fig.update_layout(margin={"b": 110, "t": 118 if worst else 100} if talk else {"b": 170})
    if talk:  # a size under the lab's other legends (_finish): thirteen entries, three rows
        fig.update_layout(legend_font_size=15)
    return fig


def _worst_traces(worst: Sequence[WorstCase], *, width: float, marker: int,
                  short: bool = False) -> list[dict[str, Any]]:
    """One dashed line per (model, source): the worst case at each ε > 0 it was measured
    (at ε = 0 it is only the clean accuracy of those few digits, which the solid line gives on
    all of them)."""
    groups: dict[tuple[str, str], list[WorstCase]] = {}
    for w in worst:
        if w.eps <= 0:
            continue
        groups.setdefault((w.model, w.source), []).append(w)
    traces = []
    for (model, source), points in groups.items():
        points = sorted(points, key=lambda w: w.eps)
        sizes = sorted({w.n for w in points})
        n_text = (f"{sizes[0]:,}" if len(sizes) == 1 else
                  " or ".join(f"{k:,}" for k in sizes))
        colour = darker(MODEL_COLORS.get(model, "#444444"))
        ys = [100 * w.accuracy for w in points]
        cis = [w.ci for w in points]
        where = "model card" if source == "card" else "live"
        traces.append(line(
            [w.eps for w in points], ys, mode="lines+markers",
            # On a projector the legend sits above the panels: short names keep it to few rows
            name=(f"{model}: worst case" if short else
                  f"{MODEL_LABELS.get(model, model)}: worst case ({where}, {n_text} digits)"),
            legendgroup=f"{model}-worst-{source}",
            color=colour, width=width, dash="dash",
            marker={"size": marker + 2, "symbol": "circle-open", "color": colour,
                    "line": {"width": 2, "color": colour}},
            error_y={"type": "data", "symmetric": False, "thickness": 1, "width": 3,
                     "color": colour, "array": [100 * hi - y for (_, hi), y in zip(cis, ys, strict=True)],
                     "arrayminus": [y - 100 * lo for (lo, _), y in zip(cis, ys, strict=True)]},
            customdata=[[eps_255(w.eps), percent(w.accuracy, w.n), interval(w.ci, w.n),
                         f"PGD-{w.pgd_steps} {percent(w.pgd_accuracy, w.n)}", f"{w.n:,}"]
                        for w in points],
            hovertemplate=(f"<b>ours: {model}</b> · worst case ({where}, first "
                           "%{customdata[4]} test digits)<br>ε = %{x:g} (%{customdata[0]})<br>accuracy "
                           "%{customdata[1]} (%{customdata[2]})<br>on the same digits: "
                           "%{customdata[3]}<extra></extra>"),
        ))
    return traces


def _exact_trace(c: Curve, col: int, *, width: float, short: bool = False) -> dict[str, Any]:
    """A true robust-accuracy curve: a step function (it falls where a digit's ε* lies).
    short: the legend's name for a projector."""
    label = MODEL_LABELS.get(c.model, c.model)
    return line(
        list(c.epsilons), [100 * a for a in c.accuracy],
        name=(f"{c.model}: exact" if short else f"{label}: exact (no attack can do better)"),
        legendgroup=f"{c.model}-exact",
        showlegend=col == 1, color=MODEL_COLORS.get(c.model, "#444"), width=width * 0.8,
        dash="dash", step=True,
        hovertemplate=(f"<b>{c.model}: exact</b><br>ε = %{{x:.3f}}<br>true robust accuracy "
                       "%{y:.1f}%<extra></extra>"),
    )


def _curve_trace(c: Curve, attack: str, col: int, *, dotted: bool, width: float,
                 marker: int, short: bool = False) -> dict[str, Any]:
    """One model's accuracy curve; short: the model's own name in the legend (a projector)."""
    label = c.model if short else MODEL_LABELS.get(c.model, c.model)
    what = "FGSM" if attack == "fgsm" else f"PGD-{c.steps}"
    source = "model card" if c.source == "card" else f"live, {c.n:,} digits"
    return line(
        list(c.epsilons), [100 * a for a in c.accuracy],
        mode="lines" if dotted else "lines+markers",
        name=f"{label}: {source}" if dotted else label,
        legendgroup=f"{c.model}-{'cmp' if dotted else 'main'}",
        showlegend=col == 1, color=MODEL_COLORS.get(c.model, "#444"),
        width=width / 2 if dotted else width, dash="dot" if dotted else "solid",
        marker={"size": marker},
        customdata=[eps_255(e) for e in c.epsilons],
        hovertemplate=(f"<b>ours: {c.model}</b> · {what} ({source})<br>ε = %{{x:g}} "
                       "(%{customdata})<br>accuracy %{y:.1f}%<extra></extra>"),
    )


def _reference_traces(references: Sequence[Reference], attack: str, marker: int,
                      also: Sequence[str] = (), short: bool = False,
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One trace per reference group in this panel, in the colour of the model of ours it is
    compared with, and a value label (an annotation on white) for each lone point. `also`:
    further reference attacks drawn in this panel (AutoAttack's point beside PGD's). short:
    the legend names the paper only ("Madry 2018: PGD-trained CNN"; its symbol marks it as a
    published point), for a projector."""
    groups: dict[str, list[Reference]] = {}
    for r in references:
        if r.attack == attack or r.attack in also:
            groups.setdefault(r.group, []).append(r)
    traces, labels = [], []
    for group, refs in groups.items():
        first = refs[0]
        many = len(refs) > 1
        colour = MODEL_COLORS.get(first.ours, "#000")
        note = " (1 − error)" if "error" in first.reported else ""
        traces.append(line(
            [r.eps for r in refs], [100 * r.accuracy for r in refs],
            mode="lines+markers" if many else "markers",
            name=group if short else f"paper · {group}{note}",
            legendgroup=f"ref-{group}", showlegend=True, color=colour, width=2, dash="dash",
            marker={"symbol": REFERENCE_SYMBOLS.get(first.source, "circle-open"),
                    "size": marker + 9, "color": colour, "line": {"width": 2.5, "color": colour}},
            customdata=[[r.reported, r.setting, eps_255(r.eps)] for r in refs],
            hovertemplate=(f"<b>paper: {first.source}</b>, {first.model}<br>ε = %{{x:g}} "
                           "(%{customdata[2]})<br>accuracy %{y:.1f}% (reported as "
                           "%{customdata[0]})<br>%{customdata[1]}<extra></extra>"),
        ))
        if not many:
            labels.append({"x": first.eps, "y": 100 * first.accuracy,
                           "text": f"{100 * first.accuracy:.3g}%", "showarrow": False,
                           "xanchor": "right", "xshift": -14, "bgcolor": "rgba(255,255,255,0.85)",
                           # AutoAttack's point sits 0.6 points under Madry's PGD point
                           "yshift": {"worst-case": -14, "pgd": 10}.get(first.attack, 0)
                           if first.eps == 0.3 and first.ours == "mnist-cnn-robust" else 0,
                           "font": {"color": colour}})
    return traces, labels


# --- transferability --------------------------------------------------------------------------


def transfer_figure(matrix: TransferMatrix, *, talk: bool = False) -> go.Figure:
    """Rows: the model the adversarial digits were crafted on; columns: the model evaluated.

    Cell text is accuracy in %; the diagonal (white-box) is outlined. A first row gives each
    model's clean accuracy on the same digits, for scale.
    """
    rows = ["no attack (clean)", *(f"crafted on <b>{s}</b>" for s in matrix.sources)]
    z = np.vstack([matrix.clean[None, :], matrix.accuracy]) * 100
    text = [[f"{v:.1f}%" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(
        z=z, x=list(matrix.targets), y=rows, text=text, texttemplate="%{text}",
        textfont={"size": 26 if talk else 18},
        # Red where the attack works (low accuracy), paper-white where the model holds.
        colorscale=[[0.0, "#b2182b"], [0.5, "#f4a582"], [1.0, "#f7f7f7"]],
        zmin=0, zmax=100, xgap=3, ygap=3,
        colorbar={"title": {"text": "accuracy"}, "ticksuffix": "%"},
        hovertemplate="%{y}, evaluated on %{x}:<br>accuracy %{z:.1f}%<extra></extra>",
    ))
    for i, source in enumerate(matrix.sources):
        if source not in matrix.targets:
            continue
        j = matrix.targets.index(source)
        fig.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i + 0.5, y1=i + 1.5,
                      line={"color": "#000", "width": 3 if talk else 2})
    label = "FGSM" if matrix.attack == "fgsm" else f"PGD-{matrix.steps}"
    fig.update_layout(
        title={"text": f"{label} at ε = {matrix.eps:g} ({eps_255(matrix.eps)}), "
                       f"{matrix.n:,} test digits · outlined: white-box (same model)"},
        xaxis={"side": "top", "showgrid": False, "tickvals": list(matrix.targets),
               "ticktext": [f"evaluated on<br><b>{t}</b>" for t in matrix.targets]},
        yaxis={"autorange": "reversed", "showgrid": False},
    )
    _finish(fig, talk=talk, height=430)
    fig.update_layout(margin={"l": 190 if talk else 150, "t": 120})
    return fig


# --- MNIST: standard vs adversarially trained -------------------------------------------------


def robust_bars_figure(
    values: dict[str, dict[str, float]], *, eps: float, steps: int, talk: bool = False
) -> go.Figure:
    """Grouped bars: clean / FGSM / PGD accuracy (%) at ε for each model.

    values: model -> {"clean", "fgsm", "pgd"} -> fraction.
    """
    groups = ["clean", "fgsm", "pgd"]
    names = {"clean": "no attack", "fgsm": f"FGSM, ε = {eps:g}",
             "pgd": f"PGD-{steps}, ε = {eps:g}"}
    fig = go.Figure()
    for model, acc in values.items():
        ys = [100 * acc[g] for g in groups]
        fig.add_trace(go.Bar(
            x=[names[g] for g in groups], y=ys, name=MODEL_LABELS.get(model, model),
            marker_color=MODEL_COLORS.get(model, "#444"), text=[f"{v:.1f}%" for v in ys],
            textposition="outside", textfont={"size": 22 if talk else 15},
            hovertemplate=f"{model}<br>%{{x}}: %{{y:.1f}}%<extra></extra>",
        ))
    fig.update_layout(
        barmode="group", bargap=0.25,
        title={"text": f"ε = {eps:g} ({eps_255(eps)} grey levels per pixel)"},
        yaxis={"range": [0, 112], "ticksuffix": "%", "title": "accuracy", "dtick": 20,
               "gridcolor": "#e5e5e5"},
        legend={"orientation": "h", "y": -0.15, "x": 0},
    )
    return _finish(fig, talk=talk, height=440)


def examples_figure(ex: Examples, *, eps: float, attack: str, talk: bool = False) -> go.Figure:
    """Rows: the clean digits, then the same digits attacked on each model (white-box).

    Each tile's caption is the model's prediction: green if right, red if wrong.
    """
    models = list(ex.adversarial)
    k = len(ex.labels)
    rows = 1 + len(models)
    captions = []
    for i in range(k):
        captions.append(f"true {ex.labels[i]}")
    for m in models:
        for i in range(k):
            p = int(ex.pred_adv[m][i])
            ok = p == ex.labels[i]
            captions.append(f"<span style='color:{RIGHT if ok else WRONG}'>"
                            f"→ {p} {'✓' if ok else '✗'}</span>")
    fig = make_subplots(rows=rows, cols=k, subplot_titles=captions, horizontal_spacing=0.01,
                        vertical_spacing=0.09)
    images = [ex.clean, *(ex.adversarial[m] for m in models)]
    for r, imgs in enumerate(images, start=1):
        for c in range(k):
            fig.add_trace(go.Heatmap(z=imgs[c][::-1], colorscale=INK, zmin=0, zmax=1,
                                     showscale=False, hoverinfo="skip"), row=r, col=c + 1)
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, scaleanchor="x", scaleratio=1, constrain="domain")
    for r, label in enumerate(["clean", *(f"attacked on<br>{m}" for m in models)], start=1):
        fig.add_annotation(text=f"<b>{label}</b>", xref="paper", yref="paper", x=-0.01,
                           y=1 - (r - 0.5) / rows, xanchor="right", showarrow=False,
                           font={"size": 18 if talk else 13})
    what = "FGSM" if attack == "fgsm" else "PGD"
    fig.update_layout(title={"text": f"{what} at ε = {eps:g} ({eps_255(eps)}): each model "
                                     "attacked with its own gradient"})
    _finish(fig, talk=talk, height=150 * rows + 60)
    fig.update_layout(margin={"l": 150 if talk else 120, "t": 80})
    fig.update_annotations(font_size=16 if talk else 12)
    return fig


# --- 2-D adversarial training -----------------------------------------------------------------


def training_figures(result: AdversarialTraining, *, talk: bool = False) -> list[go.Figure]:
    """Before and after adversarial training, each drawn with the boundary page's own builder
    (advcore.playground.figures.boundary): P(class 1), the 0.5 contour, and the test points animated from
    clean to attacked, flipped ones ringed. Same window for both, so the boundaries compare.
    The page names each panel (ToyOutcome.label) above it: a second title line would be clipped."""
    figures = [boundary_figure(result.X_test, o.grid, o.attacked, talk=talk,
                               height=500 if talk else 620)
               for o in (result.before, result.after)]
    if talk:  # two panels share the width: a title one size smaller still reads, and fits
        for fig in figures:
            fig.update_layout(title_font_size=18)
    return figures


# --- words and tables -------------------------------------------------------------------------


def comparison_table(rows: Sequence[Comparison]) -> list[dict[str, str]]:
    """"Our model vs the paper" as display rows (strings, so the table shows the units)."""
    out = []
    for row in rows:
        r = row.reference
        what = {"fgsm": "FGSM", "pgd": "PGD"}.get(r.attack, "AutoAttack / worst case")
        diff = row.difference
        paper = f"{r.accuracy:.1%}"
        if "error" in r.reported:
            paper += f" (1 − {r.reported})"
        out.append({
            "published": f"{r.source.replace(' et al.', '')}: {r.model}",
            "attack": f"{what} ε {r.eps:g} ({eps_255(r.eps)})",
            "paper's accuracy": paper,
            "ours": (f"{row.ours_model}: —" if row.ours_accuracy is None
                     else f"{row.ours_model}: {row.ours_accuracy:.1%}"),
            "ours − paper": "—" if diff is None else f"{100 * diff:+.1f} pp",
            "ours from": row.ours_setting or "model not available",
        })
    return out


def transfer_summary(m: TransferMatrix) -> str:
    """One sentence per source model: how much its digits hurt the other models, in words."""
    parts = []
    for i, source in enumerate(m.sources):
        others = [(t, m.accuracy[i, j], m.clean[j]) for j, t in enumerate(m.targets)
                  if t != source]
        if not others:
            continue
        worst = min(others, key=lambda o: o[1] - o[2])
        parts.append(f"digits crafted on **{source}** take **{worst[0]}** from "
                     f"{worst[2]:.0%} to {worst[1]:.0%}")
    text = "; ".join(parts)
    return (f"Read a row across: {text}. " if text else "") + (
        "A drop off the diagonal is transfer: the attacker never used that model's gradient.")
