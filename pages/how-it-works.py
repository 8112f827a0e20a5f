"""The "How it works" page (/how-it-works): the maths of an adversarial example, with live numbers.

A thin view: the widgets make a `HowScene` (kept in the URL), the cached helpers in pages/ui.py
call advcore.playground.explain for the numbers, and advcore.playground.figures.explain draws them. Five concepts (the
input gradient, the sign, the ε-ball with PGD's projection, the linearity argument, attacks as
upper bounds), then the four silent mistakes that the checks on this page catch.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from advcore.models import PRETRAINED
from advcore.playground import mistakes, state
from advcore.playground.boundary import AccuracyCurve
from advcore.playground.figures import curves as curve_figs
from advcore.playground.figures import explain as figs
from pages import chart as inplace
from pages import ui

Scene = state.HowScene
ss = st.session_state
NO_BAR = {"displayModeBar": False}


key, rng = ui.HOW.key, ui.HOW.bounds


def controls(talk: bool) -> st.delta_generator.DeltaGenerator:
    """Where a section's own controls go: inline, or in a closed expander in talk mode."""
    return st.expander("Controls", expanded=False) if talk else st.container()


def chart(fig: object, name: str) -> None:
    inplace.chart(fig, config=NO_BAR, key=key(f"fig.{name}"))


# --- the scene: URL -> widgets (first run of a session) -> scene -> URL -------------------------

ui.HOW.seed(ui.HOW.from_url())

with st.sidebar:
    st.subheader("The digit")
    st.selectbox("Model", list(PRETRAINED), key=key("model"),
                 help="The shipped model whose gradient sections 1 and 2 show.")
    lo, hi = rng("index")
    st.number_input(f"Test digit ({lo}–{hi})", lo, hi, step=1, key=key("index"))
    lo, hi = rng("eps")
    st.slider("ε (per pixel, [0, 1] scale)", float(lo), float(hi), step=0.005, key=key("eps"),
              format="%.3f", help="The L∞ radius for sections 2 and 4: 0.1 = 25.5/255.")
    st.toggle("Talk mode (bigger text for a projector)", key=key("talk"))

talk = bool(ss[key("talk")])
ui.talk_mode(talk)
st.title("How it works")
st.markdown(
    "Training changes the **weights** to *lower* the loss. An attack holds the weights still and "
    "changes the **input** to *raise* it, inside a budget ε small enough that a person barely "
    "notices. Every number on this page is computed now, from the app's own models."
)
st.latex(r"\text{training: } \theta \leftarrow \theta - \eta\,\nabla_\theta L(\theta; x, y)"
         r"\qquad\qquad \text{attack (FGSM): } x' = x + \varepsilon\,"
         r"\operatorname{sign}\big(\nabla_x L(\theta; x, y)\big)")
st.caption("Put plainly: the attacker adds to the input a change too fine for a person to "
           "notice, and the model accepts it and makes the wrong decision. (How fine depends "
           "on the picture: on MNIST's black-and-white digits ε = 0.1 shows as grey speckles "
           "on the background; on photos ε = 8/255 hides in the texture.)")

# Section 3's controls are read (from session state) before they are drawn, so the scene is
# complete for the URL.
scene = ui.HOW.read()
ui.write_url(scene)

# --- 1. the gradient of the loss with respect to the input --------------------------------------

