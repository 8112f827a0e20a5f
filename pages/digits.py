"""The digits page (/digits): a digit, the perturbation, and the adversarial digit side by side.

A thin view: read the widgets into a `DigitsScene`, ask the cached helpers in pages/ui.py (which
call advcore.playground.digits) for results, draw advcore.playground.figures.digits figures. The scene lives in the URL.
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from advcore import preprocess
from advcore.attacks import ATTACKS
from advcore.models import PRETRAINED
from advcore.playground import state
from advcore.playground.digits import (
    FRAGILITY_EPS_MAX,
    FRAGILITY_TOL_BLACK_BOX,
    N_CLASSES,
    DigitAttack,
    Gallery,
    predicted_class,
)
from advcore.playground.figures import digits as figs
from pages import chart, guard, ui

Scene = state.DigitsScene
SOURCES = ("Test set", "Draw", "Upload")
MINIMAL_STEPS = 50  # iterations given to DeepFool and C&W when the visitor switches to them
# The race re-runs the attack once per frame: 11 frames (ε in tenths) when that is cheap (FGSM;
# DeepFool and C&W only cap one perturbation), 6 (ε in fifths) for the iterative L∞ attacks, whose
# cost grows with the frames (one CPU thread: a batch of n digits costs n single digits).
RACE_FRAMES, RACE_FRAMES_ITERATIVE = 11, 6
GALLERY_CHUNK = 4  # gallery digits per cached call
PAINT_PAUSE_S = 0.1  # see the pause after the panels
PROGRESS_EVERY_S = 0.1  # at most ~10 progress updates a second
CHUNK = 25  # test digits per cached chunk: a slider move never waits long for a chunk to end
NO_CHART_BAR = {"displayModeBar": False}
# When a black-box attack stops spending queries, by what it reads of the model.
STOPS = {"scores": "It stops at its first success; a digit it cannot fool spends the whole "
                   "budget.",
         "labels": "It keeps shrinking the change it found until the budget cannot pay for "
                   "another step."}
ss = st.session_state


key = ui.DIGITS.key


# --- the scene: URL -> widgets (first run of a session) -> scene -> URL ---------------------------

url_scene, url_problems = ui.DIGITS.from_url().checked()
for problem in url_problems:
    st.warning(problem, icon="⚠️")

ui.DIGITS.seed(url_scene, ("model", "attack", "steps", "queries", "index", "target", "talk"))
ss.setdefault(key("index", "source"), SOURCES[0])
ss.setdefault(key("index", "class"), "any")


def step_digit(direction: int) -> None:
    """Move the index to the previous/next test digit of the chosen class (wrapping)."""
    labels = ui.test_labels()
    klass = ss[key("index", "class")]
    pool = np.arange(len(labels)) if klass == "any" else np.flatnonzero(labels == int(klass))
    here = int(ss[key("index")])
    later = pool[pool > here] if direction > 0 else pool[pool < here][::-1]
    ss[key("index")] = int(later[0] if len(later) else (pool[0] if direction > 0 else pool[-1]))


def class_changed() -> None:
    """Picking a class shows a digit of that class straight away (the next one from here)."""
    klass = ss[key("index", "class")]
    if klass != "any" and int(ui.test_labels()[int(ss[key("index")])]) != int(klass):
        step_digit(1)


def attack_changed() -> None:
    """A minimal attack (DeepFool, C&W) stops when it succeeds, and on a CNN with pixels clipped
    to [0, 1] it often needs more than 10 iterations: give it room when the visitor picks it.
    (HopSkipJump is minimal too, but takes a query budget, not steps: it gets room too.)"""
    spec = ATTACKS[ss[key("attack")]]
    if spec.minimal and not spec.black_box and ss[key("steps")] < MINIMAL_STEPS:
        ss[key("steps")] = MINIMAL_STEPS
    # HopSkipJump spends its first queries finding the boundary; its walk is computed once
    # per digit whatever ε, so a larger budget costs nothing per ε change.
    if spec.name == "hsja" and ss[key("queries")] < state.HSJA_QUERIES:
        ss[key("queries")] = state.HSJA_QUERIES


def random_digit() -> None:
    """Jump to a random test digit of the chosen class. The draw is seeded by where we are, so
    the walk is reproducible; the digit it lands on goes into the URL like any other."""
    labels = ui.test_labels()
    klass = ss[key("index", "class")]
    pool = np.arange(len(labels)) if klass == "any" else np.flatnonzero(labels == int(klass))
    rng = np.random.default_rng([int(ss[key("index")]), 11 if klass == "any" else int(klass)])
    ss[key("index")] = int(rng.choice(pool))


with st.sidebar:
    st.header("Attack settings")
    model_name = st.selectbox(
        "Model", PRETRAINED, key=key("model"),
        help="mnist-cnn-robust was trained on PGD adversarial examples (Madry et al. 2018).",
    )
    # The name alone fits the narrow sidebar box; what the model is goes underneath.
    st.caption(PRETRAINED[model_name])
    # Every attack defined for a 10-class model (APGD-DLR needs at least 3 classes).
    attack = st.selectbox(
        "Attack", [a for a in state.DIGIT_ATTACKS if ATTACKS[a].min_classes <= N_CLASSES],
        key=key("attack"), on_change=attack_changed, format_func=lambda a: ATTACKS[a].label,
        help="Square and HopSkipJump are black-box: they never read a gradient, only the "
             "model's scores (Square) or its predicted label (HopSkipJump), and count every "
             "query.",
    )
    spec = ATTACKS[attack]
    # One ε slider per norm (an L∞ ε of 0.1 and an L2 ε of 2 mean different things); the
    # sliders themselves sit beside the panels, in the fragment below.
    eps_key = key("eps", spec.norm)
    if eps_key not in ss:
        ss[eps_key] = (url_scene.eps if url_scene.norm == spec.norm
                       else Scene.EPS_RANGES[spec.norm][3])
    target_choice = st.selectbox(
        "Target class", ("none", *map(str, range(10))), key=key("target"),
        format_func=lambda t: "none (any wrong class will do)" if t == "none" else t,
        disabled=not spec.targeted,
        help="A targeted attack pushes the digit towards this class.",
    )
    if not spec.targeted:
        st.caption(f"{spec.label} has no targeted mode.")
    amplify = st.toggle("Amplify the perturbation (stretch its colours to ±ε)", value=True,
                        key=key("amplify"),
                        help="Off: the perturbation is drawn at the digit's own scale (±1), "
                             "which shows how faint it really is.")
    talk = st.toggle("Talk mode (bigger text for a projector)", key=key("talk"))
    st.caption(f"{spec.label}: {spec.paper}")
ui.talk_mode(talk)

st.title("Digits: a small change, a different answer")
if not talk:
    st.markdown(
        "Pick a handwritten digit, then let an attack nudge its pixels. Each pixel moves by at "
        "most **ε**; the network's answer changes while a person still reads the same digit.")

# --- 1. the digit --------------------------------------------------------------------------------
# In talk mode the chooser is tucked into the collapsed sidebar with the other settings: the
# projector shows ε, the panels and the bars.

chooser = st.sidebar if talk else st.container()
with chooser:
    if talk:
        st.header("Digit")
    source = st.segmented_control("Digit", SOURCES, key=key("index", "source"), required=True)
    choose, preview = (st.container(), st.container()) if talk else st.columns([3, 1])
label_known = True
label: int | None = None  # the class the attack moves away from, once there is a digit
digit: np.ndarray | None = None
with choose:
    if source == "Test set":
        if talk:  # the sidebar is narrow: the inputs on one row, the buttons on the next
            cols = [*st.columns(2, vertical_alignment="bottom"),
                    *st.columns(3, vertical_alignment="bottom")]
        else:
            cols = st.columns([1.6, 1.6, 1.4, 1.4, 1.4], vertical_alignment="bottom")
        lo, hi = ui.DIGITS.bounds("index")
        cols[0].number_input(f"Test digit # ({lo}-{hi})", lo, hi, step=1, key=key("index"))
        cols[1].selectbox("Class", ("any", *map(str, range(10))), key=key("index", "class"),
                          on_change=class_changed,
                          help="Previous / next / random stay within this class.")
        cols[2].button("Prev" if talk else "Previous", icon=":material/chevron_left:",
                       on_click=step_digit, args=(-1,), help="Previous digit of the class",
                       width="stretch")
        cols[3].button("Next", icon=":material/chevron_right:", on_click=step_digit,
                       args=(1,), help="Next digit of the class", width="stretch")
        cols[4].button("Random", icon=":material/casino:", on_click=random_digit,
                       help="A random digit of the class", width="stretch")
        digit, label = ui.test_digit(int(ss[key("index")]))
        st.caption(f"Test digit #{ss[key('index')]}: true class **{label}**.")
    elif source == "Draw":
        from streamlit_drawable_canvas import st_canvas  # only importable inside a Streamlit run

        st.caption("Draw one digit, large, in the middle. It is cropped, scaled to 20 px and "
                   "centred by mass in 28×28, as MNIST was.")
        canvas = st_canvas(stroke_width=20, stroke_color="#000000", background_color="#FFFFFF",
                           height=280, width=280, drawing_mode="freedraw",
                           return_image_data=True, key=key("index", "canvas"))
        try:
            # The data URL as the browser sent it: checked (PNG only, size, dimensions) before
            # anything decodes it, never through the component's decode-anything image_data.
            digit = preprocess.digit_from_canvas_url(guard.canvas_data_url(canvas))
        except preprocess.EmptyCanvasError as exc:
            st.info(str(exc), icon=":material/edit:")
        except ValueError as exc:  # a DigitImageError: its message is for the visitor
            st.error(str(exc))
    else:
        # The digit is all the page keeps of an upload: the file leaves the server's memory as
        # soon as it is read (guard.take_upload), and a new file or its removal clears the digit.
        taken = key("index", "upload", "taken")
        upload = st.file_uploader("A PNG or JPEG of one digit", type=["png", "jpg", "jpeg"],
                                  key=key("index", "upload"), on_change=ss.pop, args=(taken, None))
        if upload is not None:
            try:
                ss[taken] = (upload.name, ui.digit_from_upload(guard.take_upload(upload)), None)
            except preprocess.DigitImageError as exc:
                ss[taken] = (upload.name, None, str(exc))
        if taken not in ss:
            st.info("Upload a picture of one handwritten digit (dark on light or light on dark).",
                    icon=":material/upload:")
        else:
            name, digit, problem = ss[taken]
            st.text(f"File: {guard.plain_name(name)}")  # the visitor's text: never markdown
            if problem is not None:
                st.error(problem)
    if source != "Test set" and digit is not None:
        stated = st.selectbox("Which digit is it?", ("unknown", *map(str, range(10))),
                              key=key("index", "stated"),
                              format_func=lambda s: "don't say: attack the model's own answer"
                              if s == "unknown" else s)
        label_known = stated != "unknown"
        if label_known:
            label = int(stated)


def scene_with(eps: float, steps: int) -> Scene:
    """The whole scene: the sidebar's and the chooser's choices, with this ε and these steps."""
    return Scene(model=model_name, attack=attack, eps=round(float(eps), 4), steps=int(steps),
                 queries=int(ss[key("queries")]), index=int(ss[key("index")]),
                 target=target_choice if spec.targeted else "none", talk=talk)


if digit is not None:
    if source != "Test set":
        st.caption("Drawn and uploaded digits are not part of the URL; the link keeps the "
                   f"settings and test digit #{ss[key('index')]}.")
        with preview:
            st.image(preprocess.digit_to_png(digit, scale=6, ink_dark=True),
                     caption="What the model sees: 28×28, centred as in MNIST", width=168)
    model = ui.pretrained_or_stop(model_name)
    if not label_known:  # attack away from the model's own answer
        label = predicted_class(model, digit)
target = scene_with(ss[eps_key], ss[key("steps")]).target_class
if digit is not None and target is not None and target == label:
    st.info(f"The target {target} is this digit's own class, so there is nothing to reach; "
            "attacking untargeted instead.")
    target = None


# --- 2. the attack: everything ε and the steps change, rerun on its own as a fragment ------------


def steps_slider() -> int:
    """The steps slider, with what steps mean for this attack (for a black-box attack, the
    query budget slider instead); returns the steps."""
    if spec.black_box:
        lo, hi = ui.DIGITS.bounds("queries")
        st.slider("Query budget (model calls per digit)", lo, hi, step=10, key=key("queries"))
        reads = "its scores" if spec.access == "scores" else "only its predicted label"
        st.caption(f"{spec.label} reads {reads}, never a gradient. {STOPS[spec.access]}")
        return int(ss[key("steps")])
    lo, hi = ui.DIGITS.bounds("steps")
    steps = st.slider("Steps (iterations)", lo, hi, key=key("steps"), disabled=not spec.iterative)
    if not spec.iterative:
        st.caption(f"{spec.label} takes a single step; steps do not apply.")
    elif spec.minimal:
        st.caption(f"{spec.label} looks for the *smallest* change that flips the digit and "
                   "stops there; ε only caps its size"
                   + (", and it runs at least 50 Adam steps in each of its 5 rounds."
                      if attack == "cw-l2" else "; steps cap its linearisations."))
    return steps


def eps_and_steps() -> tuple[float, int]:
    """The ε slider (in the attack's own norm, with its units spelled out) and the steps slider
    (in talk mode the steps slider is in the sidebar, drawn outside this fragment)."""
    lo, hi, eps_step, _ = Scene.EPS_RANGES[spec.norm]
    c_eps, c_steps = (st.container(), None) if talk else st.columns([3, 2])
    with c_eps:
        if spec.norm == "linf":
            eps = st.slider("ε: largest change of any pixel, on [0, 1]", lo, hi, step=eps_step,
                            key=eps_key, format="%.3f")
            st.markdown(f"ε = **{eps:.3f}** on [0, 1] = **{eps * 255:.1f}/255** grey levels")
        else:
            eps = st.slider("ε: L2 length of the whole change (784 pixels)", lo, hi,
                            step=eps_step, key=eps_key, format="%.2f")
            st.markdown(f"ε = **{eps:.2f}** (L2). For scale: one pixel from black to white is "
                        "1; an L∞ ε of 0.1 on every pixel is 2.8.")
    if c_steps is None:
        return eps, int(ss[key("steps")])
    with c_steps:
        return eps, steps_slider()


if talk:  # outside the fragment: a change of steps reruns the page
    with st.sidebar:
        steps_slider()


def attack_cost(scene: Scene, result: DigitAttack) -> None:
    """What the attack asked of the model: a black-box attack's queries (its own count) or a
    gradient attack's forward+backward passes."""
    if result.queries is not None:
        reads = "scores only" if spec.access == "scores" else "predicted labels only"
        st.metric("Queries of the model", f"{result.queries:,}",
                  help=f"Model calls {spec.label} made for this digit ({reads}, no gradient), "
                       f"of a budget of {scene.queries:,}. {STOPS[spec.access]}")
        st.caption(f"{spec.label} used **{result.queries:,} queries** of the model "
                   f"({reads}, no gradient) of its budget of {scene.queries:,}.")
    elif result.gradients is not None:
        st.metric("Gradient passes", f"{result.gradients:,}",
                  help="Forward and backward passes through the model for this digit, "
                       "counted at the model.")
        st.caption(f"{spec.label} used **{result.gradients:,} forward+backward passes** of the "
                   "model (white-box: it reads the gradient).")


def verdict_and_downloads(scene: Scene, result: DigitAttack, label: int,
                          target: int | None) -> None:
    """What the attack did, in one sentence, and the adversarial digit to take away."""
    size = f"‖δ‖∞ = {figs.format_eps(result.linf, 'linf')}, ‖δ‖₂ = {result.l2:.2f}"
    if result.pred_clean != label:
        st.info(f"The model already gets this digit wrong before any attack: it says "
                f"{result.pred_clean} for a {label}.")
    if target is not None:
        verdict = (f"reached the target: the model now says **{target}**" if result.success
                   else f"did not reach the target {target} (the model says {result.pred_adv})")
    else:
        verdict = (f"changed the answer from **{result.pred_clean}** to **{result.pred_adv}**"
                   if result.flipped else f"did not change the answer ({result.pred_adv})")
    (st.success if result.success else st.info)(
        f"{spec.label} at ε = {figs.format_eps(scene.eps, spec.norm)} {verdict}. Size of the "
        f"change: {size}.", icon=":material/target:" if result.success else ":material/shield:")

    down_png, down_npy, cost = st.columns([1, 1, 2])
    with cost:
        attack_cost(scene, result)
    stem = f"adversarial-{scene.model}-{scene.attack}-eps{scene.eps:g}"
    down_png.download_button(
        "Adversarial digit (PNG)", preprocess.digit_to_png(result.adversarial), f"{stem}.png",
        mime="image/png", key=key("index", "png"), on_click="ignore", icon=":material/image:",
        help="28×28, 8-bit grey, white ink on black as in MNIST. 8 bits round δ to 1/255: "
             "the .npy is exact.")
    down_npy.download_button(
        "Exact float tensor (.npy)", preprocess.digit_to_npy(result.adversarial), f"{stem}.npy",
        mime="application/octet-stream", key=key("index", "npy"), on_click="ignore",
        icon=":material/data_array:",
        help="float32, shape (1, 1, 28, 28), values in [0, 1]: np.load(...) and feed the model.")
    if scene.eps > 0:
        with st.expander("For your slides: the digit morphing as ε grows", expanded=False):
            frames = RACE_FRAMES_ITERATIVE if spec.iterative and not spec.minimal else RACE_FRAMES
            ui.digit_morph_exports(scene.model, scene.attack, scene.eps, scene.work, result,
                                   ui.scene_url(state.to_query(scene)), frames)


def fragility(scene: Scene, digit: np.ndarray, label: int, label_known: bool,
              target: int | None) -> None:
    """The logit race from ε = 0 to the chosen ε, and each model's smallest flipping ε."""
    st.subheader("How fragile is it?")
    race_col, fragile_col = st.columns(2)
    with race_col:
        if scene.eps > 0:
            frames = RACE_FRAMES_ITERATIVE if spec.iterative and not spec.minimal else RACE_FRAMES
            race = ui.digit_race(scene.model, scene.attack, scene.eps, scene.work, target,
                                 digit, label, frames)
            chart.chart(figs.logit_race_figure(race.epsilons, race.images, race.logits,
                                               label=label, target=target, norm=spec.norm,
                                               talk=talk),
                        key=key("race"), config=NO_CHART_BAR)
            how = ("the change it found is capped at each ε from 0 up to yours" if spec.minimal
                   else "the attack is re-run at each ε from 0 up to yours")
            st.caption(f"Press ▶ Play: {how}, and the bars show the network's raw scores "
                       "(logits) for each class.")
        else:
            st.info("With ε = 0 there is no race to watch: raise ε.")
    with fragile_col:
        with st.spinner("Searching the smallest ε for each model…"):
            smallest = ui.digit_fragility(scene.attack, scene.work, digit,
                                          label if label_known else None)
        chart.chart(figs.fragility_figure(smallest, current_eps=scene.eps, norm=spec.norm,
                                          eps_max=FRAGILITY_EPS_MAX[spec.norm], talk=talk),
                    key=key("fragility"), config=NO_CHART_BAR)
        if spec.minimal:
            how = "the size of the smallest change it finds, run once without a cap"
        elif spec.black_box:
            tol = FRAGILITY_TOL_BLACK_BOX[spec.norm]
            how = (f"found by bisection on ε, to {tol * 255:.1f}/255" if spec.norm == "linf"
                   else f"found by bisection on ε, to {tol:g}")
        else:
            how = "found by bisection on ε, to half a grey level (1/510)"
        budget = (f", each run with a budget of {scene.queries:,} queries" if spec.black_box
                  else "")
        st.caption(f"{spec.label}, untargeted: {how}{budget}.")
        truth = ui.digit_linear_truth(scene.steps, digit, label if label_known else None)
        if truth is not None:
            def shown(v: float) -> str:
                return ("already wrong" if v == 0 else "not flipped" if not np.isfinite(v)
                        else f"{v:.4f} ({v * 255:.1f}/255)")
            st.dataframe({"mnist-linear, smallest L∞ ε": ["exact (closed form)", "FGSM found",
                                                           f"PGD-{scene.steps} found"],
                          "ε": [shown(truth["exact"]), shown(truth["fgsm"]),
                                shown(truth["pgd"])]},
                         hide_index=True, width="stretch", key=key("linear_truth"))
            st.caption("For softmax regression the smallest L∞ change inside [0, 1] has a "
                       "closed form, so the true minimum stands beside what the attacks found "
                       "(never below it). For the CNNs no exact answer is computed: their bars "
                       "are only what the attack found, an upper bound on the true smallest ε.")


def gallery(scene: Scene, target: int | None) -> None:
    """16 test digits attacked with the current settings, a few per cached call."""
    st.subheader("Not just this digit")
    progress = st.empty()
    parts = []
    for start in range(0, ui.GALLERY_SIZE, GALLERY_CHUNK):
        # Each update is a point where a newer rerun (ε moved again) can take over.
        progress.caption(f"Attacking {ui.GALLERY_SIZE} test digits… {start}/{ui.GALLERY_SIZE}")
        parts.append(ui.digit_gallery(scene.model, scene.attack, scene.eps, scene.work, target,
                                      start, start + GALLERY_CHUNK))
    progress.empty()
    g = Gallery.concat(parts)
    with st.container(key=key("gallery")):
        st.html(figs.gallery_html(g.adversarial, g.indices, g.labels, g.pred_clean, g.pred_adv,
                                  talk=talk))
    if spec.black_box:
        total = int(g.queries.sum())
        st.caption(f"{spec.label} used {total:,} queries of the model for these "
                   f"{len(g.queries)} digits ({total / max(len(g.queries), 1):,.0f} per digit, "
                   f"budget {scene.queries:,}). {STOPS[spec.access]}")


def test_set_accuracy(scene: Scene, target: int | None) -> None:
    """Accuracy on all test digits at this ε, walked in cached chunks behind a progress bar."""
    # One FGSM step (or the linear model) costs little; iterative attacks on a CNN cost seconds
    # to minutes for 1,000 digits on a laptop CPU, so they wait to be asked.
    cheap = not spec.black_box and (not spec.iterative or scene.model == "mnist-linear")
    if not st.toggle("Measure the accuracy on all 1,000 test digits at this ε", value=cheap,
                     key=key(f"measure.{cheap}"),
                     help="Each setting is computed once and cached. Iterative attacks on a CNN "
                          "take from seconds (PGD-10) to minutes (C&W), so they start off."):
        return
    total = None
    n_test = len(ui.test_labels())
    bar = st.progress(0.0, text="Attacking the test set…")
    shown = time.perf_counter()
    for start in range(0, n_test, CHUNK):
        stop = min(start + CHUNK, n_test)
        part = ui.test_counts(scene.model, scene.attack, scene.eps, scene.work, target, start,
                              stop)
        total = part if total is None else total + part
        # Each update is a delta the browser renders, and a point where a newer rerun (ε moved
        # again) takes over: after every slow chunk, but not 40 times for cached ones.
        if time.perf_counter() - shown > PROGRESS_EVERY_S:
            bar.progress(stop / n_test, text=f"Attacking the test set… {stop}/{n_test}")
            shown = time.perf_counter()
    bar.empty()
    assert total is not None
    cols = st.columns(3)
    cols[0].metric("Clean accuracy", f"{total.correct_clean / total.n:.1%}")
    cols[1].metric(f"Accuracy under {spec.label} at ε = {figs.format_eps(scene.eps, spec.norm)}",
                   f"{total.correct_adv / total.n:.1%}",
                   delta=f"{(total.correct_adv - total.correct_clean) / total.n:+.1%}",
                   delta_color="normal")
    if target is not None:
        cols[2].metric(f"Reached target {target}",
                       f"{total.hit_target / max(total.eligible_target, 1):.1%}",
                       help=f"Among the test digits that are not already a {target}.")
    st.caption(f"{total.n} test digits, {scene.model}, {spec.label}"
               + (f", a budget of {scene.queries:,} queries per digit" if spec.black_box
                  else f", {scene.steps} steps" if spec.iterative else "") + ".")


@st.fragment
def attack_view(digit: np.ndarray | None, label: int | None, label_known: bool,
                target: int | None) -> None:
    """The ε and steps sliders and everything they change. Moving ε reruns only this
    (st.fragment), not the sidebar and the digit chooser above; it keeps the URL in sync.

    The sliders are drawn even without a digit (an empty canvas): Streamlit keeps the state of
    a fragment's widgets through a run that skips the fragment, but the browser forgets them,
    so sliders that came back would show their minimum while the page used the kept values.
    """
    if not talk:
        st.subheader("Original, perturbation, adversarial")
    eps, steps = eps_and_steps()
    scene = scene_with(eps, steps)
    ui.write_url(scene)
    if digit is None or label is None:
        return

    result = ui.digit_attack(scene.model, scene.attack, scene.eps, scene.work, target, digit,
                             label)
    with st.container(key=key("panels")):
        st.html(figs.panels_html(
            result.clean, result.perturbation, result.adversarial,
            pred_clean=result.pred_clean, conf_clean=float(result.probs_clean.max()),
            pred_adv=result.pred_adv, conf_adv=float(result.probs_adv.max()),
            eps=scene.eps, norm=spec.norm, amplify=amplify, talk=talk))
    # Let the browser paint the panels before the rest of the fragment arrives: deltas that
    # arrive together are rendered together, and the race and fragility charts behind them are
    # Plotly charts that Streamlit re-mounts. Key press → panels painted in Chromium (`python
    # benchmarks/digits.py --browser-only --repeats 3`, five attacks): without the pause,
    # medians 110-123 ms and p95 up to 201 ms; with 0.1 s, 81-108 ms and p95 ≤ 126 ms. It
    # sleeps, so it costs no CPU and releases the GIL for other sessions.
    time.sleep(PAINT_PAUSE_S)
    verdict_and_downloads(scene, result, label, target)
    with st.container(key=key("probabilities")):
        st.html(figs.probabilities_html(result.probs_clean, result.probs_adv, label=label,
                                        target=target, talk=talk))
    fragility(scene, digit, label, label_known, target)
    gallery(scene, target)
    test_set_accuracy(scene, target)


attack_view(digit, label, label_known, target)
