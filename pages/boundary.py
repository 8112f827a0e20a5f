"""The boundary page (/boundary): watch 2-D points cross a classifier's decision boundary as ε grows.

A thin view: read the widgets into a `BoundaryScene`, ask the cached helpers in pages/ui.py (which
call advcore.playground.boundary) for the model, grid, attack and curve, draw advcore.playground.figures.boundary
figures. The scene lives in the URL, the clicked point included (`point`, -1 = none), and so do
the ground-truth switch (`truth`) and the visitor's added points (`add=x,y,class;…`).

Ground truth (advcore.exact, advcore.certify) is computed once per model and norm, so moving ε
with it on costs nothing extra. With "Add points" on, an invisible grid of click targets covers
the map: a click on an empty place adds a point of the chosen class there, and the model is
retrained on the dataset plus the added points (they are part of the training key).

Moving ε, the attack or the steps, or clicking a point, reruns only the `attack_view` fragment:
the sidebar, the data and the trained model stay put, and the figure goes to the browser as a
prebuilt, unvalidated Plotly dict (advcore.playground.figures.boundary.LeanFigure).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np
import streamlit as st

from advcore.attacks import ATTACKS
from advcore.data import TOY_DATASETS
from advcore.models import TOY_MODELS
from advcore.playground import state
from advcore.playground.boundary import queries_of, training_attack, training_key, with_added
from advcore.playground.figures import boundary as figs
from pages import chart, ui

Scene = state.BoundaryScene
ss = st.session_state
NO_CHART_BAR = {"displayModeBar": False}
FIELDS = ("dataset", "n", "noise", "seed", "model", "width", "depth", "attack", "eps", "steps",
          "robust", "talk", "truth", "add")


key, rng = ui.BOUNDARY.key, ui.BOUNDARY.bounds
EPS_STEP = 0.05  # one arrow-key press on the ε slider; the previews are one and two away
EPS_SLIDER = ui.BOUNDARY.control_selectors("eps")[0]  # its container, which the previews watch


# --- the scene: URL -> widgets (first run of a session) -> scene -> URL ---------------------------

url_scene = ui.BOUNDARY.from_url()
ui.BOUNDARY.seed(url_scene, FIELDS)
if key("selected") not in ss:  # first run of the session: the URL's point is the selection
    shown = url_scene.n + len(url_scene.add)
    if url_scene.point >= shown:
        st.warning(f"URL parameter point={url_scene.point} is not one of the {shown} "
                   f"points (0 to {shown - 1}); no point is selected.", icon="⚠️")
    ss[key("selected")] = url_scene.point if 0 <= url_scene.point < shown else None

st.title("Decision boundary")

with st.sidebar:
    st.subheader("Data")
    st.selectbox("Dataset", tuple(TOY_DATASETS), format_func=TOY_DATASETS.get,
                 key=key("dataset"))
    st.slider("Points", *rng("n"), step=10, key=key("n"))
    st.slider("Noise", *rng("noise"), step=0.01, key=key("noise"))
    st.number_input("Seed", *rng("seed"), step=1, key=key("seed"),
                    help="Fixes the points, the initial weights and any random start.")
    st.subheader("Model")
    st.segmented_control("Model", tuple(TOY_MODELS), format_func=TOY_MODELS.get,
                         required=True, key=key("model"))
    linear = ss[key("model")] == "linear"
    st.slider("Width (hidden units)", *rng("width"), key=key("width"), disabled=linear)
    st.slider("Depth (hidden layers)", *rng("depth"), key=key("depth"), disabled=linear)
    st.toggle("Talk mode (bigger text for a projector)", key=key("talk"))

ui.talk_mode(ss[key("talk")])
X, y = with_added(*ui.toy_data(ss[key("dataset")], ss[key("n")], ss[key("noise")],
                               ss[key("seed")]), ss[key("add")])


def chart_key(i: int) -> str:
    """The key of figure i; "Clear selection" bumps the generation to drop its selection."""
    return key(f"fig{i}.{ss.get(key('generation'), 0)}")


def clear_selection() -> None:
    """"Clear selection": no point, and a new chart key so the old click event is dropped.
    A callback, so the (fragment or full) rerun that follows the click already sees it."""
    ss[key("selected")] = None
    ss[key("generation")] = ss.get(key("generation"), 0) + 1


def selected_point(event: Any) -> int | None:
    """The index of the clicked point from a plotly selection event, if any."""
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    for p in points:
        cd = p.get("customdata")
        if isinstance(cd, list | tuple):
            cd = cd[0] if cd else None
        if cd is not None:
            return int(cd)
    return None


def attack_controls(*, with_eps: bool, with_rest: bool, columns: bool = False) -> None:
    """The attack, ε, steps and side-by-side controls; in talk mode ε stays above the figure
    (the one control a speaker moves) and the rest is tucked into the collapsed sidebar.
    columns: lay the four out in one row (the normal page), else one under the other."""
    if columns:
        c_attack, c_eps, c_steps, c_robust = st.columns([1.6, 2, 1.4, 1.8],
                                                        vertical_alignment="bottom")
    else:
        c_attack = c_eps = c_steps = c_robust = st.container()
    spec = ATTACKS[ss[key("attack")]]
    if with_rest:
        # The 2-D models have two classes: attacks that need more (APGD-DLR) are not offered.
        c_attack.selectbox("Attack", [a for a in state.BOUNDARY_ATTACKS
                                      if ATTACKS[a].min_classes <= 2],
                           format_func=lambda a: ATTACKS[a].label, key=key("attack"),
                           help="Square and HopSkipJump are black-box: they never read a "
                                "gradient, only the model's scores (Square) or its predicted "
                                "label (HopSkipJump), and the animation counts their queries.")
        spec = ATTACKS[ss[key("attack")]]
    if with_eps:
        norm_name = "L∞" if spec.norm == "linf" else "L2"
        c_eps.slider(f"ε ({norm_name} radius, feature units)", *rng("eps"), step=EPS_STEP,
                     key=key("eps"),
                     help="How far each point may move: a square of half-side ε for L∞ "
                          "attacks, a disc of radius ε for L2 attacks. DeepFool stops at the "
                          "boundary; ε caps it.")
    if with_rest:
        budget = queries_of(spec.name)
        c_steps.slider("Steps", *rng("steps"), key=key("steps"),
                       disabled=not spec.iterative or spec.black_box,
                       help="Iterations of BIM/PGD/DeepFool. FGSM takes one step."
                            + (f" {spec.label} takes no steps: it has a budget of {budget:,} "
                               "queries per point." if budget else ""))
        c_robust.toggle("Side by side: adversarially trained", key=key("robust"),
                        help="Also train the same network on each point's adversarial version "
                             "(the chosen attack at this ε): adversarial examples as data "
                             "augmentation.")


def clear_added() -> None:
    """"Clear added points": back to the dataset (and no selection of a point now gone)."""
    ss[key("add")] = ()
    if (ss.get(key("selected")) or 0) >= ss[key("n")]:
        ss[key("selected")] = None
    ss[key("generation")] = ss.get(key("generation"), 0) + 1


def truth_controls(*, columns: bool = False) -> None:
    """The ground-truth switch and the add-points switch, class and clear button."""
    if columns:
        c_truth, c_add, c_class, c_clear = st.columns([1.6, 1.2, 1.4, 1.8],
                                                      vertical_alignment="center")
    else:
        c_truth = c_add = c_class = c_clear = st.container()
    c_truth.toggle("Ground truth", key=key("truth"),
                   help="Each point's exact smallest flipping ε (the boundary is piecewise "
                        "linear, so it is computed exactly) and the radius CROWN certifies: "
                        "certified ≤ exact ≤ what any attack finds.")
    c_add.toggle("Add points", key=key("add", "on"),
                 help="Click an empty place on the map to add a point of the chosen class; "
                      f"up to {state.MAX_ADDED_POINTS}, kept in the URL. The model is retrained "
                      "on the dataset plus your points.")
    if ss.get(key("add", "on")):
        c_class.segmented_control("Class of new points", (0, 1), format_func=lambda c:
                                  f"class {c}", required=True, key=key("add", "class"),
                                  label_visibility="collapsed")
    if c_clear.button(f"Clear added points ({len(ss[key('add')])})", key=key("add", "clear"),
                      icon=":material/delete:", disabled=not ss[key("add")]):
        clear_added()
        st.rerun()  # the whole page, fragment or not: the data, and so the model, changed


TALK = bool(ss[key("talk")])
if key("add", "class") not in ss:
    ss[key("add", "class")] = 0
if TALK:  # the sidebar is outside the fragment: changing these reruns the page, as they should
    with st.sidebar:
        st.subheader("Attack")
        attack_controls(with_eps=False, with_rest=True)
        st.subheader("Ground truth and your points")
        truth_controls()


def clicked_place(event: Any) -> tuple[float, float] | None:
    """The (x, y) of a click on the invisible click grid (no customdata), if any."""
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    for p in points:
        if p.get("customdata") is None and "x" in p and "y" in p:
            return float(p["x"]), float(p["y"])
    return None


def add_point(place: tuple[float, float], spacing: float) -> int | None:
    """Add a point of the chosen class at `place`, unless a point is already there: then
    return that point's index to select it (a click near a point means the point)."""
    near = np.abs(X - np.asarray(place, dtype=X.dtype)).max(1)
    if len(near) and near.min() <= 1.5 * spacing:
        return int(near.argmin())
    if len(ss[key("add")]) >= state.MAX_ADDED_POINTS:
        st.toast(f"At most {state.MAX_ADDED_POINTS} added points; clear some first.",
                 icon=":material/block:")
        return None
    x, y_ = (round(v, state.POINT_DECIMALS) + 0.0 for v in place)
    ss[key("add")] = (*ss[key("add")], (x, y_, int(ss.get(key("add", "class"), 0))))
    ss[key("selected")] = len(X)  # the new point, once the page has rerun with it
    ss[key("generation")] = ss.get(key("generation"), 0) + 1
    st.rerun()  # the whole page: the data, and so the model, changed
    return None


