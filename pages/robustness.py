"""Robustness lab: how accuracy falls as ε grows, what adversarial training buys, and whether
adversarial digits crafted on one model fool another. A thin view over advcore.playground.robustness.

Every control is a field of `RobustnessScene`, so the URL reopens the same picture.
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from advcore import sweep
from advcore.data import TOY_DATASETS, mnist
from advcore.models import PRETRAINED, AssetError
from advcore.playground import robustness as rb
from advcore.playground.figures import robustness as figs
from advcore.playground.state import RobustnessScene, replace
from pages import chart, pool, ui

key, rng = ui.ROBUSTNESS.key, ui.ROBUSTNESS.bounds

TABS = {
    "curves": ":material/show_chart: Accuracy vs ε",
    "training": ":material/shield: Adversarial training",
    "transfer": ":material/swap_horiz: Transferability",
}
EPS_LO, EPS_HI = rng("eps")  # 0 … 0.5 on the [0, 1] pixel scale, in stops of 0.01
EPS_GRID = [round(EPS_LO + 0.01 * i, 2) for i in range(round((EPS_HI - EPS_LO) / 0.01) + 1)]
CHUNK = 250  # test digits per cached cell: the progress bar moves every few seconds
N_CHOICES = [100, 250, 500, 1000]
WORST_N_CHOICES = [50, 100, 250, 500, 1000]


def controls(talk: bool) -> st.delta_generator.DeltaGenerator:
    """Where a section's controls go: inline, or tucked in a closed expander in talk mode."""
    return st.expander("Controls", expanded=False) if talk else st.container()


# Why this page hands each widget its value from the scene (value=scene.x) where the other pages
# seed session state once (ui.Binding.seed) and read it back (Binding.read): a tab's controls are
# drawn only while the tab is open, and Streamlit forgets the state of a widget a run did not
# draw. Each tab's ε, steps and attack control is therefore made anew from the scene when its
# tab opens, and the scene (which the URL carries) is what moves ε from one tab to the next.
def eps_slider(value: float, widget: str) -> float:
    """ε on the [0, 1] pixel scale, each stop also shown in grey levels (n/255)."""
    options = sorted({*EPS_GRID, round(value, 4)})
    return float(st.select_slider("ε per pixel ([0, 1] scale, and grey levels of 255)",
                                  options=options, value=round(value, 4), key=widget,
                                  format_func=lambda e: f"{e:g} ({rb.eps_255(e)})"))


def pgd_steps(value: int, widget: str) -> int:
    lo, hi = rng("steps")
    return int(st.number_input("PGD steps", lo, hi, value, key=widget,
                               help="Iterations of PGD; the model cards use 20."))


def loadable(names: list[str]) -> tuple[list[str], list[str]]:
    """Names whose weights load, and a message for each that does not."""
    ok, problems = [], []
    for name in names:
        try:
            ui.pretrained_model(name)
            ok.append(name)
        except AssetError as exc:
            problems.append(f"**{name}** cannot be loaded: {exc}")
    return ok, problems


# --- 1. accuracy vs ε --------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=4096)
def worst_case_cell(model: str, eps: float, start: int, stop: int) -> sweep.WorstCount:
    """robust_accuracy's ensemble on test digits [start, stop) of `model`, as counts. Runs on
    the shared pool: its progress goes back to the waiting page through pool.report."""
    x, y = mnist("test")
    return sweep.worst_case_count(ui.pretrained_model(model), x[start:stop], y[start:stop],
                                  eps=eps, progress=pool.report, should_stop=pool.should_stop,
                                  what=f"{model}, digits {start + 1}–{stop}")


