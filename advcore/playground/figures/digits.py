"""Figures for the digits page, built from plain arrays (see advcore.playground.digits for the maths).

Digits are drawn with square, crisp pixels (no smoothing) and black ink on white, so they read
on a projector. Every scale is labelled in the units it is drawn in: ε on the [0, 1] pixel scale
and as n/255 for L∞ attacks, as an L2 radius for the L2 attacks.

The three panels are HTML with the digits as 28×28 PNG images (`panels_html`), not a Plotly
chart: Streamlit re-mounts a Plotly chart whenever its figure changes, which blanks it for a
frame or two (33-67 ms, seen in a screencast) on every ε change, a flicker on a projector. An
HTML block is replaced in place, and the images swap without a blank frame. The probability
bars and the gallery are HTML for the same reason. The race and the fragility bars, which need
animation or an axis, stay Plotly figures.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from advcore.playground.figures import FLIP_COLOR, FONT, INK, SIGNED

BEFORE_COLOR = "#7f7f7f"
AFTER_COLOR = FLIP_COLOR
LABEL_COLOR = "#1f77b4"
TARGET_COLOR = "#ff7f0e"
OTHER_COLOR = "#c7c7c7"


def format_eps(eps: float, norm: str) -> str:
    """ε in words: "0.100 (25.5/255)" for L∞ on [0, 1] pixels, "2.00 (L2)" for an L2 radius."""
    if norm == "linf":
        return f"{eps:.3f} ({eps * 255:.1f}/255)"
    return f"{eps:.2f} (L2)"


def _font(talk: bool) -> dict[str, Any]:
    return {"family": FONT, "size": 18 if talk else 13}


def _digit_axes(fig: go.Figure, n: int) -> None:
    """Square pixels, row 0 at the top, no ticks, for the n heatmap subplots of fig."""
    for i in range(1, n + 1):
        suffix = "" if i == 1 else str(i)
        fig.update_layout({
            f"xaxis{suffix}": {"visible": False, "constrain": "domain",
                               "range": [-0.5, 27.5], "fixedrange": True},
            f"yaxis{suffix}": {"visible": False, "autorange": "reversed",
                               "scaleanchor": f"x{suffix}", "scaleratio": 1,
                               "constrain": "domain", "fixedrange": True},
        })


def _heatmap(z: np.ndarray, *, colorscale: Any, zmin: float, zmax: float, name: str,
             hover: str, **extra: Any) -> dict[str, Any]:
    return {"type": "heatmap", "z": np.asarray(z, dtype=np.float32).round(4), "name": name,
            "colorscale": colorscale, "zmin": zmin, "zmax": zmax, "showscale": False,
            "xgap": 0, "ygap": 0, "hovertemplate": hover + "<extra></extra>", **extra}


def perturbation_scale(perturbation: np.ndarray, *, eps: float, norm: str,
                       amplify: bool) -> tuple[float, str]:
    """The ± range the perturbation panel's colours span, and how to say it.

    Amplified (the default view): ±ε for an L∞ attack, so the strongest possible change is the
    strongest colour; for an L2 attack ε bounds the whole image, not a pixel, so the range is
    ±max|δ|. Not amplified: ±1, the digit's own scale, which shows how faint the change is.
    """
    if not amplify:
        return 1.0, "±1: true scale, the same contrast as the digit"
    peak = float(np.abs(perturbation).max())
    if eps <= 0 or peak == 0:
        # Nothing changed: any colour range would do; say so instead of "amplified ×10⁶".
        return 1 / 255, "±1/255: ε = 0, nothing changed"
    if norm == "linf":
        scale = float(eps)
        gain = f", amplified ×{1 / scale:.0f}" if scale < 1 else ""
        return scale, f"±ε = ±{format_eps(eps, norm)}{gain}"
    return peak, f"±max|δ| = ±{peak:.3f} (L2 attack: ε caps ‖δ‖₂), amplified ×{1 / peak:.0f}"


def colourize(values: np.ndarray, colorscale: Sequence[Sequence[Any]], lo: float,
              hi: float) -> np.ndarray:
    """(H, W) values → (H, W, 3) uint8 RGB through a Plotly-style scale [[t, "#rrggbb"], ...].

    lo maps to the first colour and hi to the last (values outside are clipped), linearly in
    between, as Plotly draws a heatmap with zmin=lo, zmax=hi.
    """
    t = np.clip((np.asarray(values, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)
    stops = np.array([float(stop) for stop, _ in colorscale])
    rgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for _, c in colorscale], float)
    out = np.stack([np.interp(t, stops, rgb[:, k]) for k in range(3)], axis=-1)
    return out.round().astype(np.uint8)


def png_data_url(rgb: np.ndarray) -> str:
    """An (H, W, 3) uint8 image as a `data:image/png;base64,...` URL (lossless)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb), mode="RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def ink_of(rgb: np.ndarray) -> np.ndarray:
    """The ink values in [0, 1] back from a digit drawn with INK (inverse of `colourize`).

    8-bit colour rounds them: the result is within 1/476 of what was drawn.
    """
    white, black = 255.0, float(int(INK[1][1][1:3], 16))
    return ((white - np.asarray(rgb, dtype=np.float64)[..., 0]) / (white - black)).clip(0, 1)


