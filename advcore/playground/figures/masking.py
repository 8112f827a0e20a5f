"""Plotly figure for the gradient-masking lab: what the evaluation claims vs the worst case.

`claims_figure` draws one bar per attack of an advcore.playground.masking.MaskingReport (the naive
evaluation in grey, the right tools in red), then the naive claim and the worst case, accuracy
in % on the fixed batch, each bar labelled with its value and the ball it searched.
"""

from __future__ import annotations

import plotly.graph_objects as go

from advcore.playground.figures import FLIP_COLOR, axis_style, layout_style
from advcore.playground.masking import MaskingReport

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