# --- the attack view: what moving ε or clicking a point reruns ----------------------------------


class Variant(NamedTuple):
    """One trained model of the view: its label, training spec, grid and attacked points."""

    label: str
    key: Any
    grid: Any
    attacked: Any


def variants_of(scene: Scene, spec: Any) -> list[Variant]:
    """The standard model, and with `robust` the adversarially trained one beside it (each
    part cached on its own key)."""
    keys = [("Standard training", training_key(scene, robust=False))]
    if scene.robust:
        if scene.eps > 0:
            crafted = ATTACKS[training_attack(spec.name)].label
            keys.append((f"Adversarially trained ({crafted}, ε = {scene.eps:g})",
                         training_key(scene, robust=True)))
        else:
            st.info("At ε = 0 adversarial training is plain training: raise ε to compare.",
                    icon=":material/info:")
    return [Variant(label, k, ui.boundary_grid(k),
                    ui.boundary_attack(k, scene.attack, scene.eps, scene.steps))
            for label, k in keys]


def chosen_point(results: list[Variant], adding: bool) -> int | None:
    """The selected point after this run's clicks: a click on either figure selects the same
    point in both (same data, same index); with "Add points" on, a click on an empty place
    adds a point there."""
    chosen = ss.get(key("selected"))
    for i, result in enumerate(results):
        picked = selected_point(ss.get(chart_key(i)))
        if picked is not None and picked < len(X):
            chosen = picked
        place = clicked_place(ss.get(chart_key(i))) if adding else None
        if place is not None:
            gx = result.grid.gx
            near = add_point(place, float(gx[-1] - gx[0]) / (figs.CLICK_GRID - 1))
            chosen = near if near is not None else chosen
    return None if chosen is not None and chosen >= len(X) else chosen


