"""Adversarial Playground: the entry point. `streamlit run app.py`.

Shared page config and navigation; each page lives in pages/ and is a thin view over advcore.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(
    page_title="Adversarial Playground",
    page_icon="🎯",
    layout="wide",
    initial_sidebar_state="expanded",
)


def home() -> None:
    st.title("Adversarial Playground")
    st.markdown(
        "Watch adversarial examples happen: points slide across a classifier's decision boundary "
        "as ε grows, and a handwritten digit changes class after a change no person can see. "
        "Every picture is computed live by `advcore`, a small PyTorch attack engine you can also "
        "use from a notebook."
    )
    for page in PAGES[1:]:
        st.page_link(page, label=page.title, icon=page.icon)


# The pages, in menu order. url_path is the address a speaker types: /boundary, /digits, ...
PAGES = [
    st.Page(home, title="Home", icon="🏠", url_path="home", default=True),
    st.Page("pages/digits.py", title="Digits", icon="✍️", url_path="digits"),
    st.Page("pages/robustness.py", title="Robustness lab", icon=":material/science:",
            url_path="robustness"),
    st.Page("pages/how-it-works.py", title="How it works", icon=":material/school:",
            url_path="how-it-works"),
]

st.navigation(PAGES).run()