def perturbation_summary(perturbation: np.ndarray, *, eps: float, norm: str) -> str:
    """How the change is spread over the 784 pixels, in words.

    L∞: how many pixels moved by the full +ε or −ε (FGSM moves every pixel it can by exactly
    ε, in the direction of the gradient's sign) and how many by less (clipped at 0 or 1, or not
    moved). L2: the length of the change and its largest single pixel.
    """
    delta = np.asarray(perturbation, dtype=np.float64)
    if eps <= 0 or not np.any(delta):
        return "No pixel changed."
    if norm == "linf":
        tol = 1e-6 + 1e-4 * eps
        up = int((np.abs(delta - eps) <= tol).sum())
        down = int((np.abs(delta + eps) <= tol).sum())
        return (f"+ε on {up} pixels (ink added), −ε on {down} (ink removed), less than ε on "
                f"{delta.size - up - down}.")
    return (f"‖δ‖₂ = {np.linalg.norm(delta):.2f} over {delta.size} pixels; the largest single "
            f"change is {np.abs(delta).max():.3f}.")


def _gradient_css(colorscale: Sequence[Sequence[Any]]) -> str:
    return "linear-gradient(to right, " + ", ".join(
        f"{c} {100 * float(t):g}%" for t, c in colorscale) + ")"


