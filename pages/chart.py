"""Plotly figures that update in place: `chart(fig, key=...)` instead of `st.plotly_chart(...)`.

st.plotly_chart puts the figure into its element id, so every new figure (a new ε) mounts a new
chart: the old one is removed, the new one drawn from nothing, and the browser shows a blank
frame in between (a stable `key` does not help when the chart is selectable). This draws the
figure with a Streamlit custom component (components v2, not an iframe: a div in the page) whose
JavaScript (pages/chart.js) calls `Plotly.react` on the same div, so the chart stays and only
what changed is redrawn; a figure that only moves points (an ε step) is drawn as an animation
step plus a relayout of its title and slider, cheaper than react's full redraw. It keeps what the pages use from st.plotly_chart: the Streamlit chart
theme, width="stretch" and the figure's height, the config (modebar hidden), animation frames
with their ▶ Play, and a click selecting a point, reported in `st.session_state[key]` as
`{"selection": {"points": [...], "point_indices": [...], "box": [], "lasso": []}}` like
st.plotly_chart's on_select="rerun".

plotly.js is the installed plotly package's own `package_data/plotly.min.js`, served by
Streamlit's component asset route (/_stcore/bidi-components/<name>/...) and loaded once per
page, never sent with a rerun: nothing is downloaded and nothing 4.8 MB travels per ε.

A chart can also move before the server answers: `preview` sends, beside the figure, what the
figure would become at the neighbouring values of a slider (`quick_diff`: only the keys the quick
path moves). pages/chart.js watches that slider and applies the neighbour's difference the
moment its value changes; the server's figure for that value, when it comes, then finds the
points already where it puts them and only replaces the ▶ Play frames.

`ADVPLAY_CHART=native` draws every chart with st.plotly_chart instead (benchmarks/blank_frames.py
compares the two). AppTest runs the component like any element; `figures(at)`
reads the figures whichever way they were drawn (tests/apptest_figures.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

# pandas before anything draws: Streamlit's component serialiser imports it on first use, and
# plotly, serialising a figure in another session's thread at that moment, finds the half-made
# module in sys.modules ("partially initialized module 'pandas' has no attribute 'Series'").
# Imported here, with this module, the import lock makes every session wait for all of it.
import pandas  # noqa: F401
import plotly
import plotly.io
import streamlit as st
import streamlit.components.v2 as components

NAME = "advplay_chart"
ASSETS = "advplay.plotlyjs"  # a component that only serves plotly.min.js; never mounted
PLOTLY_DIR = Path(plotly.__file__).resolve().parent
EMPTY_SELECTION: dict[str, list] = {"points": [], "point_indices": [], "box": [], "lasso": []}
# What pages/chart.js's quick path redraws without Plotly.react (its MOVING, RESTYLE, RELAYOUT): per
# trace, these keys (an animation step); in the layout, these (a relayout each). Keep in step.
MOVING = frozenset({"x", "y", "customdata", "text", "hovertext"})
RELAYOUT = frozenset({"title", "sliders", "shapes", "annotations"})
# Per trace, restyled rather than animated: a legend entry's name (the missed points' count).
RESTYLE = frozenset({"name"})
PER_TRACE = MOVING | RESTYLE
_ABSENT = object()

_draw = components.component(NAME, js=(Path(__file__).with_name("chart.js")).read_text(),
                             isolate_styles=False)


def native() -> bool:
    """ADVPLAY_CHART=native: every chart through st.plotly_chart (to compare)."""
    return os.environ.get("ADVPLAY_CHART", "").strip().lower() == "native"


def _plotly_url() -> str:
    """Where the browser gets plotly.min.js: the runtime's component asset route for ASSETS,
    registered on first use with the plotly package's package_data as its asset folder."""
    from streamlit.components.v2.manifest_scanner import ComponentConfig, ComponentManifest
    from streamlit.runtime import Runtime

    manager = Runtime.instance().bidi_component_registry
    if manager.get_component_path(ASSETS) is None:
        package, name = ASSETS.split(".")
        manager.register_from_manifest(
            ComponentManifest(name=package, version=plotly.__version__,
                              components=[ComponentConfig(name=name, asset_dir="package_data")]),
            PLOTLY_DIR)
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"{'/' + base if base else ''}/_stcore/bidi-components/{ASSETS}/plotly.min.js"


