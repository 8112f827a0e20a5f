"""Plotly figure builders that take plain arrays (no Streamlit): one module per page concept."""

# Colours shared by every figure: class 0 / class 1 on the 2-D pages, and the highlight for a
# flipped prediction. Chosen to stay distinct for colour-blind viewers and on a projector.
CLASS_COLORS = ("#1f77b4", "#ff7f0e")
FLIP_COLOR = "#d62728"

# Digits: 0 = paper (white), 1 = ink (black). Perturbations and gradients: diverging, centred at
# 0 (blue = ink removed, red = ink added; white = untouched).
INK = [[0.0, "#ffffff"], [1.0, "#111111"]]
SIGNED = [[0.0, "#2166ac"], [0.25, "#67a9cf"], [0.5, "#f7f7f7"], [0.75, "#ef8a62"],
          [1.0, "#b2182b"]]
FONT = "Source Sans Pro, Arial, sans-serif"  # Streamlit's own, so figures match the prose

# Talk mode: what reads from the back of a lecture hall on a washed-out projector.
TALK_FONT_SIZE = 22
BASE_FONT_SIZE = 14


def layout_style(talk: bool = False) -> dict:
    """The shared look as Plotly layout keys (fonts, backgrounds), for figures built as dicts."""
    size = TALK_FONT_SIZE if talk else BASE_FONT_SIZE
    return {
        "font": {"size": size, "color": "#000000" if talk else "#222222"},
        "title": {"font": {"size": size + 4}},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
    }


def axis_style(talk: bool = False) -> dict:
    """The shared axis look: talk mode enlarges tick labels and thickens axis lines."""
    size = TALK_FONT_SIZE if talk else BASE_FONT_SIZE
    return {"tickfont": {"size": size - 2}, "linewidth": 2} if talk else {}