def norm_name(spec: Any) -> str:
    return "L∞" if spec.norm == "linf" else "L2"


def explain_picture(scene: Scene, spec: Any) -> None:
    """What the figure shows, in words (a speaker says this; the projector shows the picture)."""
    st.caption(
        f"Background: the model's probability of class 1 (blue = class 0, orange = class "
        f"1); black line: its decision boundary (P = 0.5). Each point has been pushed by "
        f"**{spec.label}** ({spec.paper}) within ε = {scene.eps:g} ({norm_name(spec)}); red "
        "rings mark points it flipped from right to wrong. Press **▶ Play** or drag the frame "
        "slider to watch them move"
        + (" and count the queries it spends" if spec.black_box else "")
        + "; click a point to see its ε-ball, "
        + ("its first query's move" if spec.black_box else "gradient direction")
        + " and path.")
    if scene.truth:
        st.caption(
            f"Ground truth: hover a point for its exact ε* (the distance to the nearest "
            f"boundary point, {norm_name(spec)}) and the radius CROWN certifies. Purple "
            f"diamonds mark points {spec.label} left correct though a flip within ε exists; a "
            "clicked point shows its optimal adversarial point (purple star) and its "
            "certified ε-ball (teal).")


def query_count(spec: Any, attacked: Any, i: int = 0) -> None:
    """A black-box attack's cost: the queries it made, in all and per point, beside its
    budget (the animation's title counts them frame by frame)."""
    q = attacked.queries
    if q is None:
        return
    reads = ("the model's scores only" if spec.access == "scores"
             else "only the model's predicted label")
    with st.container(key=key(f"queries{i}")):
        st.metric("Queries of the model", f"{int(q.sum()):,}",
                  help=f"Model calls {spec.label} made, summed over the {len(q)} points: "
                       f"{q.mean():,.0f} per point on average, at most {int(q.max()):,} "
                       f"(its budget is {queries_of(spec.name):,} per point).")
        st.caption(f"{spec.label} read {reads}, never a gradient: "
                   f"{int(q.sum()):,} queries in all, {q.mean():,.0f} per point "
                   f"(budget {queries_of(spec.name):,}). ▶ Play counts them as it goes.")