def quick_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any] | None:
    """What turns figure dict `before` into `after` on pages/chart.js's quick path, or None when
    that path cannot (a trace more or less, a style, the axes: anything but moving keys).

    Returns {"traces": {"<index>": {key: after's value}}, "layout": {key: after's value}}: per
    trace the changed keys among MOVING and RESTYLE, in the layout those among RELAYOUT (a layout key that
    `after` lacks becomes [], which clears it, as the quick path does). Frames are not compared:
    a preview leaves them, and the server's own figure replaces them."""
    data_b, data_a = before.get("data") or [], after.get("data") or []
    if len(data_b) != len(data_a):
        return None
    traces: dict[str, dict[str, Any]] = {}
    for i, (b, a) in enumerate(zip(data_b, data_a, strict=True)):
        update = {}
        for k in b.keys() | a.keys():
            new = a.get(k, _ABSENT)
            if b.get(k, _ABSENT) == new:
                continue
            if k not in PER_TRACE or new is _ABSENT or new is None:
                return None
            update[k] = new
        if update:
            traces[str(i)] = update
    layout_b, layout_a = before.get("layout") or {}, after.get("layout") or {}
    layout: dict[str, Any] = {}
    for k in layout_b.keys() | layout_a.keys():
        new = layout_a.get(k, _ABSENT)
        if layout_b.get(k, _ABSENT) == new:
            continue
        if k not in RELAYOUT or (k == "title" and (new is _ABSENT or new is None)):
            return None
        layout[k] = [] if new is _ABSENT or new is None else new
    return {"traces": traces, "layout": layout}


def apply_diff(fig: dict[str, Any], diff: dict[str, Any]) -> dict[str, Any]:
    """`fig` with `diff` (from quick_diff) applied, as a new dict (frames dropped): what the
    browser shows after a preview. For tests and for anyone checking a diff."""
    data = [dict(t) for t in fig.get("data") or []]
    for i, update in diff["traces"].items():
        data[int(i)].update(update)
    return {"data": data, "layout": {**(fig.get("layout") or {}), **diff["layout"]}}


def neighbours(value: float, step: float, lo: float, hi: float, reach: int = 2) -> list[float]:
    """The slider values `reach` steps either side of `value` within [lo, hi], nearest first,
    rounded off (0.35, not 0.35000000000000003: the value the slider itself sends)."""
    out = []
    for k in range(1, reach + 1):
        for sign in (1, -1):
            v = round(value + sign * k * step, 9)
            if lo - 1e-9 <= v <= hi + 1e-9:
                out.append(v + 0.0)
    return out


def previews(slider: str, value: float,
             figures: dict[float, dict[str, Any] | None], current: dict[str, Any]) -> dict | None:
    """The `preview` argument of chart(): for each neighbouring slider value with a figure, the
    quick difference from `current` (values whose difference is not quick are left out).
    slider: the CSS selector of the st.slider's container (ui.Binding.control_selectors); its
    thumb is the element the browser watches."""
    values = {}
    for v, fig in figures.items():
        diff = None if fig is None else quick_diff(current, fig)
        if diff is not None:
            values[f"{v:g}"] = diff
    if not values:
        return None
    return {"slider": f"{slider} [role=slider], {slider} input[type=range]",
            "value": value, "values": values}


def chart(fig: Any, *, key: str, on_select: Literal["rerun"] | None = None,
          selection_mode: str = "points", config: dict[str, Any] | None = None,
          preview: dict[str, Any] | None = None) -> Any:
    """Draw a Plotly figure (a go.Figure or a figure dict) full width, in place across reruns.

    key: the chart's identity (the same key on the next run redraws the same chart); with
    on_select="rerun" a click on a point selects it and reruns (the fragment, inside one), the
    selection in `st.session_state[key]["selection"]`. Returns that state, as st.plotly_chart.
    preview: what `previews()` returns, or None (st.plotly_chart, with ADVPLAY_CHART=native,
    ignores it).
    """
    if native():
        extra = {} if on_select is None else {"on_select": on_select,
                                              "selection_mode": selection_mode}
        return st.plotly_chart(fig, width="stretch", key=key, config=config or {}, **extra)
    if on_select not in (None, "rerun"):
        raise ValueError(f"on_select must be None or 'rerun', not {on_select!r}")
    if on_select and selection_mode != "points":
        raise ValueError("only selection_mode='points' is supported")
    data = {"spec": plotly.io.to_json(fig, validate=False), "config": config or {},
            "select": selection_mode if on_select else None, "plotly_url": _plotly_url()}
    if preview:
        data["preview"] = plotly.io.json.to_json_plotly(preview)
    if on_select is None:
        _draw(key=key, data=data, width="stretch", height="content")
        return None
    result = _draw(key=key, data=data, width="stretch", height="content",
                   default={"selection": EMPTY_SELECTION},
                   on_selection_change=lambda: None)
    return {"selection": result.get("selection") or EMPTY_SELECTION}