st.header("1 · The gradient of the loss with respect to the input")
model = ui.pretrained_or_warn(scene.model)
if model is not None:
    g = ui.how_input_gradient(scene.model, scene.index)
    st.markdown(
        f"For this **{g.label}** the model `{scene.model}` says **{g.prediction}** "
        f"(p = {g.probs[g.prediction]:.3f}); the cross-entropy loss is **{g.loss:.3f}**. "
        "The gradient has the shape of the image: one number per pixel, saying how fast the "
        "loss rises if that pixel gets brighter."
    )
    st.latex(r"g = \nabla_x L(\theta; x, y) = \frac{\partial\, \mathrm{CE}(f_\theta(x), y)}"
             r"{\partial x} \in \mathbb{R}^{28\times 28}")
    chart(figs.gradient_figure(g, talk=talk), "gradient")
    kink = "" if g.fd_agrees else (
        " They differ here: a ReLU/max-pool network is not differentiable at every input (flat "
        "background gives ties in max-pooling), and autograd then returns one of the one-sided "
        "slopes. On `mnist-linear` they agree to six digits."
    )
    st.caption(
        f"A numerical gradient done right differentiates the **loss** along the **input**: along "
        f"a random direction v, (L(x + hv) − L(x − hv)) / 2h = {g.fd_estimate:.6g} and "
        f"gᵀv = {g.fd_exact:.6g}.{kink}"
    )


    st.subheader("Not the gradient with respect to the weights")
    text, fig_col = st.columns([2, 3], gap="large")
    with text:
        st.latex(rf"\nabla_\theta L \in \mathbb{{R}}^{{{g.n_weights}}}")
        st.markdown(f"{g.n_weights:,} numbers, one per weight: how to change the **model**. "
                    "Training follows it. ∇ₓL has 784, one per pixel: how to change the "
                    "**digit**. An attack follows that one.")
        if g.linear_weight_grad is not None:
            st.latex(r"\nabla_W L = (p - e_y)\,x^\top")
            st.markdown("For softmax regression every row of ∇_W L is **the digit itself**, "
                        "scaled by how wrong that class's probability is (the tile titles).")
    with fig_col:
        if g.linear_weight_grad is not None:
            chart(figs.weight_gradient_figure(g, talk=talk), "weights")
        else:
            st.dataframe(
                {"parameter": [n for n, _ in g.weight_shapes],
                 "shape of ∇": [" × ".join(map(str, s)) for _, s in g.weight_shapes]},
                hide_index=True, width="stretch",
            )

    st.subheader("Not a numerical gradient of the predictions")
    text, fig_col = st.columns([2, 3], gap="large")
    with text:
        st.markdown("**A common mistake** is to take the gradient of the model's *predictions* "
                    "with NumPy instead of the gradient of the *loss* with respect to the input:")
        st.code("grad = np.gradient(model.predict(x.reshape(1, 784)))[0]\n"
                "x = x + epsilon * np.sign(grad)", language="python", wrap_lines=True)
        st.markdown(
            "On this digit's predictions (shape 1 × 10) the first line raises "
            f"`{g.seed_error.rstrip('.')}`. Along the class axis it would give ten differences "
            "between *neighbouring classes'* probabilities (right): nothing about pixels, and "
            "no loss in sight. The fix, in PyTorch (what `advcore.attacks.fgsm` does):"
        )
        st.code(
            "x = x.clone().requires_grad_(True)\n"
            "loss = F.cross_entropy(model(x), y)  # logits in\n"
            "(g,) = torch.autograd.grad(loss, x)  # w.r.t. x\n"
            "x_adv = (x + eps * g.sign()).clamp(0, 1)",
            language="python", wrap_lines=True,
        )
    with fig_col:
        chart(figs.seed_gradient_figure(g, talk=talk), "seed")
        st.markdown("Two more slips that often come with it: an untargeted attack **raises** "
                    "the loss "
                    "(gradient ascent; only a targeted attack descends, towards its target "
                    "label), and ε is not a learning rate but the **budget**: how far each pixel "
                    "may move.")

# --- 2. why the sign ---------------------------------------------------------------------------

st.header("2 · Why the sign")
text, fig_col = st.columns([2, 3], gap="large")
with text:
    st.markdown("Near x the loss is almost linear: L(x + δ) ≈ L(x) + gᵀδ. Which δ of size ε "
                "raises it most depends on how size is measured.")
    st.latex(r"\max_{\|\delta\|_\infty \le \varepsilon} g^\top\delta = \varepsilon\,\|g\|_1"
             r"\quad\text{at}\quad \delta = \varepsilon\,\operatorname{sign}(g)")
    st.latex(r"\max_{\|\delta\|_2 \le r} g^\top\delta = r\,\|g\|_2"
             r"\quad\text{at}\quad \delta = r\,g/\|g\|_2")
    st.markdown("Under L∞ every pixel may move by ε on its own, so each goes all the way in the "
                "direction that helps: the step lands on a **corner** of the ε-square. Under L2 "
                "the budget is shared, and the gradient's own direction wins.")
