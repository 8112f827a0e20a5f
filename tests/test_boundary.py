"""advcore.playground.boundary: the grid, the animation frames, the metrics, and determinism."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from advcore.attacks import get_attack
from advcore.playground import boundary
from advcore.playground.state import BOUNDARY_ATTACKS, BoundaryScene

SCENE = BoundaryScene(n=60, width=8, depth=1)


@pytest.fixture(scope="module")
def trained():
    X, y = boundary.points_of(SCENE)
    return boundary.train_model(SCENE), X, y


def test_grid_shape_range_and_extent(trained):
    model, X, _ = trained
    g = boundary.decision_grid(model, X, resolution=40)
    assert g.prob.shape == (40, 40) and g.gx.shape == (40,) and g.gy.shape == (40,)
    assert g.prob.dtype == np.float32
    assert g.prob.min() >= 0.0 and g.prob.max() <= 1.0
    assert g.gx[0] < X[:, 0].min() and g.gx[-1] > X[:, 0].max()
    assert g.gy[0] < X[:, 1].min() and g.gy[-1] > X[:, 1].max()
    # The trained model separates the data: both classes appear on the map.
    assert g.prob.min() < 0.5 < g.prob.max()


@pytest.mark.parametrize("attack", BOUNDARY_ATTACKS)
def test_frames_start_clean_end_at_the_attack_output(trained, attack):
    model, X, y = trained
    a = boundary.attack_points(model, X, y, attack=attack, eps=0.3, steps=12, seed=0)
    assert a.frames.shape[1:] == (len(X), 2)
    assert 2 <= len(a.frames) <= boundary.MAX_FRAMES
    assert len(a.frame_label) == len(a.frames) == len(a.frame_wrong)
    np.testing.assert_allclose(a.frames[0], X, atol=1e-6)
    direct = get_attack(attack)(model, torch.from_numpy(X), torch.from_numpy(y), eps=0.3,
                                steps=12, bounds=None, seed=0,
                                queries=boundary.queries_of(attack)).numpy()
    np.testing.assert_allclose(a.frames[-1], direct, atol=1e-5)
    np.testing.assert_array_equal(a.x_adv, a.frames[-1])
    # Every point stays within its ε-ball in the attack's norm.
    assert (a.perturbation <= 0.3 + 1e-5).all()


def test_fgsm_sweeps_eps_from_zero(trained):
    model, X, y = trained
    a = boundary.attack_points(model, X, y, attack="fgsm", eps=0.4, steps=10)
    assert a.frame_eps[0] == 0 and a.frame_eps[-1] == pytest.approx(0.4)
    sizes = [np.abs(f - X).max(1).max() for f in a.frames]
    assert np.all(np.diff(sizes) >= -1e-6)


def test_metrics_are_consistent(trained):
    model, X, y = trained
    a = boundary.attack_points(model, X, y, attack="pgd", eps=0.5, steps=10)
    clean_right = a.prob_clean.argmax(1) == y
    adv_right = a.prob_adv.argmax(1) == y
    assert a.clean_accuracy == pytest.approx(clean_right.mean())
    assert a.adversarial_accuracy == pytest.approx(adv_right.mean())
    assert a.flipped_count == int((clean_right & ~adv_right).sum())
    assert a.adversarial_accuracy <= a.clean_accuracy
    assert a.mean_perturbation == pytest.approx(np.abs(a.x_adv - X).max(1).mean(), abs=1e-6)
    np.testing.assert_allclose(np.abs(a.direction), 0.5)  # ε·sign(∇ₓL) under L∞


def test_l2_direction_has_length_eps(trained):
    model, X, y = trained
    a = boundary.attack_points(model, X, y, attack="pgd-l2", eps=0.3, steps=5)
    np.testing.assert_allclose(np.linalg.norm(a.direction, axis=1), 0.3, rtol=1e-4)


def test_eps_zero_moves_nothing(trained):
    model, X, y = trained
    a = boundary.attack_points(model, X, y, attack="fgsm", eps=0.0, steps=10)
    np.testing.assert_array_equal(a.x_adv, X)
    assert a.flipped_count == 0


def test_same_scene_gives_identical_result(trained):
    # A second training from scratch gives the fixture's weights bit for bit, and the same model
    # gives the same grid, frames and curve (one extra training, not two).
    model, _, _ = trained
    again = boundary.train_model(SCENE)
    for p, q in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(p, q)
    scene = replace(SCENE, attack="pgd", eps=0.3, steps=5)
    r1, r2 = boundary.compute(scene, model=model), boundary.compute(scene, model=again)
    np.testing.assert_array_equal(r1.grid.prob, r2.grid.prob)
    np.testing.assert_array_equal(r1.attacked.frames, r2.attacked.frames)
    np.testing.assert_array_equal(r1.curve.accuracy, r2.curve.accuracy)


def test_training_key_ignores_eps_for_the_standard_model():
    a, b = BoundaryScene(eps=0.1, attack="fgsm"), BoundaryScene(eps=0.9, attack="pgd", steps=50)
    assert boundary.training_key(a) == boundary.training_key(b)
    assert boundary.training_key(a, robust=True) != boundary.training_key(b, robust=True)


def test_accuracy_curve_starts_at_clean_accuracy(trained):
    model, X, y = trained
    c = boundary.accuracy_curve(model, X, y, attack="fgsm", steps=1, epsilons=(0.0, 0.5, 1.0))
    a = boundary.attack_points(model, X, y, attack="fgsm", eps=0.5, steps=1)
    assert c.accuracy[0] == pytest.approx(a.clean_accuracy)
    assert c.accuracy[1] == pytest.approx(a.adversarial_accuracy)
    assert c.accuracy[2] <= c.accuracy[0]


def test_figure_keeps_background_out_of_frames(trained):
    from advcore.playground.figures import boundary as figs

    model, X, y = trained
    g = boundary.decision_grid(model, X, resolution=30)
    a = boundary.attack_points(model, X, y, attack="bim", eps=0.3, steps=8)
    spec = figs.boundary_spec(X, g, a, selected=3)
    # No heatmap or contour trace: a frame drops the layers of trace types it does not name.
    assert {t["type"] for t in spec["data"]} == {"scatter"}
    assert spec["layout"]["images"][0]["source"].startswith("data:image/png;base64,")
    assert spec["layout"]["images"][0]["layer"] == "below"
    assert spec["data"][0]["mode"] == "lines"  # the boundary
    assert not set(figs.ANIMATED) & {0, 1}  # the boundary and the clean positions stay put
    assert len(spec["frames"]) == len(a.frames)
    for f in spec["frames"]:
        assert list(f["traces"]) == figs.ANIMATED
        assert all(t["type"] == "scatter" for t in f["data"])
    play = spec["layout"]["updatemenus"][0]["buttons"][0]
    assert play["args"][1]["frame"]["redraw"] is True
    assert play["args"][1]["transition"]["duration"] == 0
    assert "dragmode" not in spec["layout"]  # "select" would disable click-to-select
    assert spec["layout"]["shapes"][0]["type"] == "rect"  # the L∞ ball of the selected point
    # The page's unvalidated dict is a valid Plotly figure, and what st.plotly_chart receives.
    fig = figs.boundary_figure(X, g, a, selected=3)
    assert fig.layout.shapes[0].type == "rect" and len(fig.frames) == len(a.frames)
    assert figs.LeanFigure(spec).to_dict() is spec


@pytest.mark.parametrize("talk", [False, True])
def test_curve_marks_the_current_eps_on_a_valid_plotly_figure(trained, talk):
    from advcore.playground.figures import boundary as figs

    model, X, y = trained
    c = boundary.accuracy_curve(model, X, y, attack="fgsm", steps=1, epsilons=(0.0, 0.5, 1.0))
    now = boundary.attack_points(model, X, y, attack="fgsm", eps=0.5, steps=1)
    spec = figs.curve_spec([("Standard", c, now.adversarial_accuracy)], eps=0.5, talk=talk)
    fig = figs.curve_figure([("Standard", c, now.adversarial_accuracy)], eps=0.5, talk=talk)
    # The unvalidated dict the page sends passes plotly's validation unchanged.
    assert fig.to_dict()["layout"]["shapes"][0]["x0"] == 0.5
    line, marker = spec["data"]
    assert line["y"] == pytest.approx(list(c.accuracy))
    assert marker["x"] == [0.5] and marker["y"] == [pytest.approx(now.adversarial_accuracy)]
    assert spec["layout"]["font"]["size"] == (22 if talk else 14)


# --- ground truth and added points ------------------------------------------------------------


def test_added_points_follow_the_dataset_and_enter_the_training_key():
    scene = replace(SCENE, add=((0.5, -0.25, 1), (-1.0, 1.0, 0)))
    X, y = boundary.points_of(scene)
    X0, y0 = boundary.points_of(SCENE)
    assert len(X) == len(X0) + 2 and X.dtype == X0.dtype and y.dtype == y0.dtype
    np.testing.assert_array_equal(X[:len(X0)], X0)  # a dataset point keeps its index
    assert X[-2].tolist() == [0.5, -0.25] and y[-2:].tolist() == [1, 0]
    assert boundary.training_key(scene) != boundary.training_key(SCENE)
    for robust in (False, True):
        key = boundary.training_key(replace(scene, eps=0.3), robust=robust)
        assert key.add == scene.add and key.robust is robust
        assert key.standard == boundary.training_key(scene)  # same data, same points
    assert boundary.training_key(replace(scene, eps=0.0), robust=True) == \
        boundary.training_key(scene)  # at ε = 0 adversarial training is plain training


def test_a_training_spec_trains_what_its_scene_trains():
    """The spec is a frozen, hashable key; training from it on points already at hand gives
    the very weights that training from the scene (drawing the points again) gives."""
    scene = replace(SCENE, attack="fgsm", eps=0.3)
    for robust in (False, True):
        spec = boundary.training_key(scene, robust=robust)
        assert hash(spec) == hash(boundary.training_key(replace(scene), robust=robust))
        with pytest.raises(AttributeError):
            spec.eps = 0.5  # type: ignore[misc]
        a = boundary.train_model(scene, robust=robust)
        b = boundary.train_model(spec, points=boundary.points_of(spec))
        for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
            assert torch.equal(p, q)


@pytest.fixture(scope="module")
def truth(trained):
    model, X, y = trained
    return boundary.ground_truth(model, X, y, norm="linf")


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_certified_below_exact_below_every_attack(trained, truth, attack):
    model, X, y = trained
    assert (truth.certified <= truth.eps_star + 1e-9).all()
    for eps in (0.1, 0.3, 0.6):
        a = boundary.attack_points(model, X, y, attack=attack, eps=eps, steps=10)
        assert truth.certified_accuracy(eps) <= truth.exact_accuracy(eps) + 1e-12
        assert truth.exact_accuracy(eps) <= a.adversarial_accuracy + 1e-12
        # The gap is exactly the points the attack missed.
        missed = truth.missed(a)
        assert a.adversarial_accuracy - truth.exact_accuracy(eps) == pytest.approx(
            missed.sum() / len(y))
    # The optimal adversarial point lies at distance ε* and on the boundary.
    ok = (truth.eps_star > 0) & np.isfinite(truth.eps_star)
    gap = np.abs(truth.x_star[ok] - X[ok]).max(1)
    np.testing.assert_allclose(gap, truth.eps_star[ok], rtol=1e-6, atol=1e-9)
    with torch.no_grad():
        logits = model(torch.from_numpy(truth.x_star[ok].astype(np.float32))).numpy()
    assert np.abs(logits[:, 1] - logits[:, 0]).max() < 1e-3


def test_truth_curves_are_steps_that_never_rise(truth):
    exact_curve, certified_curve = truth.curves()
    assert exact_curve.attack == "exact" and certified_curve.attack == "certified"
    assert (np.diff(exact_curve.accuracy) <= 0).all()
    assert (certified_curve.accuracy <= exact_curve.accuracy + 1e-7).all()
    assert exact_curve.accuracy[0] == pytest.approx(truth.exact_accuracy(0.0))


def test_figure_with_ground_truth_and_click_grid(trained, truth):
    from advcore.playground.figures import boundary as figs

    model, X, y = trained
    g = boundary.decision_grid(model, X, resolution=30)
    a = boundary.attack_points(model, X, y, attack="fgsm", eps=0.6, steps=1)
    i = int(np.flatnonzero(truth.eps_star > 0)[0])
    spec = figs.boundary_spec(X, g, a, selected=i, truth=truth, clickable=True)
    names = [t.get("name", "") for t in spec["data"]]
    missed = truth.missed(a)
    assert f"missed: flippable within ε ({int(missed.sum())})" in names
    star = next(t for t in spec["data"] if t["name"].startswith("optimal adversarial point"))
    assert star["x"][1] == pytest.approx(truth.x_star[i, 0])
    assert star["y"][1] == pytest.approx(truth.x_star[i, 1])
    shapes = {s["name"]: s for s in spec["layout"]["shapes"]}
    r = truth.certified[i]
    assert shapes["certified-ball"]["x1"] - shapes["certified-ball"]["x0"] == pytest.approx(2 * r)
    assert "exact ε*" in spec["data"][2]["text"][0]
    grid_trace = spec["data"][-1]
    assert grid_trace["name"] == figs.CLICK_NAME and grid_trace["marker"]["opacity"] == 0
    assert "customdata" not in grid_trace  # the page tells a place from a point by this
    # Frames still name only the animated traces, and the figure is valid Plotly.
    assert all(list(f["traces"]) == figs.ANIMATED for f in spec["frames"])
    figs.boundary_figure(X, g, a, selected=i, truth=truth, clickable=True)
    rows = figs.truth_table(a, truth, i)
    assert [r[""] for r in rows] == ["FGSM found", "exact", "certified (CROWN)"]


def test_curve_sandwich_draws_bounds_under_the_attack(trained, truth):
    from advcore.playground.figures import boundary as figs

    model, X, y = trained
    c = boundary.accuracy_curve(model, X, y, attack="fgsm", steps=1, epsilons=(0.0, 0.5, 1.0))
    exact_curve, certified_curve = truth.curves()
    bounds = [("certified", certified_curve, 0.1), ("exact", exact_curve, 0.2)]
    spec = figs.curve_spec([("FGSM", c, 0.3)], eps=0.5, bounds=bounds)
    lines = [t for t in spec["data"] if t["mode"] == "lines"]
    assert [t["name"] for t in lines] == ["certified", "exact", "FGSM"]
    assert lines[0]["line"]["shape"] == "hv" and lines[0]["line"]["color"] == figs.CERTIFIED_COLOR
    assert spec["layout"]["showlegend"] is True
    figs.curve_figure([("FGSM", c, 0.3)], eps=0.5, bounds=bounds)  # valid Plotly


def test_the_arrow_points_at_the_boundary_even_where_softmax_saturates():
    """A point 200 logits deep in its class: float32 cross-entropy's gradient rounds to 0 there,
    so an arrow taken from it vanishes. The arrow uses the attacks' gradient, which keeps the
    direction: towards the boundary x₀ = 0, against the weight."""
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.0, 0.0], [200.0, 0.0]]))
        model.bias.zero_()
    X = np.array([[1.0, 0.3]], np.float32)
    y = np.array([1])
    plain = torch.from_numpy(X).requires_grad_(True)
    torch.nn.functional.cross_entropy(model(plain), torch.from_numpy(y)).backward()
    assert not plain.grad.any()  # the naive gradient is lost
    np.testing.assert_allclose(boundary.step_direction(model, X, y, eps=0.25, norm="linf"),
                               [[-0.25, 0.0]])
    np.testing.assert_allclose(boundary.step_direction(model, X, y, eps=0.25, norm="l2"),
                               [[-0.25, 0.0]], atol=1e-7)


# --- black-box attacks: their frames, their query counter, no gradient ------------------------

BLACK_BOX = [a for a in BOUNDARY_ATTACKS if get_attack(a).black_box]


def test_the_boundary_offers_every_black_box_attack_and_only_two_class_ones():
    assert {"square", "square-l2", "hsja"} <= set(BLACK_BOX)
    assert all(get_attack(a).min_classes <= 2 for a in BOUNDARY_ATTACKS)


@pytest.mark.parametrize("attack", BLACK_BOX)
def test_black_box_frames_count_queries_up_to_the_engines_own_count(trained, attack):
    model, X, y = trained
    a = boundary.attack_points(model, X, y, attack=attack, eps=0.4, steps=10, seed=3)
    q = a.frame_queries
    assert q is not None and q.shape == (len(a.frames), len(X)) and q.dtype == np.int64
    assert (q[0] == 0).all()  # the clean points cost nothing
    assert (np.diff(q, axis=0) >= 0).all()  # a counter never runs backwards
    assert (np.diff(q.sum(1)) > 0).all()  # and every frame stands for new queries
    # The oracle: the engine's own run with the same budget and seed.
    ref = get_attack(attack).run(model, torch.from_numpy(X), torch.from_numpy(y), eps=0.4,
                                 bounds=None, seed=3, queries=boundary.queries_of(attack))
    np.testing.assert_array_equal(a.queries, ref.queries.numpy())
    np.testing.assert_array_equal(a.x_adv, ref.x_adv.numpy())
    assert a.queries.max() <= boundary.queries_of(attack)
    # The slider's labels are the queries per point so far.
    assert a.frame_label == tuple(f"{int(v):,}" for v in q.max(1))


@pytest.mark.parametrize("attack", ["square", "hsja"])
def test_black_box_frames_are_the_attacks_own_iterates(trained, attack):
    """Against every iterate of the registry's own iterator (`AttackSpec.frames` with one frame
    per iterate), on a budget small enough to be used in full."""
    model, X, y = trained
    spec = get_attack(attack)
    budget = 20 if attack == "square" else 300
    x, t = torch.from_numpy(X), torch.from_numpy(y)
    path, counts = boundary.black_box_path(spec, model, x, t, eps=0.4, seed=1, queries=budget)
    length = spec.iterates(model, x, t, eps=0.4, steps=1, targeted=False, bounds=None, seed=1,
                        queries=budget).length
    every = spec.frames(model, x, t, eps=0.4, steps=length, bounds=None, seed=1, queries=budget)
    keep = boundary.query_frames(length)
    assert len(path) == len(keep) + 1
    torch.testing.assert_close(path[0], x, rtol=0, atol=0)
    for frame, k in zip(path[1:], keep, strict=True):
        torch.testing.assert_close(frame, every[k], rtol=0, atol=0)
    if attack == "square":  # one query per iterate for every point it has not fooled yet
        assert int(counts[-1].max()) == budget
        assert (counts[1:].max(1).values == torch.tensor(keep)).all()


def test_query_frames_are_geometric_and_end_on_the_last_iterate():
    assert boundary.query_frames(5) == [1, 2, 3, 4, 5]
    picked = boundary.query_frames(1000)
    assert picked[0] == 1 and picked[-1] == 1000 and len(picked) <= boundary.MAX_FRAMES - 1
    gaps = np.diff(picked)
    assert (gaps > 0).all() and gaps[-1] > gaps[0]


@pytest.mark.parametrize("attack", BLACK_BOX)
def test_black_box_attacks_on_the_page_never_read_a_gradient(trained, attack):
    from tests.test_blackbox import NoGradient

    model, X, y = trained
    spy = NoGradient(model)
    a = boundary.attack_points(spy, X, y, attack=attack, eps=0.3, steps=10)
    boundary.accuracy_curve(spy, X, y, attack=attack, steps=10, epsilons=(0.0, 0.3))
    assert spy.rows > 0
    # Its arrow is its first query's move, not a gradient.
    np.testing.assert_allclose(a.direction, a.frames[1] - X, atol=1e-6)


def test_adversarial_training_crafts_with_pgd_for_a_black_box_attack():
    scene = replace(SCENE, attack="square", eps=0.3)
    assert boundary.training_attack("square") == "pgd"
    assert boundary.training_attack("hsja") == boundary.training_attack("square-l2") == "pgd-l2"
    assert boundary.training_key(scene, robust=True) == boundary.training_key(
        replace(scene, attack="pgd"), robust=True)


def test_found_vs_exact_compares_the_same_points(trained):
    model, X, y = trained
    truth = boundary.ground_truth(model, X, y, norm="l2")
    a = boundary.attack_points(model, X, y, attack="hsja", eps=0.5, steps=10)
    n, found, star = truth.found_vs_exact(a)
    picked = a.flipped & np.isfinite(truth.eps_star)
    assert n == int(picked.sum()) > 0
    assert found == pytest.approx(float(np.linalg.norm(a.x_adv - X, axis=1)[picked].mean()),
                                  abs=1e-5)
    assert star == pytest.approx(float(truth.eps_star[picked].mean()))
    # The exact minimum is a lower bound on any flip, point by point.
    assert (truth.eps_star[picked] <= a.perturbation[picked] + 1e-4).all()