def versus_fgsm(scene: Scene, spec: Any, k: Any, attacked: Any) -> None:
    """For an iterative L∞ attack, FGSM's count at the same ε beside its own: the one
    number that says what the extra steps bought."""
    if not spec.iterative or spec.black_box or spec.norm != "linf" or scene.eps == 0:
        return
    one_step = ui.boundary_attack(k, "fgsm", scene.eps, scene.steps)
    more = attacked.flipped_count - one_step.flipped_count
    st.caption(f"FGSM, one step at the same ε, flips {one_step.flipped_count}; "
               f"{spec.label} with {scene.steps} steps flips {attacked.flipped_count} "
               f"({more:+d}).")


def curve_note(*shown: Any) -> None:
    """An accuracy curve that rises again is the attack's failure: say so, once."""
    if any(np.any(np.diff(np.asarray(c.accuracy)) > 0.01) for c in shown):
        st.caption("Where the curve rises again at larger ε, the attack is failing, not the "
                   "model getting stronger: a big step overshoots the curved boundary and "
                   "lands back on the right side. The true robust accuracy can only fall "
                   "as ε grows: any point that can be flipped within ε can be flipped "
                   "within a larger ε.")


def metrics(scene: Scene, spec: Any, attacked: Any, n: int, truth: Any = None,
            i: int = 0) -> None:
    """Clean and adversarial accuracy, flipped count and mean ‖δ‖ as four st.metric tiles;
    with ground truth the true robust and the certified accuracy instead of the last two,
    and how many points the attack missed (i: the variant's column)."""
    m = st.columns(2)
    m[0].metric("Clean accuracy", f"{attacked.clean_accuracy:.1%}")
    m[1].metric(f"{spec.label} accuracy" if truth is not None else "Adversarial accuracy",
                f"{attacked.adversarial_accuracy:.1%}",
                delta=f"{attacked.adversarial_accuracy - attacked.clean_accuracy:+.1%}",
                help="Accuracy on the attack's output: an upper bound on robust accuracy.")
    m = st.columns(2)
    if truth is not None:
        m[0].metric("True robust accuracy", f"{truth.exact_accuracy(scene.eps):.1%}",
                    help="The share of points whose exact ε* exceeds ε: no perturbation "
                         "within ε flips them.")
        m[1].metric("Certified accuracy",
                    f"{truth.certified_accuracy(scene.eps):.1%}",
                    help="The share of points a CROWN bound (a linear relaxation of every "
                         "ReLU) proves safe at ε: a lower bound on robust accuracy.")
        missed = int(truth.missed(attacked).sum())
        if scene.eps == 0:
            return
        closeness(spec, attacked, truth, i)
        if missed:
            st.markdown(f"**{spec.label} misses {missed} point{'s' * (missed != 1)} that "
                        f"can be flipped at this ε.**")
        else:
            st.markdown(f"**{spec.label} finds every point that can be flipped at this ε.**")
        return
    m[0].metric("Flipped", f"{attacked.flipped_count} / {n}",
                help="Points classified correctly before the attack and wrongly after it.")
    m[1].metric(f"Mean ‖δ‖ ({norm_name(spec)})", f"{attacked.mean_perturbation:.3f}",
                help="Average distance each point moved, in the attack's norm (feature "
                     "units).")