path = ui.how_pgd_path(scene.norm, scene.ball, scene.steps, scene.point, scene.seed)
with fig_col:
    chart(figs.sign_geometry_figure(path.gradient, scene.ball, talk=talk), "geometry")
    st.caption(f"The 2-D picture uses ∇ₓL at the moons point of section 3 and its ε = "
               f"{scene.ball:.2f}.")
if model is not None:
    cmp = ui.how_sign(scene.model, scene.index, scene.eps)
    st.markdown(f"**In 784 dimensions**, for the digit of section 1 at ε = {scene.eps:.3f}: "
                f"the sign step gains ε‖g‖₁ = {cmp.best_linf:.4g}, "
                f"**×{cmp.gain('linf', 'sign') / max(cmp.gain('linf', 'gradient'), 1e-30):.1f}** "
                f"what the gradient direction gains in the same L∞ ball. In the L2 ball of the "
                f"same length ε√d = {cmp.radius_l2:.2f}, the gradient direction wins "
                f"×{cmp.gain('l2', 'gradient') / max(cmp.gain('l2', 'sign'), 1e-30):.2f}.")
    chart(figs.sign_gain_figure(cmp, talk=talk), "gain")

# --- 3. the ε-ball and PGD's projection --------------------------------------------------------

st.header("3 · The ε-ball, and PGD's projection onto it")
text, fig_col = st.columns([2, 3], gap="large")
with text:
    with controls(talk):
        st.radio("Norm", state.HOW_NORMS, key=key("norm"), horizontal=True,
                 format_func=lambda n: {"linf": "L∞ (square)", "l2": "L2 (circle)"}[n])
        lo, hi = rng("ball")
        st.slider("ε (feature units)", float(lo), float(hi), step=0.05, key=key("ball"))
        lo, hi = rng("steps")
        st.slider("Steps", int(lo), int(hi), key=key("steps"))
        c1, c2 = st.columns(2)
        lo, hi = rng("point")
        c1.number_input(f"Point ({lo}–{hi})", int(lo), int(hi), step=1, key=key("point"))
        lo, hi = rng("seed")
        c2.number_input("Random-start seed", int(lo), int(hi), step=1, key=key("seed"))
    st.markdown("PGD (Madry et al. 2018) starts at a random point of the ball, takes a step of "
                f"size α = 2.5ε/steps = {path.step_size:.3f}, and **projects** back whenever a "
                "step leaves the ball:")
    st.latex(r"x_{k+1} = \Pi_{B_\varepsilon(x)}\big(x_k + \alpha\,"
             r"\operatorname{step}(\nabla_x L(x_k))\big)")
    st.latex(r"\Pi_\infty(\delta) = \operatorname{clip}(\delta, -\varepsilon, \varepsilon)")
    st.latex(r"\Pi_2(\delta) = \delta\cdot\min\!\Big(1, \frac{\varepsilon}"
             r"{\|\delta\|_2}\Big)")
    pulled = int(path.outside.sum())
    verdict = (f"crosses the boundary: class {path.label} → {int(path.predictions[-1])}"
               if path.flipped else f"stays class {path.label}")
    st.markdown(f"Here **{pulled} of {len(path.outside)}** steps left the ball and were pulled "
                f"back (red dotted lines). The final point {verdict}.")
with fig_col:
    half = max(1.8 * scene.ball, 0.3)
    grid = ui.how_decision_grid(scene.point, round(half, 3))
    chart(figs.projection_figure(path, grid, talk=talk), "projection")

# --- 4. Goodfellow's linearity argument -----------------------------------------------------

