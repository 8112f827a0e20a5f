"""The gradient-masking lab (/masking): fake defences that fool a naive evaluation, the sanity
check that fires, and the attack that sees through each.

A thin view over advcore.playground.masking (the numbers) and advcore.playground.figures.masking (the bar chart); the
results are cached per fake defence in pages/ui.py. The scene (`MaskingScene`) lives in the URL.

Below the digits, "In 2-D": a /boundary network behind a fake defence that keeps its boundary,
PGD's paths beside Square's on its decision map, and the exact truth (ui.masking_plane). It is
drawn first, into its own container: it takes a fraction of a second, the digits' report up to
20 s on a fresh server.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from advcore.data import TOY_DATASETS
from advcore.playground.figures import masking as figs
from advcore.playground.masking import FAKES, PLANE_FAKES, PLANE_QUERIES, PlaneReport
from advcore.playground.state import MaskingScene, replace, visitor_text
from pages import ui

LESSONS = {
    "quantized": (
        "A common mistake is to read PGD's failure as robustness. Rounding the input is a "
        "step function: its gradient is zero almost everywhere, so PGD has no direction to "
        "follow and stands still. The rounded network is as easy to fool as before, by an "
        "attack that differentiates through the rounding as if it were the identity (BPDA, "
        "Athalye et al. 2018), or by one that needs no gradient at all (Square)."),
    "saturated": (
        "A common mistake is to attack a model that returns probabilities, not logits. At a "
        "temperature of 1000 the softmax is exactly one-hot in float32: the loss is flat and "
        "its gradient is zero, so FGSM and PGD cannot move. Square, which reads the scores, "
        "sees the same flat landscape. The decisions are the original network's, so an attack "
        "that reads only the predicted label (HopSkipJump) fools it as easily as ever."),
    "noisy": (
        "A common mistake is to attack a random model as if it were fixed. Fresh noise on "
        "every call makes every gradient the gradient of one random draw, so PGD wanders. "
        "The right tool averages the gradient over the draws (Expectation over "
        "Transformation, Athalye et al. 2018): it attacks the model on average, not one draw "
        "of it."),
}



def noise_verdict(pgd: float, eot: float, clean: float) -> str:
    """What this batch's numbers say about the noise: fake, or partly real."""
    if eot <= pgd - 0.05:
        return (f"On this batch EOT-PGD takes PGD-20's {pgd:.0%} down to {eot:.0%}: PGD was "
                "following the noise.")
    return (f"On this batch EOT-PGD gains little over PGD-20 ({eot:.0%} against {pgd:.0%}). "
            "Noise this strong is randomized smoothing (Cohen et al. 2019): part of its "
            f"protection is real, and paid for in clean accuracy ({clean:.0%}). What matters is "
            "the check that fires: a random model needs EOT before any of its numbers means "
            "anything, and one draw per digit is itself a noisy measurement.")


PLANE_LESSONS = {
    "quantized": (
        "A common mistake is to trust an attack that cannot see the gradient. Here the same "
        "kind of 2-D network as on the Decision boundary page rounds both coordinates to a "
        "grid of step 0.01 before it classifies: too fine to move the boundary visibly, but a "
        "step function, whose gradient is zero everywhere. PGD jumps to its random start and "
        "stays there, and a careless evaluation reports that the points are robust. Square "
        "never asks for a gradient: it tries corners of the ε-square, keeps any that lowers "
        "the score, and walks straight across the boundary. The exact answer, computed without "
        "any attack, says who is right."),
    "saturated": (
        "A common mistake is to trust an attack that cannot see the gradient. Here the network "
        "returns softmax(1000 · logits): the same decisions, so exactly the same boundary, but "
        "one-hot scores whose gradient is exactly zero. PGD jumps to its random start and stays "
        "there. Square needs no gradient, and in 2-D it finds most flips by trying corners of "
        "the ε-square; it misses some, because on one-hot scores nothing improves until the "
        "label flips, so it cannot tell which way to go: an attack that reads only the label "
        "(HopSkipJump) is the right tool for this one. The exact answer says who is right."),
}