def closeness(spec: Any, attacked: Any, truth: Any, i: int = 0) -> None:
    """How close the attack's distances come to the exact minimum, over what it flipped."""
    n, found, star = truth.found_vs_exact(attacked)
    if n == 0:
        return
    what = ("It looks for the smallest change, so the gap is what it left on the table."
            if spec.minimal else
            "It stops at the first success inside the ε-ball, not at the smallest change.")
    with st.container(key=key(f"closeness{i}")):
        st.markdown(f"{spec.label} found **{found:.3f}** on average over the {n} points it "
                    f"flipped; the exact minimum for those points is **{star:.3f}** "
                    f"({norm_name(spec)}). {what}")


def point_details(scene: Scene, spec: Any, results: list[Variant], truths: list[Any],
                  i: int) -> None:
    """The clicked point's probabilities before and after, and what the arrow shows."""
    added = " · added by you" if i >= scene.n else ""
    st.markdown(f"#### Point #{i} (class {int(y[i])}{added})")
    for result, truth in zip(results, truths, strict=True):
        if len(results) > 1:
            st.markdown(f"**{result.label}**")
        st.dataframe(figs.point_table(result.attacked, i), hide_index=True, width="stretch")
        if truth is not None:
            st.dataframe(figs.truth_table(result.attacked, truth, i), hide_index=True,
                         width="stretch")
    d = results[0].attacked.direction[i]
    what = ("of its first query (it reads no gradient)" if spec.black_box else
            "ε·sign(∇ₓL)" if spec.norm == "linf" else "ε·∇ₓL / ‖∇ₓL‖₂")
    shape = "square" if spec.norm == "linf" else "circle"
    st.caption(f"Arrow: the first step {what} = ({d[0]:+.2f}, {d[1]:+.2f}) at the clean "
               f"point; dotted {shape}: every position within ε = {scene.eps:g}; black line: "
               "the path the attack took.")
    if truths[0] is not None:
        st.caption(f"Purple star, dashed: the optimal adversarial point, the nearest point on "
                   f"the boundary (ε* away, exactly); teal {shape}: the radius CROWN "
                   "certifies, inside which no point changes class.")
    st.button("Clear selection", key=key("point", "clear"), icon=":material/close:",
              on_click=clear_selection)


def map_spec(scene: Scene, result: Variant, truth: Any, *, prefix: str, chosen: int | None,
             adding: bool, height: int, frames: bool = True) -> dict[str, Any]:
    """The map of `result` (its attack at its own ε), the points as the attack moved them."""
    return figs.boundary_spec(X, result.grid, result.attacked, selected=chosen,
                              talk=scene.talk, title_prefix=prefix, height=height, truth=truth,
                              clickable=adding, frames=frames)


