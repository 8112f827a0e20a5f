"""Talk mode and the audience's QR code: the look a speaker switches on, on every page.

Kept apart from pages.ui (which imports torch and the whole engine) so that the home page can
draw without them.
"""

from __future__ import annotations

import streamlit as st


def scene_url(query: dict[str, str]) -> str:
    """The address of this page with `query`, as the visitor's browser reaches the app."""
    from urllib.parse import urlencode

    base = (st.context.url or "").split("?", 1)[0].split("#", 1)[0]
    return f"{base}?{urlencode(query)}"


@st.dialog("Open this scene on your phone", width="large")
def audience_qr() -> None:
    """The current scene's URL as a large QR code, for the room: people open the same picture on
    their phones. The URL is shown as plain text (st.code interprets nothing) under it."""
    from advcore.playground import export

    url = scene_url({k: st.query_params.get(k) for k in st.query_params})
    st.image(export.qr_png(url, scale=10), width=440)
    st.code(url, language=None, wrap_lines=True)
    st.caption("The address must be one the audience can reach: serve the app on the room's "
               "network (see the README's section on serving an audience), not on localhost.")


# --- talk mode: one switch, the same look on every page ----------------------------------------

TALK_CSS = """<style>
[data-testid='stMainBlockContainer'] {max-width: 100%; padding-top: 4rem; padding-bottom: 2rem;}
[data-testid='stMainBlockContainer'] [data-testid='stMarkdownContainer'] p,
[data-testid='stMainBlockContainer'] li,
[data-testid='stCaptionContainer'] {font-size: 1.35rem; color: #000;}
[data-testid='stMainBlockContainer'] [data-testid='stWidgetLabel'] p {font-size: 1.3rem;
  color: inherit;}
[data-testid='stMainBlockContainer'] [data-testid='stSliderThumbValue'] p,
[data-testid='stMainBlockContainer'] [data-testid='stSliderTickBar'] p {font-size: 1rem;}
[data-testid='stMainBlockContainer'] h1 {font-size: 2.4rem; padding: 0 0 0.4rem 0;}
[data-testid='stMainBlockContainer'] h3 {font-size: 1.7rem;}
[data-testid='stMainBlockContainer'] .katex {font-size: 1.45em;}
[data-testid='stMainBlockContainer'] [data-testid='stTable'] td,
[data-testid='stMainBlockContainer'] [data-testid='stTable'] th {font-size: 1.2rem;}
[data-testid='stMainBlockContainer'] [data-testid='stMetricValue'],
[data-testid='stMainBlockContainer'] [data-testid='stMetricValue'] p {font-size: 2.4rem; color: #000;}
[data-testid='stMainBlockContainer'] [data-testid='stMetricLabel'] p {font-size: 1.2rem;}
</style>"""


def talk_mode(talk: bool) -> None:
    """Presenter mode: large, high-contrast text and the sidebar's controls tucked away.

    The CSS is a constant (never built from user input). The sidebar starts collapsed, so the
    controls stay one click away on the left; `talk=1` in the URL keeps the mode.
    """
    if not talk:
        return
    st.set_page_config(initial_sidebar_state="collapsed")
    st.markdown(TALK_CSS, unsafe_allow_html=True)
    if st.sidebar.button("QR code of this scene", icon=":material/qr_code_2:", key="talk.qr",
                         help="A large QR code of this page's URL, for the room to open the "
                              "same scene on their phones."):
        audience_qr()