def plane_numbers(report: PlaneReport, talk: bool) -> None:
    """What PGD claims, what Square finds and the exact truth, side by side."""
    n, reach = report.n, report.within_count
    within = report.within
    queries = report.square.queries
    found = within & report.square.flipped
    cols = st.columns(3, gap="medium")
    cols[0].metric(f"Accuracy under PGD-{report.pgd.steps}", f"{report.pgd.adversarial_accuracy:.0%}",
                   border=True, help="What a gradient-only evaluation claims: the share of "
                                     "points still classified correctly after PGD.")
    cols[1].metric(f"Accuracy under Square ({PLANE_QUERIES} queries)",
                   f"{report.square.adversarial_accuracy:.0%}", border=True,
                   help="Square reads only the scores and counts its model calls.")
    truth = float((report.correct & ~within).mean())
    cols[2].metric("True robust accuracy (exact)", f"{truth:.0%}",
                   f"{100 * (truth - report.pgd.adversarial_accuracy):+.0f} pp vs PGD's claim",
                   delta_color="off" if truth >= report.pgd.adversarial_accuracy else "normal",
                   border=True, help="The share of points whose exact distance to the "
                                     "boundary exceeds ε: no attack can do better.")
    spent = f" (a median of {int(np.median(queries[found])):,} queries each)" \
        if queries is not None and found.any() else ""
    pgd_found = int((within & report.pgd.flipped).sum())
    st.markdown(
        f"**PGD found an adversarial point within ε = {report.eps:g} for {pgd_found} of the "
        f"{reach} points, yet the true distance to the boundary is at most ε for {reach} of "
        f"the {n} points ({reach / n:.0%}); Square found {int(found.sum())} of them{spent}.**"
        + ("" if talk else
           f" On {report.pgd_stuck.mean():.0%} of the points PGD read an exactly zero gradient "
           "at every one of its steps: it stood where its first step, from a random start, "
           "put it, and fooled a point only where that start happened to lie across."))


def plane_table(report: PlaneReport) -> None:
    """The points within ε of the boundary, nearest first: ε* and each attack's verdict."""
    idx = np.flatnonzero(report.within)
    idx = idx[np.argsort(report.eps_star[idx], kind="stable")]
    queries = report.square.queries
    st.dataframe(
        {"point": idx, "class": report.y[idx], "exact ε*": np.round(report.eps_star[idx], 3),
         "PGD fooled it": report.pgd.flipped[idx],
         "Square fooled it": report.square.flipped[idx],
         "Square's queries": queries[idx] if queries is not None else None},
        hide_index=True, width="stretch", height=260)


def plane_section(url_scene: MaskingScene, talk: bool) -> dict[str, object]:
    """The 2-D demo: controls, figure and numbers. Returns its settings for the scene."""
    st.divider()
    st.header("In 2-D: the boundary PGD cannot see")
    c_data, c_fake, c_eps = st.columns([1, 1.8, 1.2], gap="medium")
    dataset = c_data.selectbox("2-D data", list(ui.MASKING.choices("dataset")), format_func=TOY_DATASETS.get,
                               key=key("dataset"))
    toy_defence = c_fake.segmented_control(
        "Fake defence on the plane", list(PLANE_FAKES), key=key("toy_defence"),
        required=True,
        format_func=lambda name: PLANE_FAKES[name].short if talk else PLANE_FAKES[name].label)
    toy_defence = toy_defence or url_scene.toy_defence
    toy_eps = c_eps.slider("ε (L∞ radius, feature units)", *ui.MASKING.bounds("toy_eps"),
                           step=0.05, key=key("toy_eps"),
                           help="How far each point may move: a square of half-side ε, the "
                                "same for both attacks.")
    if not talk:
        st.markdown(PLANE_LESSONS[toy_defence])
    report = ui.masking_plane(dataset, toy_defence, toy_eps)
    st.plotly_chart(figs.plane_figure(report, talk=talk), width="stretch",
                    key=key("plane_fig"))
    plane_numbers(report, talk)
    if not talk:
        st.caption(
            f"{report.n} points of the Decision boundary page's default scene, its network "
            "(two hidden layers of 32) trained on them; the black line is the network's own "
            "boundary, which the fake defence keeps (the rounding moves it by at most half a "
            "step, 0.005). Paths are drawn for the points within ε of it: grey PGD-20 (random "
            f"start, then 20 steps), red Square ({PLANE_QUERIES} queries per point), an x where "
            "the attack fooled the point, a ring where it did not. Square's L∞ search moves between "
            "the corners of the ε-square, one coordinate at a time, and keeps a move only when "
            "the score falls: it misses a boundary that dips in between the corners, or one "
            "that lies behind a corner scoring no better. The exact distance ε* "
            "is computed without attacking: from the network's boundary (saturated softmax) or "
            "from every rounding cell around each point (quantization).")
        with st.expander("Every point within ε of the boundary"):
            plane_table(report)
    return {"dataset": dataset, "toy_defence": toy_defence, "toy_eps": float(toy_eps)}