def run_worst_case(names: list[str], eps: float, n: int, steps: int) -> dict[str, rb.WorstCase]:
    """The worst case and PGD-`steps` on the first n test digits of each model, in cells on
    the shared pool under one progress bar (which stays, full, when the run is done)."""
    cells = rb.worst_case_cells(names, eps, n=n)
    weights = [rb.worst_case_cost(c) for c in cells]
    total = sum(weights) + rb.pgd_cost(names, n=n, steps=steps)
    bar = st.empty()
    worked = False
    done = 0.0

    def draw(fraction: float, text: str) -> None:
        bar.progress(min(1.0, fraction), text=f"The worst case at ε = {eps:g}: {text}")

    counts: dict[sweep.Cell, sweep.WorstCount] = {}
    pgd: dict[str, int] = {}
    try:
        for c, w in zip(cells, weights, strict=True):
            def inner(f: float, text: str, done: float = done, w: float = w) -> None:
                draw((done + f * w) / total, text)

            t0 = time.perf_counter()
            counts[c] = pool.compute("The worst case", worst_case_cell, c.model, c.eps,
                                     c.start, c.stop, progress=inner)
            worked |= time.perf_counter() - t0 > 0.05
            done += w
            if worked:
                draw(done / total, f"{c.model}, digits {c.start + 1}–{c.stop} done")
        for m in names:
            pgd[m] = pool.compute(f"PGD-{steps} on the same digits", ui.robustness_cell, m,
                                  "pgd", float(eps), steps, 0, n)
    except pool.BudgetExceeded as exc:
        bar.empty()
        pool.explain_budget(exc, "Pick fewer digits or fewer models; the cells measured so far "
                                 "stay cached, so the next run resumes there.")
        st.stop()
    if worked:
        draw(1.0, f"done: {len(cells)} cells of at most {sweep.CHUNK} digits")
    else:
        bar.empty()
    return {m: sweep.combine_worst_case(m, eps, [counts[c] for c in cells if c.model == m],
                                        pgd=pgd[m], pgd_steps=steps, source="live")
            for m in names}


def worst_case_section(scene: RobustnessScene, cards: dict, mains: dict[str, rb.WorstCase],
                       curve_points: dict[str, list[rb.WorstCase]],
                       box: st.delta_generator.DeltaGenerator | None) -> list[rb.WorstCase]:
    """"PGD says X%, the worst case says Y%" per model at one ε, from the cards or live.
    Returns the live worst-case points measured so far at the chosen digits (for the curves)."""
    st.subheader("PGD says X%, the worst case says Y%")
    if not scene.talk:
        st.markdown(
            "PGD is one attack. A model can resist it and still fall to another: AutoAttack "
            "(Croce & Hein 2020) lowered the robust accuracy of dozens of published defences. "
            "The **worst case** runs our AutoAttack-grade ensemble — APGD-CE, then targeted "
            "APGD-DLR against the 9 runner-up classes, then the black-box Square attack with "
            "5,000 queries — each on the digits the attacks before it left, and counts a digit "
            "as robust only if all three fail. It is still an attack, so still an upper bound "
            "on the true robust accuracy, but a much tighter one than PGD alone.")
    options = sorted({e for pts in curve_points.values() for w in pts for e in [w.eps]
                      if e > 0} | {e for e in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)})
    with box if box is not None else st.container():
        c1, c2, c3, c4 = st.columns([2, 1, 1.6, 1.3], vertical_alignment="bottom")
        with c1:
            eps = float(st.select_slider(
                "ε for the worst case", options=options, value=0.3, key=key("worst", "eps"),
                format_func=lambda e: f"{e:g} ({rb.eps_255(e)})"))
        # The cards' own digit counts are offered too: a live run on them reproduces the card.
        n_options = sorted({*WORST_N_CHOICES, *(w.n for w in mains.values())})
        n = int(c2.select_slider("Digits", n_options, value=WORST_N_CHOICES[0],
                                 key=key("worst", "n"),
                                 help="The first n test digits. The ensemble costs about a CPU "
                                      "second per digit on mnist-cnn-robust."))
        available = [m for m in PRETRAINED if m in cards] or list(PRETRAINED)
        chosen = c3.multiselect("Models", available, default=available,
                                key=key("worst", "models"))
        run = c4.button("Run the worst case live", key=key("worst", "run"),
                        icon=":material/bolt:",
                        help="Run the ensemble now on these digits (and PGD on the same "
                             "digits). Every finished cell of 50 digits is kept: change a "
                             "control to stop, and a later run resumes where it stopped.")
    steps = scene.steps
    results: dict[tuple[str, float, int, int], rb.WorstCase] = st.session_state.setdefault(
        key("worst", "results"), {})
    if run:
        st.session_state[key("worst", "live")] = (eps, n, tuple(chosen), steps)
    wanted = st.session_state.get(key("worst", "live"))
    if wanted is not None and wanted[0] == eps and wanted[1] == n and wanted[3] == steps:
        names, missing = loadable([m for m in wanted[2] if m in PRETRAINED])
        for problem in missing:
            st.error(problem)
        if names:
            for m, w in run_worst_case(names, eps, n, steps).items():
                results[(m, eps, n, steps)] = w

    rows, notes = [], []
    for m in PRETRAINED:
        shown = rb.shown_worst_case(eps, results.get((m, eps, n, steps)), mains.get(m),
                                    curve_points.get(m, []))
        if shown is None:
            if m in cards and m not in mains:
                notes.append(rb.no_worst_case_message(m))
            continue
        rows.append(shown)
    for w in rows:
        where = ("measured live just now" if w.source == "live"
                 else "from the model card")
        st.markdown(f"**{w.model}** at ε = {w.eps:g} ({rb.eps_255(w.eps)}): "
                    f"{rb.worst_case_summary(w)}; {where}.")
        if w.warnings:
            st.warning(f"{w.model}: a sanity check of the evaluation fired — "
                       + " ".join(w.warnings), icon="⚠️")
    for note in notes:
        st.info(note, icon=":material/info:")
    if rows and not scene.talk:
        st.caption(
            "Both numbers are on the same digits, so the gap is PGD's overstatement, not "
            "sampling. The interval is the exact (Clopper–Pearson) 95% binomial interval: on "
            "50 digits it spans about ±10 points, so read a small gap with care. A common "
            "mistake is to report PGD alone: a defence that only masks the gradient looks "
            "robust to PGD and falls to the black-box Square attack.")
    return [w for (m, e, k, st_), w in results.items() if k == n and st_ == steps]