def boundary_chart(scene: Scene, result: Variant, truth: Any, i: int, *, prefix: str,
                   chosen: int | None, adding: bool, height: int,
                   near: dict[float, Variant] | None = None) -> dict[str, Any] | None:
    """Figure i: the map, the points as the attack moved them, the selection; with `near`
    (the same model attacked at the neighbouring ε values) the browser moves the points the
    moment ε changes, before this page has answered (pages/chart.py's preview). Returns that
    preview (None without one)."""
    how = dict(prefix=prefix, chosen=chosen, adding=adding, height=height)
    spec_now = map_spec(scene, result, truth, **how)
    preview = chart.previews(EPS_SLIDER, scene.eps, {
        e: map_spec(scene, r, truth, frames=False, **how) for e, r in (near or {}).items()},
        spec_now) if near else None
    chart.chart(figs.LeanFigure(spec_now), on_select="rerun", selection_mode="points",
                key=chart_key(i), config=NO_CHART_BAR, preview=preview)
    return preview


def nearby(scene: Scene, result: Variant) -> dict[float, Variant]:
    """`result`'s model attacked at the ε values one and two slider steps either side (each
    attack cached: stepping on, all but the farthest were computed one step earlier).

    Only the standard model: the adversarially trained one is trained at ε itself, and a
    model per neighbour is seconds of training, so the side-by-side view has no preview
    (neither map moves early rather than one). Nor with ADVPLAY_CHART=native, which has no
    preview to draw."""
    if chart.native():
        return {}
    return {e: result._replace(attacked=ui.boundary_attack(result.key, scene.attack, e,
                                                           scene.steps))
            for e in chart.neighbours(scene.eps, EPS_STEP, *rng("eps"))}


def accuracy_curves(scene: Scene, spec: Any, results: list[Variant], truths: list[Any],
                    lines: tuple[list[Any], tuple[Any, ...]] | None = None
                    ) -> tuple[Any, list[Any], tuple[list[Any], tuple[Any, ...]]]:
    """The accuracy-vs-ε figure of every variant (with ground truth, the certified and exact
    curves of the standard model beside it) as a figure dict, the attack's curves themselves,
    and all the curves (pass them back as `lines` to draw the same curves at another ε)."""
    if lines is None:
        lines = ([ui.boundary_curve(r.key, scene.attack, scene.steps) for r in results],
                 truths[0].curves() if truths[0] is not None else ())
    attack_curves, truth_curves = lines
    curves = [(spec.label if scene.truth and len(results) == 1 else r.label, c,
               r.attacked.adversarial_accuracy)
              for r, c in zip(results, attack_curves, strict=True)]
    bounds = []
    if truth_curves:  # the sandwich, for the standard model
        exact_curve, certified_curve = truth_curves
        bounds = [("certified (CROWN)", certified_curve,
                   truths[0].certified_accuracy(scene.eps)),
                  ("exact (true robust accuracy)", exact_curve,
                   truths[0].exact_accuracy(scene.eps))]
    fig = figs.curve_spec(curves, eps=scene.eps, talk=scene.talk, bounds=bounds)
    return fig, attack_curves, lines


HINT = ("Click a point in the figure to see its ε-ball, its gradient-sign arrow, its path "
        "and its probabilities before and after.")


def selection_or_hint(scene: Scene, spec: Any, results: list[Variant], truths: list[Any],
                      chosen: int | None) -> None:
    if chosen is None:
        st.info(HINT, icon=":material/touch_app:")
    else:
        point_details(scene, spec, results, truths, chosen)


def one_model(scene: Scene, spec: Any, result: Variant, truth: Any, chosen: int | None,
              adding: bool) -> None:
    """The standard model alone: the map on the left, numbers, curve and point on the right."""
    curve_fig, curves, lines = accuracy_curves(scene, spec, [result], [truth])
    near = nearby(scene, result)
    left, right = st.columns([3, 2], gap="medium")
    with left:
        map_preview = boundary_chart(scene, result, truth, 0, prefix="", chosen=chosen,
                                     adding=adding, height=520 if scene.talk else 680,
                                     near=near)
    # The accuracy curve's ε marker moves with the map's points, at the same ε values only:
    # where the map has no quick diff (a figure that changes more than points, names and
    # shapes), it waits for the server, and so does the curve.
    curve_preview = chart.previews(EPS_SLIDER, scene.eps, {
        e: accuracy_curves(dataclasses.replace(scene, eps=e), spec, [r], [truth], lines)[0]
        for e, r in near.items() if f"{e:g}" in map_preview["values"]},
        curve_fig) if map_preview else None
    with right:
        metrics(scene, spec, result.attacked, len(y), truth)
        query_count(spec, result.attacked)
        versus_fgsm(scene, spec, result.key, result.attacked)
        chart.chart(figs.LeanFigure(curve_fig), key=key("curve"), config=NO_CHART_BAR,
                    preview=curve_preview)
        if not scene.talk:
            curve_note(*curves)
        selection_or_hint(scene, spec, [result], [truth], chosen)