def panels_html(
    clean: np.ndarray,
    perturbation: np.ndarray,
    adversarial: np.ndarray,
    *,
    pred_clean: int,
    conf_clean: float,
    pred_adv: int,
    conf_adv: float,
    eps: float,
    norm: str,
    amplify: bool = True,
    talk: bool = False,
) -> str:
    """Original | perturbation | adversarial: three equal squares side by side, as HTML.

    clean, adversarial: (28, 28) in [0, 1]; perturbation = adversarial − clean (28, 28).
    pred_*, conf_*: predicted class and its probability in [0, 1]. The perturbation is drawn on
    a diverging colour scale centred at 0 whose range is labelled (see `perturbation_scale`),
    with a colour bar and a sentence on how the change is spread (`perturbation_summary`).
    Each picture is a lossless 28×28 PNG scaled up with crisp pixels; each carries
    `data-panel` ("original", "perturbation", "adversarial") for tests and tools.
    """
    # Only numbers are written into this HTML, each formatted here (int(), float()): nothing a
    # visitor typed can reach it (tests/test_security.py holds the builders to that).
    pred_clean, pred_adv = int(pred_clean), int(pred_adv)
    conf_clean, conf_adv, eps = float(conf_clean), float(conf_adv), float(eps)
    scale, scale_text = perturbation_scale(perturbation, eps=eps, norm=norm, amplify=amplify)
    flipped = pred_adv != pred_clean
    after = f"<span style='color:{FLIP_COLOR}'>{pred_adv}</span>" if flipped else str(pred_adv)
    size = 22 if talk else 15
    small = size - 3
    side = 380 if talk else 300  # px, the largest a panel grows to

    def panel(name: str, title: str, rgb: np.ndarray, alt: str, below: str = "") -> str:
        return (
            f"<div style='flex:1 1 0;min-width:0;max-width:{side}px;text-align:center'>"
            f"<div data-panel-title='{name}' style='font-size:{size}px;color:#222;"
            f"margin-bottom:6px;white-space:nowrap'>{title}</div>"
            f"<img data-panel='{name}' src='{png_data_url(rgb)}' alt='{html.escape(alt)}' "
            f"title='{html.escape(alt)}' style='display:block;width:100%;aspect-ratio:1;"
            f"image-rendering:pixelated;border:1px solid #bbbbbb;box-sizing:border-box'>"
            f"{below}</div>")

    summary = perturbation_summary(perturbation, eps=eps, norm=norm)
    colour_bar = (
        f"<div style='margin:8px auto 0;width:100%'>"
        f"<div style='height:12px;background:{_gradient_css(SIGNED)};"
        f"border:1px solid #bbbbbb'></div>"
        f"<div style='display:flex;justify-content:space-between;font-size:{small}px;"
        f"color:#444'><span>−{scale:.3g}</span><span>0</span><span>+{scale:.3g}</span></div>"
        f"<div style='font-size:{small}px;color:#444'>colour scale "
        f"{html.escape(scale_text).replace(' ×', '&nbsp;×')}"
        f"</div></div>"
        f"<div style='font-size:{small}px;color:#444;margin-top:4px'>{html.escape(summary)}"
        f"</div>")
    panels = [
        panel("original", f"Original → <b>{pred_clean}</b> ({conf_clean:.1%})",
              colourize(clean, INK, 0.0, 1.0),
              f"The original digit: the model says {pred_clean} ({conf_clean:.1%})."),
        panel("perturbation", "Perturbation δ = x′ − x",
              colourize(perturbation, SIGNED, -scale, scale),
              "The change the attack made. Blue: ink removed, red: ink added, white: "
              f"untouched. {summary}", colour_bar),
        panel("adversarial", f"Adversarial → <b>{after}</b> ({conf_adv:.1%})",
              colourize(adversarial, INK, 0.0, 1.0),
              f"The attacked digit x′ = x + δ, clipped to [0, 1]: the model says {pred_adv} "
              f"({conf_adv:.1%})."),
    ]
    return (f"<div data-panels='3' style='display:flex;justify-content:center;gap:4%;"
            f"align-items:flex-start;padding:4px 0 8px'>{''.join(panels)}</div>")