def curves_section(scene: RobustnessScene) -> RobustnessScene:
    cards, curves, problems = {}, [], []
    for name in PRETRAINED:
        try:
            cards[name] = ui.model_card(name)
            curves += rb.card_curves(name, cards[name], ui.test_size())
        except (AssetError, ValueError) as exc:
            problems.append(f"**{name}**: {exc}")
    for p in problems:
        st.warning(p, icon="⚠️")

    top_controls = controls(scene.talk)
    with top_controls:
        c1, c2, c3, c4 = st.columns([1.2, 1, 1, 1.3], vertical_alignment="bottom")
        papers = c1.toggle("Show the papers' numbers", scene.papers, key=key("papers"))
        n = c2.select_slider("Digits for a live run", sorted({*N_CHOICES, scene.n}),
                             value=scene.n, key=key("n", "curves"))
        steps = c3.number_input("PGD steps", *rng("steps"),
                                value=scene.steps, key=key("steps", "curves"))
        recompute = c4.button("Recompute live", key=key("papers", "recompute"), type="primary",
                              icon=":material/refresh:",
                              help="Run FGSM and PGD on the test digits now, with these "
                                   "settings, instead of reading the model cards. Every finished "
                                   "piece is kept: change any control to stop, and a later run "
                                   "resumes where this one stopped.")
    scene = replace(scene, papers=papers, n=int(n), steps=int(steps))
    if recompute:
        st.session_state[key("live")] = (scene.n, scene.steps)

    live = None
    wanted = st.session_state.get(key("live"))
    if wanted is not None:
        names, missing = loadable([c for c in cards if c in PRETRAINED] or list(PRETRAINED))
        for p in missing:
            st.error(p)
        live_n, live_steps = wanted
        epsilons = sorted({e for c in curves for e in c.epsilons} or {0.0, 0.1, 0.2, 0.3})
        cells = rb.curve_cells(names, epsilons, n=live_n, chunk=CHUNK)
        counts = ui.run_cells(cells, steps=live_steps, label="Recomputing")
        live = rb.curves_from_cells(counts, steps=live_steps, n=live_n)
        reasons = ["PGD starts from a random point of the ε-ball"]
        if live_n < ui.test_size():
            reasons.insert(0, f"{live_n:,} digits are a sample of the {ui.test_size():,}")
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.success(
            f"Live: FGSM and PGD-{live_steps} on the first {live_n:,} test digits, just now. "
            f"Dotted: the model cards. Largest difference "
            f"{100 * rb.curve_difference(live, curves):.1f} points ({'; '.join(reasons)}; and "
            "a card is only as fresh as the attack code it was measured with).",
            icon=":material/check_circle:")
        if right.button("Back to the cards", key=key("papers", "cards")):
            del st.session_state[key("live")]
            st.rerun()

    mains, curve_points = {}, {}
    for name, card in cards.items():
        try:
            main, points = rb.card_worst_case(name, card)
        except AssetError as exc:
            st.warning(f"**{name}**: {exc}", icon="⚠️")
            continue
        if main is not None:
            mains[name], curve_points[name] = main, points
    refs = rb.REFERENCES if scene.papers else ()
    shown_eps = [e for c in (live or curves) for e in c.epsilons] or [0.3]
    exact_n = live[0].n if live else ui.test_size()
    try:
        exact = [ui.linear_exact_curve(exact_n, tuple(np.linspace(0.0, max(shown_eps), 241)))]
    except AssetError:
        exact = []
    curves_slot = st.container()
    # On a projector one "Controls" expander holds every control of the section.
    live_worst = worst_case_section(scene, cards, mains, curve_points,
                                    top_controls if scene.talk else None)
    worst = rb.card_worst_case_line(mains, curve_points) + live_worst
    fig = figs.curves_figure(live or curves, refs, compare=curves if live else (),
                             exact=exact, worst=worst, talk=scene.talk)
    with curves_slot:
        chart.chart(fig, key=key("fig", "curves"))
        if worst:
            digits = sorted({w.n for w in worst})
            st.caption(
                "Dashed, a shade darker (right panel): each model's **worst case** under our "
                "AutoAttack-grade ensemble, with 95% intervals as bars, on the first "
                f"{' or '.join(f'{d:,}' for d in digits)} test digits: the ensemble costs "
                "about a CPU second per digit on the robust model, so the cards measure its "
                "curve on few digits and only the card's own ε = 0.3 on more. Hover a point "
                "for PGD on those same digits: there the "
                "worst case is at or below PGD. Against the solid line, which uses all "
                f"{ui.test_size():,} digits, a point on few digits can sit a little above by "
                "chance; its interval shows by how much it may.")
        if exact:
            st.caption(
                "Dashed steps: mnist-linear's **exact** robust accuracy. For softmax regression "
                "each digit's smallest flipping L∞ change inside [0, 1] has a closed form, so "
                "this is the truth, and FGSM's and PGD's curves can only lie on or above it. "
                "For the CNNs no exact answer is computed (for ReLU networks it is NP-hard): "
                "their curves are upper bounds, what these attacks found.")
        notes = rb.takeaways(live or curves)
        if notes:
            st.markdown("**What to notice**\n\n" + "\n".join(f"- {n}" for n in notes))
        if live is None:
            st.caption(
                f"From the model cards: computed when each model was trained (`python -m "
                f"advcore.train`), FGSM and PGD on all {ui.test_size():,} test digits. FGSM is "
                "one signed-gradient step (Goodfellow et al. 2015); PGD takes many projected "
                "steps from a random start (Madry et al. 2018). ε is the largest change "
                "allowed per pixel.")

    st.subheader("Our models next to the papers")
    rows = rb.paper_comparison(live or curves, cards)
    st.dataframe(figs.comparison_table(rows), hide_index=True, width="stretch",
                 column_config={"published": st.column_config.TextColumn(width="medium")})
    st.caption(
        "Goodfellow et al. report *error* rates; they are shown as accuracy = 1 − error. The "
        "papers use the full 10,000-digit MNIST test set and their own networks (a maxout net, "
        "LeNet, a larger CNN); ours are small models trained on 4,000 digits and tested on "
        f"{ui.test_size():,}, so compare the shape, not the third digit. Madry et al.'s 89% holds "
        "against their strongest PGD (many steps and random restarts); ours is the card's "
        "100-step PGD from one random start. The AutoAttack row is Croce & Hein's figure for "
        "Madry et al.'s own model (89.6% by its authors' PGD, 88.4% by AutoAttack): their "
        "model and their number, beside our ensemble's worst case for our model on the "
        "card's digits. pp = percentage points.")
    return scene


