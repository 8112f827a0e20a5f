"""Plotly figure builders that take plain arrays (no Streamlit): one module per page concept."""

# Colours shared by every figure: class 0 / class 1 on the 2-D pages, and the highlight for a
# flipped prediction. Chosen to stay distinct for colour-blind viewers and on a projector.
CLASS_COLORS = ("#1f77b4", "#ff7f0e")
FLIP_COLOR = "#d62728"
