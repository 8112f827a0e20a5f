"""Home: what this is, a live hero figure, one card per page, and the prepared scenes."""

from __future__ import annotations

import streamlit as st

from advcore.playground import hero as heroes
from advcore.playground.figures import digits as digit_figs
from advcore.playground.scenes import SCENES, get_scene
from pages import talk as talk_look
from pages import warm
from pages.catalog import PAGES

# This page imports nothing that imports torch: the hero comes from its cache file (numpy only)
# once the first start has computed it, and the engine is warmed in the background at the end.
talk = st.query_params.get("talk", "0") == "1"
talk_look.talk_mode(talk)

st.title("Adversarial Playground")
st.markdown(
    "A small change to an input, one a person barely notices, can make a neural network wrong. "
    "Here you watch it happen, live: points crossing a decision boundary as ε grows, and real "
    "MNIST digits turned into other digits."
)

# --- the hero: a 7 that becomes a 3, computed by advcore on this machine -----------------------
hero = get_scene("seven-to-three")
p = hero.params
shown = heroes.cached(p)
if shown is None:  # the first start: compute it (torch) and cache it for the next start
    from pages import ui

    # Without its weights the hero cannot be computed: say which file is missing, keep the page.
    if ui.pretrained_or_warn(p["model"]) is not None:
        with st.spinner("Attacking the digit…"):
            shown, _ = heroes.hero(p)
if shown is not None:
    with st.container(key="home.hero"):
        st.html(digit_figs.panels_html(
            shown.clean, shown.perturbation, shown.adversarial,
            pred_clean=shown.pred_clean, conf_clean=float(shown.probs_clean[shown.pred_clean]),
            pred_adv=shown.pred_adv, conf_adv=float(shown.probs_adv[shown.pred_adv]),
            eps=float(p["eps"]), norm=shown.norm, amplify=True, talk=talk,
        ))
    st.caption(
        f"Computed on this machine by advcore (cached on first start): targeted "
        f"{shown.attack_label} with ε = {digit_figs.format_eps(float(p['eps']), shown.norm)} "
        f"against `{p['model']}` — the network said {shown.pred_clean}, now it says "
        f"{shown.pred_adv}."
    )
st.page_link("pages/digits.py", label="Open this scene", icon=":material/open_in_new:",
             query_params=hero.query(talk=talk))

# --- one card per page ---------------------------------------------------------------------------
st.header("Pages")
for row in range(0, len(PAGES), 2):
    for col, info in zip(st.columns(2), PAGES[row:row + 2], strict=False):
        with col.container(border=True):
            st.page_link(info.path, label=f"**{info.title}**", icon=info.icon)
            st.markdown(info.blurb)

# --- prepared scenes -------------------------------------------------------------------------------
st.header("Prepared scenes")
st.markdown("Each link opens the same picture every time. Add `talk=1` (or use the switch) for "
            "large, high-contrast text on a projector.")
talk_links = st.toggle("Open scenes in talk mode", value=talk, key="home.talk_links")
for scene in SCENES:
    page = next(info for info in PAGES if info.url_path == scene.page)
    with st.container(border=True):
        st.page_link(page.path, label=f"**{scene.title}**", icon=page.icon,
                     query_params=scene.query(talk=talk_links))
        st.caption(f"{scene.blurb}  ·  `{scene.url(talk=talk_links)}`")

# The next page needs torch and the models: load them now, while the speaker reads this one.
warm.start()