# --- 2. adversarial training --------------------------------------------------------------------


def training_section(scene: RobustnessScene) -> RobustnessScene:
    st.subheader("On 2-D points: train with adversarial examples mixed in")
    if not scene.talk:
        st.markdown(
            "The same small network (2 hidden layers of 32 ReLU units) is trained twice on the "
            "same points: once as usual, once with each point's adversarial version added at "
            "every step — *data augmentation* with the attack (FGSM: Goodfellow et al. 2015; "
            "PGD: Madry et al. 2018). The boundary moves away from the points, and the attack "
            "stops working.")
    with controls(scene.talk):
        c = st.columns(5, vertical_alignment="bottom")
        dataset = c[0].selectbox("Data", list(TOY_DATASETS), index=list(TOY_DATASETS).index(
            scene.dataset), format_func=TOY_DATASETS.get, key=key("dataset"))
        noise = c[1].slider("Noise", *rng("noise"), value=scene.noise,
                            step=0.05, key=key("noise"))
        seed = c[2].number_input("Seed", *rng("seed"), value=scene.seed,
                                 key=key("seed"))
        toy_attack = c[3].segmented_control(
            "Train with", ui.ROBUSTNESS.choices("toy_attack"), default=scene.toy_attack,
            required=True, format_func=str.upper, key=key("toy_attack"))
        toy_eps = c[4].slider("ε (feature units)", *rng("toy_eps"),
                              value=scene.toy_eps, step=0.05, key=key("toy_eps"))
    scene = replace(scene, dataset=dataset, noise=float(noise), seed=int(seed),
                    toy_attack=toy_attack or scene.toy_attack, toy_eps=float(toy_eps))

    result = ui.toy_adversarial_training(scene.dataset, scene.noise, scene.seed,
                                         scene.toy_attack, scene.toy_eps)
    cols = st.columns(2)
    pictures = figs.training_figures(result, talk=scene.talk)
    for i, (col, outcome, base) in enumerate(((cols[0], result.before, None),
                                              (cols[1], result.after, result.before))):
        with col:
            st.markdown(f"#### {outcome.label[0].upper()}{outcome.label[1:]}")
            chart.chart(pictures[i], key=key("fig", f"training{i}"))
            m = st.columns(3)
            for box, what, label in zip(m, ("clean", "fgsm", "pgd"),
                                        ("clean", f"FGSM ε={scene.toy_eps:g}",
                                         f"PGD ε={scene.toy_eps:g}"), strict=True):
                delta = None if base is None else \
                    f"{100 * (outcome.accuracy[what] - base.accuracy[what]):+.1f} pp"
                box.metric(label, f"{outcome.accuracy[what]:.1%}", delta, border=True)
    gain = result.after.accuracy["pgd"] - result.before.accuracy["pgd"]
    st.caption(
        f"The {len(result.y_test)} points drawn are fresh test points of the same distribution, "
        "not the training points; ▶ Play moves them from clean to attacked, and red rings mark "
        "the ones that end on the wrong side. "
        f"In two dimensions the gain is modest ({100 * gain:+.1f} points under PGD here): a "
        "standard boundary already runs between the classes, and a point closer than ε to the "
        "other class cannot be saved by any boundary. In 784 dimensions (below) the same recipe "
        "is the difference between 0% and ~90%: adversarial examples are a high-dimensional "
        "effect (Goodfellow et al. 2015's linearity argument).")

    st.divider()
    st.subheader("On MNIST: mnist-cnn vs mnist-cnn-robust")
    st.markdown(
        "Same network, two training recipes: **mnist-cnn** learns from clean digits; "
        "**mnist-cnn-robust** learns only from PGD adversarial digits at ε = 0.3 (Madry et al. "
        "2018). Clean accuracy drops a little; accuracy under attack does not collapse.")
    for name in ("mnist-cnn", "mnist-cnn-robust"):
        ui.pretrained_or_stop(name)
    with controls(scene.talk):
        c = st.columns([1.2, 2, 1], vertical_alignment="bottom")
        attack = c[0].segmented_control("Attack for the examples", ui.ROBUSTNESS.choices("attack"),
                                        default=scene.attack, required=True,
                                        format_func=str.upper, key=key("attack", "training"))
        with c[1]:
            eps = eps_slider(scene.eps, key("eps", "training"))
        with c[2]:
            steps = pgd_steps(scene.steps, key("steps", "training"))
    scene = replace(scene, attack=attack or scene.attack, eps=float(eps), steps=steps)

    pair = ("mnist-cnn", "mnist-cnn-robust")
    values = mnist_comparison(pair, scene)
    chart.chart(figs.robust_bars_figure(values, eps=scene.eps, steps=scene.steps,
                                        talk=scene.talk),
                key=key("fig", "bars"))
    examples = ui.robustness_examples(pair, scene.attack, scene.eps, scene.steps)
    chart.chart(figs.examples_figure(examples, eps=scene.eps, attack=scene.attack,
                                     talk=scene.talk),
                key=key("fig", "examples"))
    st.caption("The robust model's adversarial digits often start to look like the class it "
               "now predicts: its gradient points along strokes a person would draw.")
    return scene