st.header("4 · Goodfellow's linearity argument")
linear = ui.pretrained_or_warn("mnist-linear")
if linear is not None:
    lin = ui.how_linearity(scene.index)
    text, fig_col = st.columns([2, 3], gap="large")
    with text:
        st.markdown("Goodfellow, Shlens & Szegedy (2015) explain adversarial examples by "
                    "linearity. For a linear score wᵀx, the step η = ε·sign(w) changes it by")
        st.latex(r"w^\top(x+\eta) - w^\top x = \varepsilon\,\|w\|_1 \approx \varepsilon\, m\, n")
        st.markdown(
            "where m is the mean |wᵢ| and n the number of pixels. No pixel moves by more "
            "than ε, yet the change grows with the dimension. On `mnist-linear` (softmax "
            f"regression) and this **{lin.label}**, the margin to the runner-up "
            f"**{lin.other}** is a linear score with w = w_{lin.label} − w_{lin.other}:"
        )
        st.markdown(
            f"- ‖w‖₁ over the 784 pixels: **{lin.l1:.1f}** (mean |wᵢ| = {lin.mean_abs_w:.3f})\n"
            f"- at ε = {scene.eps:.3f}: ε‖w‖₁ = **{scene.eps * lin.l1:.2f} logits**\n"
            f"- the margin is {lin.margin:.2f}, so ε = {lin.flip_eps:.3f} "
            f"({lin.flip_eps * 255:.1f}/255) already flips it (without clipping)"
        )
    with fig_col:
        chart(figs.linearity_figure(lin, scene.eps, talk=talk), "linearity")
    st.caption("Measured and predicted agree to float precision: for a linear model the argument "
               "is exact. Clipped to [0, 1] the fall is smaller, because pixels already at 0 "
               "cannot get darker.")
    chart(figs.dimension_figure(lin, scene.eps, talk=talk), "dimension")

# --- 5. attacks give upper bounds --------------------------------------------------------------

st.header("5 · Attacks give upper bounds")
ub = ui.how_upper_bounds(scene.ball, scene.steps)
text, fig_col = st.columns([2, 3], gap="large")
with text:
    st.markdown(
        "An attack that fails proves nothing: another attack, or a luckier start, might have "
        "succeeded. So the accuracy an attack leaves is only an **upper bound** on robust "
        "accuracy. A **certificate** (here CROWN, a linear relaxation of every ReLU) proves "
        "that no point of the ε-ball changes the class: a **lower bound**. On the 2-D moons "
        "model of section 3 the truth between them can be computed exactly: the network is "
        "piecewise linear, so its boundary is a set of line segments, and each point's "
        "distance ε* to them is closed-form.")
    st.latex(r"\text{certified} \;\le\; \text{true} \;\le\; \text{any attack}")
    st.markdown(
        f"At ε = {ub.eps:g} (section 3's ball, L∞) on the 200 moons points:\n"
        f"- clean: **{ub.clean:.1%}**\n"
        f"- FGSM leaves **{ub.fgsm_now:.1%}**, PGD-{ub.steps} with {ub.restarts} random "
        f"restarts **{ub.pgd_now:.1%}** (upper bounds)\n"
        f"- the exact answer: **{ub.exact_now:.1%}**\n"
        f"- certified by CROWN: **{ub.certified_now:.1%}** (a lower bound)")
with fig_col:
    def as_curve(name: str, values: np.ndarray) -> AccuracyCurve:
        return AccuracyCurve(name, ub.epsilons, values)

    now = {"fgsm": ub.fgsm_now, "pgd": ub.pgd_now}
    once = float(ub.pgd_once[abs(ub.epsilons - ub.eps).argmin()])
    chart(curve_figs.curve_figure(
        [("FGSM", as_curve("fgsm", ub.fgsm), now["fgsm"]),
         (f"PGD-{ub.steps}, one start", as_curve("pgd", ub.pgd_once), once),
         (f"PGD-{ub.steps}, {ub.restarts} restarts", as_curve("pgd", ub.pgd), now["pgd"])],
        eps=ub.eps, talk=talk,
        bounds=[("certified (CROWN)", AccuracyCurve("certified", ub.fine_epsilons,
                                                    ub.certified), ub.certified_now),
                ("exact", AccuracyCurve("exact", ub.fine_epsilons, ub.exact), ub.exact_now)]),
          "sandwich")