def probabilities_html(
    probs_clean: np.ndarray,
    probs_adv: np.ndarray,
    *,
    label: int | None,
    target: int | None = None,
    talk: bool = False,
) -> str:
    """The 10 class probabilities before (grey) and after (red) the attack, as HTML bars.

    probs_*: (10,) softmax probabilities in [0, 1]; label: the class the attack moves away from,
    target: the class a targeted attack moves towards (each marked under its bars), or None.
    Each bar is as tall as its probability (the plot is 0-100 %) and carries its value; HTML,
    like the panels above it, so an ε change swaps it without a blank frame. Each class column
    carries `data-class` (its digit) for tests and tools.
    """
    size = 20 if talk else 14
    small = size - 2
    height = 200 if talk else 150  # px for 100 %
    label = None if label is None else int(label)  # numbers only (see panels_html)
    target = None if target is None else int(target)

    def bar(p: float, colour: str, when: str, c: int) -> str:
        shown = f"{p:.0%}" if p >= 0.005 else ""
        return (f"<div title='class {c}: {p:.2%} {when}' style='flex:1;display:flex;"
                f"flex-direction:column;justify-content:flex-end;align-items:center;"
                f"height:{height + size + 4}px'>"
                f"<div style='font-size:{small - 2}px;color:#444;line-height:1.2'>{shown}</div>"
                f"<div style='width:100%;height:{max(p, 0.0) * height:.1f}px;"
                f"background:{colour}'></div></div>")

    columns = []
    for c in range(10):
        mark = " (label)" if c == label else " (target)" if c == target else ""
        name = f"<b>{c}</b>{mark}" if mark else str(c)
        columns.append(
            f"<div data-class='{c}' style='flex:1;min-width:0;text-align:center'>"
            f"<div style='display:flex;gap:2px;margin:0 12%;border-bottom:1px solid #999'>"
            f"{bar(float(probs_clean[c]), BEFORE_COLOR, 'before', c)}"
            f"{bar(float(probs_adv[c]), AFTER_COLOR, 'after', c)}</div>"
            f"<div style='font-size:{small}px;color:#222;margin-top:2px;white-space:nowrap'>"
            f"{name}</div></div>")

    def key(colour: str, text: str) -> str:
        return (f"<span style='display:inline-block;width:{small}px;height:{small}px;"
                f"background:{colour};vertical-align:middle;margin:0 4px 0 14px'></span>{text}")

    return (f"<div data-probabilities='10' style='font-size:{size}px;color:#222'>"
            f"<div style='display:flex;justify-content:space-between;align-items:baseline;"
            f"flex-wrap:wrap'><b>Probability of each class, before and after the attack</b>"
            f"<span style='font-size:{small}px'>{key(BEFORE_COLOR, 'before')}"
            f"{key(AFTER_COLOR, 'after')}</span></div>"
            f"<div style='display:flex;margin-top:8px'>{''.join(columns)}</div></div>")


def _race_colors(logits: np.ndarray, label: int, target: int | None) -> list[str]:
    leader = int(np.argmax(logits))
    colors = []
    for c in range(len(logits)):
        if c == leader and c != label:
            colors.append(FLIP_COLOR)
        elif c == label:
            colors.append(LABEL_COLOR)
        elif c == target:
            colors.append(TARGET_COLOR)
        else:
            colors.append(OTHER_COLOR)
    return colors