def mnist_comparison(names: tuple[str, ...], scene: RobustnessScene) -> dict[str, dict[str, float]]:
    """Clean/FGSM/PGD accuracy at the scene's ε (rb.mnist_comparison): from the cards where
    they hold exactly that number, else computed live with a progress bar."""
    cards = {}
    for name in names:
        try:
            cards[name] = rb.card_curves(name, ui.model_card(name), ui.test_size())
        except (AssetError, ValueError):
            cards[name] = []
    n = min(scene.n, ui.test_size())
    values, live = rb.mnist_comparison(
        names, cards, eps=scene.eps, steps=scene.steps, n=n, chunk=CHUNK,
        count=lambda cells: ui.run_cells(cells, steps=scene.steps, label="Computing"))
    if live:
        st.caption(f"Computed live on the first {n:,} test digits (the cards hold ε = 0, 0.05, "
                   "…, 0.3 with PGD-20 on all of them).")
    else:
        st.caption("From the model cards (all test digits).")
    return values


# --- 3. transferability -------------------------------------------------------------------------


def transfer_section(scene: RobustnessScene) -> RobustnessScene:
    st.markdown(
        "Adversarial digits are crafted with one model's gradient (rows) and shown to every model "
        "(columns). The diagonal is the white-box attack. Off the diagonal, the attacker never "
        "saw the model it fools: that is *transfer* (Szegedy et al. 2014; Papernot et al. 2016), "
        "and why keeping weights secret is no defence.")
    for name in PRETRAINED:
        ui.pretrained_or_stop(name)
    with controls(scene.talk):
        c = st.columns([1.2, 2, 1, 1.2], vertical_alignment="bottom")
        attack = c[0].segmented_control("Attack", ui.ROBUSTNESS.choices("attack"),
                                        default=scene.attack, required=True, format_func=str.upper,
                                        key=key("attack", "transfer"))
        with c[1]:
            eps = eps_slider(scene.eps, key("eps", "transfer"))
        with c[2]:
            steps = pgd_steps(scene.steps, key("steps", "transfer"))
        n = c[3].select_slider("Test digits", sorted({*N_CHOICES, scene.n}), value=scene.n,
                               key=key("n", "transfer"))
    scene = replace(scene, attack=attack or scene.attack, eps=float(eps), steps=steps, n=int(n))

    names = tuple(PRETRAINED)
    n = min(scene.n, ui.test_size())
    bar = st.empty()
    rows = []
    for i, source in enumerate(names):
        bar.progress(i / len(names), text=f"Crafting {scene.attack.upper()} digits on {source}…")
        rows.append(ui.transfer_row(source, names, scene.attack, scene.eps, scene.steps, n))
    bar.empty()
    matrix = rb.TransferMatrix(names, names, np.stack(rows), ui.clean_accuracies(names, n),
                               scene.attack, scene.eps, scene.steps, n)
    chart.chart(figs.transfer_figure(matrix, talk=scene.talk), key=key("fig", "transfer"))
    st.caption(figs.transfer_summary(matrix))
    return scene


