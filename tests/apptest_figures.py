"""The Plotly figures an AppTest run drew, whichever way: st.plotly_chart or pages/chart.py.

pages/chart.py draws a figure with a custom component (components v2); AppTest keeps such an
element as a `bidi_component` whose JSON data carries the figure (`spec`, the same
plotly.io.to_json text st.plotly_chart sends). `figures(at)` returns both kinds in page order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from streamlit.testing.v1 import AppTest

from pages.chart import NAME


@dataclass(frozen=True)
class Figure:
    key: str | None  # the key the page gave the chart
    id: str          # the element id (ends with the key)
    spec: dict[str, Any]  # the figure: data, layout, frames
    kind: str        # "plotly_chart" or "bidi_component"
    preview: dict[str, Any] | None = None  # pages/chart.py's preview sent with it, if any

    def __getitem__(self, name: str) -> Any:
        return self.spec[name]


def figures(at: AppTest) -> list[Figure]:
    found = []
    for node in at._tree:
        kind = getattr(node, "type", None)
        if kind == "plotly_chart":
            found.append(Figure(node.key, node.proto.id, json.loads(node.proto.spec), kind))
        elif kind == "bidi_component" and node.proto.component_name == NAME:
            data = json.loads(node.proto.json or node.proto.mixed.json)
            preview = json.loads(data["preview"]) if data.get("preview") else None
            found.append(Figure(node.key, node.proto.id, json.loads(data["spec"]), kind,
                                preview))
    return found