missed = len(ub.missed)
gap = ub.pgd_now - ub.exact_now
if missed:
    where = ", ".join(f"#{i} (ε* = {e:.3f}, {share:.1%} of its square flips)"
                      for i, e, share in zip(ub.missed[:4], ub.missed_eps_star[:4],
                                             ub.flip_share[:4], strict=True))
    st.markdown(
        f"**Why restarts still miss.** Even {ub.restarts} restarts leave **{missed} point"
        f"{'s' * (missed != 1)}** that can be flipped at this ε unflipped ({gap:.1%} of the "
        f"accuracy): {where}{'…' if missed > 4 else ''}. A random start only helps if it "
        "lands where the loss leads across the boundary, and when ε is just above a point's "
        "ε* the part of its square on the wrong side is a thin sliver near one edge or "
        "corner: a uniform start rarely lands in it, and steps of α = 2.5ε/steps, pushed "
        "along the sign of the gradient towards wherever the loss grows fastest, step over "
        "it or head for a different, farther part of the boundary.")
else:
    st.markdown(
        f"**Why restarts can still miss.** Here {ub.restarts} restarts find every point that "
        "can be flipped, but nothing says so except the exact answer: move ε or the steps "
        "in section 3 and points reappear that PGD misses. A random start only helps if it "
        "lands where the loss leads across the boundary; when ε is just above a point's ε* "
        "the wrong side of its square is a thin sliver that a uniform start rarely hits.")
st.caption("Beyond two dimensions the exact answer is a hard (NP-complete) problem for ReLU "
           "networks (Katz et al. 2017), which is why papers report an attack's number, the "
           "upper bound, and a strong one: AutoAttack's ensemble, not one PGD run. On /boundary, "
           "the Ground truth switch shows this for any model you train.")

# --- 6. the mistakes this tool guards against -------------------------------------------------

st.header("6 · The mistakes this tool guards against")
st.markdown("Each of these runs without an error message and gives wrong numbers. Below is "
            "what each one looks like, with a check that catches it; `advcore.playground.mistakes."
            "run_checks` runs the same checks on your own model and inputs.")

if model is not None:
    st.markdown("**The badges for the digit and model above:**")
    ui.sanity_badges(model, ui.how_digit(scene.index), eps=scene.eps)

tabs = st.tabs(["Training mode", "Normalised, then clipped", "Softmax as logits", "ε units"])
with tabs[0]:
    dropout_name = "mnist-cnn"
    cnn = ui.pretrained_or_warn(dropout_name)
    if cnn is not None:
        demo = ui.how_train_mode(dropout_name, scene.index)
        if demo.differs:
            st.markdown(
                f"`{dropout_name}` has dropout. Left in training mode (`model.train()`, the "
                "default after building a model) it draws a new dropout mask at every call: the "
                "same digit gets different logits each time, and the attack aims at a moving "
                f"target. Between two training-mode calls **{demo.sign_flips:.0%} of the pixels "
                "of sign(∇ₓL) flip**: the FGSM direction itself is partly noise. Call "
                "`model.eval()`; the attacks here warn rather than switch the mode for you."
            )
        else:
            st.markdown(
                f"`{dropout_name}` has no dropout or batch norm, so training mode changes nothing "
                "here, but the check still flags it: the next version of the model may have "
                "them, and then every call gives a different answer. Call `model.eval()`."
            )
        chart(figs.train_mode_figure(demo, talk=talk), "trainmode")
        ui.render_checks(demo.checks, names=("as shipped", "after model.train()"))
