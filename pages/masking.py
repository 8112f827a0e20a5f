"""The gradient-masking lab (/masking): fake defences that fool a naive evaluation, the sanity
check that fires, and the attack that sees through each.

A thin view over advcore.playground.masking (the numbers) and advcore.playground.figures.masking (the bar chart); the
results are cached per fake defence in pages/ui.py. The scene (`MaskingScene`) lives in the URL.
"""

from __future__ import annotations

import streamlit as st

from advcore.playground.figures import masking as figs
from advcore.playground.masking import FAKES
from advcore.playground.state import replace, visitor_text
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
scene = replace(url_scene, defence=defence or url_scene.defence, talk=talk)
ui.write_url(scene)

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
