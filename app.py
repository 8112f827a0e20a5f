"""Adversarial Playground: the entry point. `streamlit run app.py`.

Shared page config and navigation; each page lives in pages/ and is a thin view over advcore.
"""

from __future__ import annotations

import streamlit as st

from pages.catalog import HOME, PAGES

st.set_page_config(
    page_title="Adversarial Playground",
    page_icon="🎯",
    layout="wide",
    initial_sidebar_state="expanded",
)

# The menu, in order. url_path is the address a speaker types: /boundary, /digits, ...
navigation = st.navigation(
    [st.Page(HOME.path, title=HOME.title, icon=HOME.icon, url_path=HOME.url_path, default=True)]
    + [st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path) for p in PAGES]
)
navigation.run()