with tabs[1]:
    if model is not None:
        clip = ui.how_clip(scene.model, scene.index)
        st.markdown(
            "Normalising with MNIST's mean and std (0.1307, 0.3081) moves pixels outside "
            "[0, 1]. Clipping them back \"to keep the image valid\" pins most of the ink at 1 "
            "and deletes faint strokes. Keep the raw [0, 1] image, attack it, clip *it*, and "
            "normalise inside the model."
        )
        chart(figs.clip_figure(clip, talk=talk), "clip")
        ui.render_checks(clip.checks, names=("raw", "normalised", "then clipped"))
with tabs[2]:
    if model is not None:
        soft = ui.how_softmax(scene.model, scene.index)
        st.markdown(
            "Cross-entropy applies its own softmax. Fed probabilities, it applies a second one, "
            "and the loss is trapped between log(1 + 9/e) = 1.46 and log(e + 9) = 2.46: it "
            "barely reacts to the attack, so a loss-driven step size or a stopping rule is blind."
        )
        chart(figs.softmax_figure(soft, talk=talk), "softmax")
        st.markdown(
            f"At ε = 0, ‖∇ₓL‖₂ is {soft.grad_norm_right:.3g} from logits and "
            f"{soft.grad_norm_wrong:.3g} from probabilities "
            f"(×{soft.grad_norm_wrong / max(soft.grad_norm_right, 1e-30):.2g}); "
            f"{soft.sign_agreement:.0%} of the pixels keep their sign and "
            f"{soft.zero_share:.0%} get a gradient of exactly 0."
        )
        ui.render_checks(soft.checks, names=("model(x)", "softmax(model(x))"))
with tabs[3]:
    if model is not None:
        units = ui.how_eps_units(scene.model, scene.index)
        st.markdown(
            "Papers quote ε on different scales. MNIST papers use the [0, 1] pixel scale "
            "(0.3); CIFAR and ImageNet papers use 0–255 grey levels (8, meaning 8/255 = 0.031). "
            "The same word, budgets ten times apart:"
        )
        st.dataframe(
            {"where": [w for w, _ in mistakes.EPS_CONVENTIONS],
             "ε on [0, 1]": [f"{e:.4f}" for _, e in mistakes.EPS_CONVENTIONS],
             "in grey levels": [f"{e * 255:.1f}/255" for _, e in mistakes.EPS_CONVENTIONS]},
            hide_index=True, width="stretch",
        )
        chart(figs.eps_units_figure(units, talk=talk), "units")
        ui.render_checks([*units.checks, mistakes.check_eps_units(8.0)],
                         names=("ε = 8/255", "ε = 0.3", "ε = 8"))

# --- 7. how evaluations fool themselves --------------------------------------------------------

st.header("7 · How evaluations fool themselves")
st.markdown(
    "Every number on this page is an upper bound found by an attack, and an attack can fail for "
    "the wrong reason. A common mistake is to wrap a model in something that hides its gradient "
    "(rounding the input, a saturated softmax, random noise) and read PGD's failure as "
    "robustness: the gradient is zero or random, so PGD cannot move, yet the model is as easy "
    "to fool as before. Athalye, Carlini & Wagner (2018) broke most of the defences of ICLR 2018 "
    "this way. Sanity checks catch it, and the right attack (BPDA, EOT, a black-box attack) "
    "shows the worst case.")
# An absolute path: this page also runs on its own (AppTest), outside app.py's navigation.
masking_page = st.Page(__file__.removesuffix("how-it-works.py") + "masking.py",
                       title="Masking lab", url_path="masking")
st.page_link(masking_page, label="**Masking lab**: three fake defences, what the naive "
             "evaluation claims and the worst case", icon=":material/visibility_off:")

st.divider()
st.caption("Sources: Goodfellow, Shlens & Szegedy, *Explaining and Harnessing Adversarial "
           "Examples*, ICLR 2015; Madry et al., *Towards Deep Learning Models Resistant to "
           "Adversarial Attacks*, ICLR 2018. Gradient images use a diverging scale: red raises "
           "the loss, blue lowers it.")