# --- the page -----------------------------------------------------------------------------------

scene = ui.ROBUSTNESS.from_url()
with st.sidebar:
    talk = st.toggle("Talk mode (bigger text for a projector)", value=scene.talk, key=key("talk"),
                     help="Large fonts, thick lines, controls tucked into expanders. Kept in "
                          "the URL as talk=1.")
scene = replace(scene, talk=talk)
ui.talk_mode(scene.talk)
st.title("Robustness lab")
if not scene.talk:
    st.markdown(
        "How much does an attack cost a model as ε grows, what does training on adversarial "
        "examples buy, and do adversarial digits fool models they were not made for? ε is the "
        "largest change allowed per pixel, on the [0, 1] scale (0.1 = 25.5 of 255 grey levels).")

labels = list(TABS.values())
# The tabs' default is the section the session's first URL asked for, and stays that: a default
# that followed the URL (which follows the tab) changed the widget's identity on the run after
# each click, so Streamlit reset it to the new default and every other click was lost.
first_section = st.session_state.setdefault(key("first_section"), scene.section)
tabs = st.tabs(labels, default=TABS[first_section], key=key("section"), on_change="rerun")
section = next((k for k, v in TABS.items() if v == st.session_state.get(key("section"))),
               scene.section)
scene = replace(scene, section=section)
ui.write_url(scene)
for name, tab in zip(TABS, tabs, strict=True):
    if tab.open is False:
        continue
    with tab:
        scene = {"curves": curves_section, "training": training_section,
                 "transfer": transfer_section}[name](scene)
        ui.write_url(scene)