def logit_race_figure(
    epsilons: np.ndarray,
    images: np.ndarray,
    logits: np.ndarray,
    *,
    label: int,
    target: int | None,
    norm: str,
    talk: bool = False,
    frame_ms: int = 350,
) -> go.Figure:
    """An animation of the digit and its 10 logits as ε grows from 0 to the chosen ε.

    epsilons: (F,); images: (F, 28, 28) in [0, 1]; logits: (F, 10). The label's bar is blue,
    the target's orange, and a class that overtakes the label red. Frames redraw fully
    (`redraw: True`): a heatmap animated without redraw vanishes in the browser.
    """
    classes = [str(c) for c in range(10)]
    lo, hi = float(logits.min()), float(logits.max())
    pad = 0.08 * max(hi - lo, 1e-3)

    def frame_data(k: int) -> list[dict[str, Any]]:
        return [
            _heatmap(images[k], colorscale=INK, zmin=0.0, zmax=1.0, name="digit",
                     hover="row %{y}, column %{x}<br>ink %{z:.3f}", xaxis="x", yaxis="y"),
            {"type": "bar", "orientation": "h", "y": classes, "x": logits[k].round(4),
             "xaxis": "x2", "yaxis": "y2", "name": "logits",
             "marker": {"color": _race_colors(logits[k], label, target)},
             "hovertemplate": "class %{y}: logit %{x:.2f}<extra></extra>"},
        ]

    names = [f"{e:.4g}" for e in epsilons]
    frames = [{"name": names[k], "data": frame_data(k),
               "layout": {"title": {"text": _race_title(epsilons[k], logits[k], norm)}}}
              for k in range(len(epsilons))]
    last = len(epsilons) - 1
    play = {"frame": {"duration": frame_ms, "redraw": True}, "fromcurrent": True,
            "transition": {"duration": 0}, "mode": "immediate"}
    fig = go.Figure(
        data=frame_data(last),
        frames=frames,
        layout={
            "height": 500 if talk else 420,
            "font": _font(talk),
            "title": {"text": _race_title(epsilons[last], logits[last], norm)},
            "xaxis": {"domain": [0.0, 0.3]},
            "xaxis2": {"domain": [0.42, 1.0], "anchor": "y2", "range": [lo - pad, hi + pad],
                       "title": {"text": "logit (the network's score for each class)"},
                       "fixedrange": True, "zeroline": True, "zerolinecolor": "#999999",
                       "gridcolor": "#eeeeee"},
            "yaxis2": {"anchor": "x2", "autorange": "reversed", "fixedrange": True,
                       "type": "category", "ticks": "", "ticklabelstandoff": 6},
            "showlegend": False,
            "plot_bgcolor": "white",
            "margin": {"l": 10, "r": 20, "t": 50, "b": 130},
            "updatemenus": [{
                "type": "buttons", "direction": "left", "x": 0.0, "y": -0.2,
                "xanchor": "left", "yanchor": "top", "showactive": False,
                "buttons": [
                    {"label": "▶ Play", "method": "animate",
                     "args": [None, {**play, "fromcurrent": False}]},
                    {"label": "❚❚ Pause", "method": "animate",
                     "args": [[None], {"frame": {"duration": 0, "redraw": False},
                                       "mode": "immediate", "transition": {"duration": 0}}]},
                ],
            }],
            "sliders": [{
                "active": last, "x": 0.22, "len": 0.78, "y": -0.16, "yanchor": "top",
                # At the slider's right end: at its left (the default) the value sat under the
                # Pause button on a wide page.
                "currentvalue": {"prefix": "ε = ", "font": {"size": 14}, "xanchor": "right"},
                "steps": [{"label": format_eps(e, norm).split(" ")[0], "method": "animate",
                           "args": [[names[k]], {**play, "frame": {"duration": 0,
                                                                   "redraw": True}}]}
                          for k, e in enumerate(epsilons)],
            }],
        },
    )
    fig.add_shape(type="rect", xref="x", yref="y", x0=-0.5, x1=27.5, y0=-0.5, y1=27.5,
                  line={"color": "#bbbbbb", "width": 1})
    _digit_axes(fig, 1)
    return fig


def _race_title(eps: float, logits: np.ndarray, norm: str) -> str:
    return f"ε = {format_eps(float(eps), norm)}: the model says <b>{int(np.argmax(logits))}</b>"


def gallery_html(
    adversarial: np.ndarray,
    indices: Sequence[int],
    labels: np.ndarray,
    pred_clean: np.ndarray,
    pred_adv: np.ndarray,
    *,
    columns: int = 8,
    talk: bool = False,
) -> str:
    """A grid of attacked test digits; a red frame marks each flip (right before, wrong after).

    adversarial: (G, 28, 28) in [0, 1]; indices: (G,) test-set indices; labels, pred_*: (G,)
    classes. Each tile is a lossless 28×28 PNG with crisp pixels, captioned
    "#index label→prediction" (red when the prediction is wrong) and carrying `data-index`.
    """
    size = 18 if talk else 13
    flipped = (pred_clean == labels) & (pred_adv != labels)
    tiles = []
    for k, index in enumerate(indices):
        true, before, after = int(labels[k]), int(pred_clean[k]), int(pred_adv[k])
        frame = f"3px solid {FLIP_COLOR}" if flipped[k] else "1px solid #cccccc"
        hover = f"test digit #{int(index)}: true {true}, clean → {before}, attacked → {after}"
        tiles.append(
            f"<div data-index='{int(index)}' data-flipped='{int(flipped[k])}' "
            f"style='text-align:center;min-width:0'>"
            f"<img src='{png_data_url(colourize(adversarial[k], INK, 0.0, 1.0))}' "
            f"alt='{hover}' title='{hover}' style='display:block;width:100%;aspect-ratio:1;"
            f"image-rendering:pixelated;border:{frame};box-sizing:border-box'>"
            f"<div style='font-size:{size - 1}px;color:{FLIP_COLOR if after != true else '#444'}"
            f";white-space:nowrap'>#{int(index)} {true}→{after}</div></div>")
    return (f"<div data-gallery='{len(tiles)}' style='font-size:{size + 1}px;color:#222'>"
            f"<b>{len(tiles)} test digits after the attack: {int(flipped.sum())} flipped "
            f"(<span style='color:{FLIP_COLOR}'>red frame</span>)</b>"
            f"<div style='display:grid;grid-template-columns:repeat({columns},minmax(0,1fr));"
            f"gap:{12 if talk else 10}px;max-width:{columns * (150 if talk else 110)}px;"
            f"margin-top:8px'>{''.join(tiles)}</div></div>")