# --- the scene: URL -> widgets (first run of a session) -> scene -> URL --------------------------

key = ui.MASKING.key
url_scene = ui.MASKING.from_url()
ui.MASKING.seed(url_scene)
with st.sidebar:
    talk = st.toggle("Talk mode (bigger text for a projector)", key=key("talk"),
                     help="Large fonts and the explanations shortened. Kept in the URL as "
                          "talk=1.")
ui.talk_mode(talk)

st.title("Masking lab")
st.info("**These are teaching objects, not defences.**" + ("" if talk else
        " Each wraps the same standard network (mnist-cnn) in something that makes gradient "
        "attacks fail without making the network any harder to fool."), icon=":material/school:")
if not talk:
    st.markdown(
        "A weak evaluation can make a model look robust when it only hides its gradient "
        "(*gradient masking*). Pick a fake defence: on the left what FGSM and PGD claim, in "
        "the middle the sanity checks of a worst-case evaluation that catch it, on the right "
        "the attack that sees through it.")

defence = st.segmented_control(
    "Fake defence", list(FAKES), key=key("defence"), required=True,
    format_func=lambda name: FAKES[name].label)

# The 2-D demo is drawn first into its own place below the digits: it takes a fraction of a
# second, the digits' report up to 20 s on a fresh server, and the visitor reads it meanwhile.
digits_box = st.container()
plane_box = st.container()
with plane_box:
    plane = plane_section(url_scene, talk)
scene = replace(url_scene, defence=defence or url_scene.defence, talk=talk, **plane)
ui.write_url(scene)

with digits_box:
    fake = FAKES[scene.defence]
    ui.pretrained_or_stop("mnist-cnn")
    report = ui.masking_report(scene.defence)
    naive = [m for m in report.measurements if m.naive]
    right = [m for m in report.measurements if not m.naive]

    figure = figs.claims_figure(report, talk=talk)
    if talk:  # the headline first, on the projector's first screen
        st.plotly_chart(figure, width="stretch", key=key("fig"))
        st.markdown(f"**{fake.label}** {fake.masks}.")
    else:
        st.markdown(LESSONS[scene.defence])
        if scene.defence == "noisy":
            st.markdown(noise_verdict(naive[-1].accuracy, right[0].accuracy, report.clean.mean()))

    claims, checks, tools = st.columns([1, 1.3, 1], gap="medium")
    with claims:
        st.subheader("What the naive evaluation claims")
        for m in naive:
            st.metric(f"{m.label} · {m.threat}", f"{m.accuracy:.0%}", border=True,
                      help="Accuracy on the attacked digits: the share still classified correctly.")
    with checks:
        st.subheader("The sanity check that fires")
        if report.warnings:
            for message in report.warnings:
                with st.container(border=True):  # the engine's words, shown as plain text
                    st.markdown(f"⚠ {visitor_text(message, limit=len(message))}")
        else:
            st.markdown("No check fired on this batch.")
    with tools:
        st.subheader("How the right tool breaks it")
        for m in right:
            st.metric(f"{m.label} · {m.threat}", f"{m.accuracy:.0%}", border=True)
        st.metric("Worst case (every attack)", f"{report.worst:.0%}",
                  f"{100 * (report.worst - report.claimed):+.0f} pp vs the claim",
                  delta_color="off" if report.worst >= report.claimed else "normal", border=True)

    if not talk:
        st.plotly_chart(figure, width="stretch", key=key("fig"))
        st.caption(
            f"The first {report.n} test digits, clean accuracy {report.clean.mean():.0%}; ε is the "
            f"largest change per pixel on the [0, 1] scale ({fake.eps:g} = {fake.eps * 255:g}/255). "
            "Grey: the naive evaluation; red: the right tools; blue: the claim, a digit counted as "
            "robust when both FGSM and PGD-20 fail on it; the worst case counts it when every "
            "attack shown fails. HopSkipJump measures its change over the whole "
            "image (L2): ε = 4 is under half the L2 length of a 0.3 step on every pixel (8.4). "
            "The sanity checks are advcore.evaluate.robust_accuracy's, run on the naive PGD "
            "evaluation; run it on your own model and they fire as EvaluationWarnings.")
