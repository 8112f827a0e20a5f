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


def chart(fig: Any, *, key: str, on_select: Literal["rerun"] | None = None,
          selection_mode: str = "points", config: dict[str, Any] | None = None) -> Any:
    """Draw a Plotly figure (a go.Figure or a figure dict) full width, in place across reruns.

    key: the chart's identity (the same key on the next run redraws the same chart); with
    on_select="rerun" a click on a point selects it and reruns (the fragment, inside one), the
    selection in `st.session_state[key]["selection"]`. Returns that state, as st.plotly_chart.
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
    if on_select is None:
        _draw(key=key, data=data, width="stretch", height="content")
        return None
    result = _draw(key=key, data=data, width="stretch", height="content",
                   default={"selection": EMPTY_SELECTION},
                   on_selection_change=lambda: None)
    return {"selection": result.get("selection") or EMPTY_SELECTION}