def side_by_side(scene: Scene, spec: Any, results: list[Variant], truths: list[Any],
                 chosen: int | None, adding: bool) -> None:
    """The standard and the adversarially trained model side by side, and what training on
    adversarial examples bought."""
    curve_fig, curves, _ = accuracy_curves(scene, spec, results, truths)
    cols = st.columns(2, gap="medium")
    for i, (result, truth, col) in enumerate(zip(results, truths, cols, strict=True)):
        with col:
            boundary_chart(scene, result, truth, i,
                           prefix="Standard · " if i == 0 else "Adv. trained · ",
                           chosen=chosen, adding=adding, height=640)
            st.markdown(f"**{result.label}**")
            metrics(scene, spec, result.attacked, len(y), truth, i)
            query_count(spec, result.attacked, i)
    std, adv = results[0].attacked, results[1].attacked
    st.success(f"Adversarial training at ε = {scene.eps:g}: accuracy under {spec.label} goes "
               f"from {std.adversarial_accuracy:.0%} to {adv.adversarial_accuracy:.0%} "
               f"(clean: {std.clean_accuracy:.0%} → {adv.clean_accuracy:.0%}). The boundary "
               "moves away from the points: adversarial examples used as training data.",
               icon=":material/shield:")
    left, right = st.columns(2, gap="medium")
    with left:
        chart.chart(figs.LeanFigure(curve_fig), key=key("curve"), config=NO_CHART_BAR)
        curve_note(*curves)
    with right:
        selection_or_hint(scene, spec, results, truths, chosen)


@st.fragment
def attack_view() -> None:
    """The attack controls, the figure(s), metrics, curve and the clicked point: what moving ε
    or clicking a point changes, rerun on its own (st.fragment); it keeps the URL in sync."""
    attack_controls(with_eps=True, with_rest=not TALK, columns=not TALK)
    if not TALK:
        truth_controls(columns=True)
    spec = ATTACKS[ss[key("attack")]]
    scene = ui.BOUNDARY.read(FIELDS)
    results = variants_of(scene, spec)
    truths = [ui.boundary_truth(r.key, spec.norm) if scene.truth else None for r in results]
    adding = bool(ss.get(key("add", "on")))
    chosen = ss[key("selected")] = chosen_point(results, adding)
    scene = dataclasses.replace(scene, point=-1 if chosen is None else chosen)
    ui.write_url(scene)  # a click, like ε, is part of the scene: a link reopens it highlighted

    if not scene.talk:
        explain_picture(scene, spec)
    if len(results) == 1:
        one_model(scene, spec, results[0], truths[0], chosen, adding)
    else:
        side_by_side(scene, spec, results, truths, chosen, adding)
    slides(scene, results[0])


def slides(scene: Scene, result: Variant) -> None:
    """This scene's animation for a talk: GIF, MP4, or the figure itself as offline HTML."""
    model = ("linear model" if scene.model == "linear"
             else f"MLP {scene.depth}×{scene.width} (ReLU)")
    what = (f"{TOY_DATASETS[scene.dataset]}, {scene.n} points, {model} · "
            f"{ATTACKS[scene.attack].label} at ε = {scene.eps:g}"
            + (f", {scene.steps} steps" if ATTACKS[scene.attack].iterative else ""))
    with st.expander("For your slides: this animation as GIF, MP4 or HTML", expanded=False):
        ui.boundary_exports(X, result.grid, result.attacked,
                            lambda: figs.boundary_spec(X, result.grid, result.attacked,
                                                       talk=False, height=620),
                            url=ui.scene_url({k: st.query_params.get(k)
                                              for k in st.query_params}), what=what)


attack_view()