def fragility_figure(
    smallest: Mapping[str, float | None],
    *,
    current_eps: float,
    norm: str,
    eps_max: float,
    talk: bool = False,
) -> go.Figure:
    """Horizontal bars: per model, the smallest ε that changes this digit's prediction.

    smallest: model name -> ε (0 = already wrong, inf = not flipped up to eps_max, None = the
    model is unavailable). A dashed line marks the ε chosen on the page.
    """
    names = list(smallest)
    values, texts, colors = [], [], []
    for name in names:
        v = smallest[name]
        if v is None:
            values.append(0.0)
            texts.append("model unavailable")
            colors.append(OTHER_COLOR)
        elif not np.isfinite(v):
            values.append(eps_max)
            texts.append(f"not flipped up to {format_eps(eps_max, norm)}")
            colors.append(LABEL_COLOR)
        elif v == 0:
            values.append(0.0)
            texts.append("already misclassified")
            colors.append(FLIP_COLOR)
        else:
            values.append(float(v))
            texts.append(format_eps(float(v), norm))
            colors.append(FLIP_COLOR if v <= current_eps else BEFORE_COLOR)
    unit = "per-pixel L∞ ε on [0, 1]" if norm == "linf" else "L2 ε over the whole image"
    # Each value beside its bar; "not flipped up to …" inside its bar, which reaches eps_max, on
    # two lines: beside it, in talk mode's larger font, it ran off the figure's right edge.
    labels = [{"x": v, "y": name, "text": t, "xanchor": "left", "xshift": 4,
               "showarrow": False, "bgcolor": "rgba(255,255,255,0.9)"}
              if c != LABEL_COLOR else
              {"x": v, "y": name, "text": t.replace("up to ", "up to<br>"), "xanchor": "right",
               "xshift": -6, "align": "right", "showarrow": False, "font": {"color": "#ffffff"}}
              for v, name, t, c in zip(values, names, texts, colors, strict=True)]
    fig = go.Figure(
        data=[go.Bar(x=values, y=names, orientation="h", marker_color=colors, text=texts,
                     textposition="none", hovertemplate="%{y}: %{text}<extra></extra>")],
        layout={
            "height": 260 if not talk else 340, "font": _font(talk),
            "title": {"text": "How fragile is this digit? Smallest ε that changes the prediction"},
            "xaxis": {"range": [0, eps_max * 1.6], "title": unit, "fixedrange": True,
                      "gridcolor": "#eeeeee"},
            "yaxis": {"autorange": "reversed", "fixedrange": True},
            "margin": {"l": 10, "r": 10, "t": 50, "b": 50},
            "plot_bgcolor": "white",
            "shapes": [{"type": "line", "x0": current_eps, "x1": current_eps, "y0": 0, "y1": 1,
                        "yref": "paper", "layer": "below",
                        "line": {"color": "#333333", "dash": "dash"}}],
            "annotations": [*labels,
                            {"x": current_eps, "y": 1, "yref": "paper", "text": "your ε",
                             "showarrow": False, "yanchor": "bottom", "xanchor": "center"}],
        },
    )
    return fig
