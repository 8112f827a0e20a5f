"""Home: what this is, a live hero figure, one card per page, and the prepared scenes."""

from __future__ import annotations

import streamlit as st

from advcore.attacks import ATTACKS
from advcore.figures import digits as digit_figs
from advcore.scenes import SCENES, get_scene
from pages import ui
from pages.catalog import PAGES

talk = st.query_params.get("talk", "0") == "1"
ui.talk_mode(talk)

st.title("Adversarial Playground")
st.markdown(
    "A small change to an input, one a person barely notices, can make a neural network wrong. "
    "Here you watch it happen, live: points crossing a decision boundary as ε grows, and real "
    "MNIST digits turned into other digits."
)

# --- the hero: a 7 that becomes a 3, computed now by advcore --------------------------------------
hero = get_scene("seven-to-three")
p = hero.params
# Without its weights the hero cannot be computed: say which file is missing, keep the page.
if ui.pretrained_or_warn(p["model"]) is not None:
    digit, label = ui.test_digit(int(p["index"]))
    result = ui.digit_attack(p["model"], p["attack"], float(p["eps"]), int(p["steps"]),
                             int(p["target"]), digit, label)
    pred_clean, pred_adv = int(result.probs_clean.argmax()), int(result.probs_adv.argmax())
    with st.container(key="home.hero"):
        st.html(digit_figs.panels_html(
            result.clean, result.perturbation, result.adversarial,
            pred_clean=pred_clean, conf_clean=float(result.probs_clean[pred_clean]),
            pred_adv=pred_adv, conf_adv=float(result.probs_adv[pred_adv]),
            eps=float(p["eps"]), norm=ATTACKS[p["attack"]].norm, amplify=True, talk=talk,
        ))
    st.caption(
        f"Computed just now on this machine: targeted {ATTACKS[p['attack']].label} with "
        f"ε = {digit_figs.format_eps(float(p['eps']), 'linf')} against `{p['model']}` — "
        f"the network said {pred_clean}, now it says {pred_adv}."
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
