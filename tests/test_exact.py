"""advcore.exact against independent oracles: closed forms, brute force, a MILP, every attack.

Each oracle checks a different way of being wrong: the closed form on a linear model (the
distances and the box edge), a dense search of the ε-ball (no flip inside ε*, one just outside),
a dense grid of the map (no boundary missed by the enumeration or its pruning), a big-M MILP
solved by HiGHS (ε* itself, to 1e-6), and the attack registry (no attack flips a point with a
perturbation smaller than ε*: attacks are upper bounds).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import LinearConstraint, linprog, milp
from torch import nn

from advcore import exact
from advcore.models import MLP, LinearClassifier, toy_model
from tests.conftest import TinyCNN, binary_linear, labels_of, points

pytestmark = pytest.mark.usefixtures("one_thread")
BOX = ((-5.0, 5.0), (-5.0, 5.0))
NORMS = ("linf", "l2")
DUAL = {"linf": 1, "l2": 2}  # the dual norm's order: ε* = |margin| / ‖w‖_dual for a line


def small_nets() -> list[nn.Module]:
    """Random 2-D ReLU networks of several shapes, in eval mode; seeds whose boundary crosses
    BOX (many random initialisations classify the whole box alike)."""
    return [toy_model("mlp", width=w, depth=d, seed=s).eval()
            for w, d, s in [(8, 1, 2), (8, 2, 4), (6, 3, 2), (16, 2, 1), (12, 3, 4)]]


def margin(model: nn.Module, pts: np.ndarray) -> np.ndarray:
    """(N,) float64 logit₁ − logit₀, from the model's own weights in float64."""
    z = exact.forward(exact.affine_layers(model), pts)
    return z[:, 1] - z[:, 0]


def ball_samples(norm: str, n: int = 201) -> np.ndarray:
    """Directions filling the unit ball of `norm`: a dense grid plus a denser boundary."""
    g = np.linspace(-1.0, 1.0, n)
    gx, gy = np.meshgrid(g, g)
    grid = np.stack([gx.ravel(), gy.ravel()], 1)
    t = np.linspace(-1.0, 1.0, 4 * n)
    if norm == "l2":
        angle = np.pi * t
        return np.concatenate([grid[(grid ** 2).sum(1) <= 1], np.stack([np.cos(angle),
                                                                       np.sin(angle)], 1)])
    one = np.ones_like(t)
    return np.concatenate([grid, np.stack([t, one], 1), np.stack([t, -one], 1),
                           np.stack([one, t], 1), np.stack([-one, t], 1)])


# --- the linear model: closed form ------------------------------------------------------------


@pytest.mark.parametrize("norm", NORMS)
def test_linear_model_matches_the_closed_form(norm):
    model = binary_linear()
    x = points(64, seed=1)
    y = labels_of(model, x)
    weight, bias = (a.detach().double().numpy() for a in (model.linear.weight, model.linear.bias))
    w, b = weight[1] - weight[0], bias[1] - bias[0]
    got = exact.minimal_adversarial(model, x, y, norm=norm, box=BOX)
    want = np.abs(x.double().numpy() @ w + b) / np.linalg.norm(w, DUAL[norm])
    inside = want <= got.reach  # where the nearest point of the whole line lies in the box
    assert inside.mean() > 0.8
    np.testing.assert_allclose(got.eps[inside], want[inside], rtol=1e-12, atol=1e-12)
    # Elsewhere only boundary inside the box counts: never closer than the whole line.
    assert (got.eps >= want - 1e-12).all()
    # x_adv is on the line at distance ε*.
    np.testing.assert_allclose(got.x_adv @ w + b, 0.0, atol=1e-12)
    gap = got.x_adv - x.double().numpy()
    size = np.abs(gap).max(1) if norm == "linf" else np.sqrt((gap ** 2).sum(1))
    np.testing.assert_allclose(size, got.eps, rtol=1e-12, atol=1e-12)


def line_model(w: tuple[float, float], b: float) -> LinearClassifier:
    """A linear model whose margin logit₁ − logit₀ is w·x + b."""
    model = LinearClassifier(2, 2)
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor([[0.0, 0.0], list(w)]))
        model.linear.bias.copy_(torch.tensor([0.0, b]))
    return model.eval()


@pytest.mark.parametrize("norm", NORMS)
def test_box_edge_only_boundary_inside_the_box_counts(norm):
    model = line_model((1.0, 1.0), -1.0)  # the line x + y = 1
    box = ((0.0, 0.5), (0.0, 2.0))  # holds the part from (0, 1) to (0.5, 0.5)
    x = torch.tensor([[0.5, 0.0], [0.0, 0.0]])
    got = exact.minimal_adversarial(model, x, torch.tensor([0, 0]), norm=norm, box=box)
    # (0.5, 0): the whole line is nearer outside the box; inside, the segment's end (0.5, 0.5).
    assert got.eps[0] == pytest.approx(0.5, abs=1e-12)
    np.testing.assert_allclose(got.x_adv[0], [0.5, 0.5], atol=1e-12)
    assert got.reach[0] == 0.0 < got.eps[0]  # flagged: beyond its reach, not the true ε*
    # (0, 0): the nearest point of the line, (0.5, 0.5), is in the box, so ε* is the closed form.
    assert got.eps[1] == pytest.approx(1.0 / (1.0 if norm == "l2" else 2.0) * (
        np.sqrt(0.5) if norm == "l2" else 1.0), abs=1e-12)
    # No boundary in the box at all: inf, and NaN for the point.
    none = exact.minimal_adversarial(model, x, torch.tensor([0, 0]), norm=norm,
                                     box=((0.0, 0.4), (0.0, 0.4)))
    assert np.isinf(none.eps).all() and np.isnan(none.x_adv).all()


def test_tied_logits_belong_to_class_zero():
    """Margin max(0, x)·1 − 0: identically 0 (tied, so class 0) on the left half of the box.
    The boundary is where class 1 begins, the line x = 0, not the flat half's edges."""
    model = MLP(2, 1, 1, 2)
    with torch.no_grad():
        model.net[0].weight.copy_(torch.tensor([[1.0, 0.0]]))
        model.net[0].bias.zero_()
        model.net[2].weight.copy_(torch.tensor([[0.0], [1.0]]))
        model.net[2].bias.zero_()
    x = torch.tensor([[-0.5, 0.2], [-2.0, 0.0], [1.5, -1.0]])
    got = exact.minimal_adversarial(model.eval(), x, torch.tensor([0, 0, 1]), norm="l2",
                                    box=((-3.0, 3.0), (-3.0, 3.0)))
    np.testing.assert_allclose(got.eps, [0.5, 2.0, 1.5], atol=1e-12)
    flat = line_model((0.0, 0.0), 0.0)  # every logit tied everywhere: class 0 throughout
    got = exact.minimal_adversarial(flat, x, torch.tensor([0, 0, 1]), norm="linf", box=BOX)
    assert np.isinf(got.eps[:2]).all() and got.eps[2] == 0


def test_misclassified_points_have_zero_distance():
    model = binary_linear()
    x = points(16, seed=2)
    y = 1 - labels_of(model, x)  # every label wrong
    got = exact.minimal_adversarial(model, x, y, norm="l2", box=BOX)
    assert (got.eps == 0).all()
    np.testing.assert_array_equal(got.x_adv, x.double().numpy())


# --- small networks: brute force, completeness, MILP ---------------------------------------


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("net", range(5))
def test_no_flip_inside_the_ball_and_one_just_outside(net, norm):
    model = small_nets()[net]
    x = points(10, seed=10 + net)
    y = labels_of(model, x)
    got = exact.minimal_adversarial(model, x, y, norm=norm, box=BOX)
    directions = ball_samples(norm)
    circle = np.stack([np.cos(np.linspace(0, 2 * np.pi, 64)),
                       np.sin(np.linspace(0, 2 * np.pi, 64))], 1)
    sign = np.where(y.numpy() == 1, 1.0, -1.0)
    checked = 0
    for i in np.flatnonzero(np.isfinite(got.eps) & (got.eps <= got.reach)):
        r = got.eps[i]
        inside = x[i].double().numpy() + directions * r * (1 - 1e-9)
        assert (sign[i] * margin(model, inside) > 0).all(), f"a flip inside ε* = {r} at {i}"
        # Within 1e-6 of the optimal point, some input is classified otherwise.
        near = got.x_adv[i] + 1e-6 * circle
        assert (sign[i] * margin(model, near) < 0).any(), f"no flip near x_adv at {i}"
        assert abs(margin(model, got.x_adv[i:i + 1])[0]) < 1e-9
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("net", range(5))
def test_every_sign_change_on_a_dense_grid_is_near_a_segment(net):
    """Completeness: a boundary that the enumeration or its pruning dropped would show up here."""
    model = small_nets()[net]
    seg = exact.boundary_segments(model, BOX)
    g = np.linspace(-5.0, 5.0, 301)
    gx, gy = np.meshgrid(g, g)
    side = margin(model, np.stack([gx.ravel(), gy.ravel()], 1)).reshape(gx.shape) > 0
    step = g[1] - g[0]
    rows, cols = np.nonzero(side[:, 1:] != side[:, :-1])
    mids = np.stack([gx[rows, cols] + step / 2, gy[rows, cols]], 1)
    rows, cols = np.nonzero(side[1:] != side[:-1])
    mids = np.concatenate([mids, np.stack([gx[rows, cols], gy[rows, cols] + step / 2], 1)])
    assert len(mids) > 20
    dist, _, _ = exact.distance_to_segments(mids, seg.start, seg.end, norm="l2")
    assert dist.max() <= step / 2 + 1e-9
    # And every segment lies on the boundary.
    ends = np.concatenate([seg.start, seg.end, (seg.start + seg.end) / 2])
    assert np.abs(margin(model, ends)).max() < 1e-9


@pytest.mark.parametrize("net", [1, 4])
def test_pruning_drops_no_boundary(net, monkeypatch):
    """The enumeration with every polygon kept finds the same ε* as with interval pruning."""
    model = small_nets()[net]
    x = points(40, seed=40)
    y = labels_of(model, x)
    pruned = exact.boundary_segments(model, BOX)
    monkeypatch.setattr(exact, "_may_hold_boundary", lambda verts, *_: np.ones(len(verts), bool))
    full = exact.boundary_segments(model, BOX)
    assert full.pruned == 0 < pruned.pruned
    for norm in NORMS:
        a = exact.minimal_adversarial(model, x, y, norm=norm, box=BOX, segments=pruned)
        b = exact.minimal_adversarial(model, x, y, norm=norm, box=BOX, segments=full)
        np.testing.assert_allclose(a.eps, b.eps, rtol=1e-12, atol=1e-12)


def milp_linf(model: nn.Module, x: np.ndarray, y: int, box: exact.Box) -> float:
    """min ‖x' − x‖∞ over x' in the box with the margin on the other side, by a big-M MILP.

    Variables: x' (2), t, and per hidden layer z (pre-activation), h (ReLU output), a (binary);
    h ≥ z, h ≥ 0, h ≤ z − l·(1 − a), h ≤ u·a with [l, u] interval bounds over the box.
    """
    layers = exact.affine_layers(model)
    lo = np.array([box[0][0], box[1][0]])
    hi = np.array([box[0][1], box[1][1]])
    widths = [w.shape[0] for w, _ in layers[:-1]]
    n = 3 + 3 * sum(widths)
    rows, lbs, ubs = [], [], []

    def row(coefs: dict[int, float], lb: float, ub: float) -> None:
        r = np.zeros(n)
        for k, v in coefs.items():
            r[k] += v
        rows.append(r)
        lbs.append(lb)
        ubs.append(ub)

    for i in range(2):  # |x'_i − x_i| ≤ t
        row({i: 1.0, 2: -1.0}, -np.inf, x[i])
        row({i: 1.0, 2: 1.0}, x[i], np.inf)
    var_lo, var_hi = [*lo, 0.0], [*hi, np.inf]
    integrality = [0, 0, 0]
    prev = [0, 1]  # indices of the previous layer's outputs
    box_lo, box_hi = lo, hi
    offset = 3
    for (w, b), k in zip(layers[:-1], widths, strict=True):
        mid, rad = w @ ((box_lo + box_hi) / 2) + b, np.abs(w) @ ((box_hi - box_lo) / 2)
        low, up = mid - rad, mid + rad
        z, h, a = (range(offset + j * k, offset + (j + 1) * k) for j in range(3))
        for j in range(k):
            row({z[j]: 1.0, **{p: -w[j, q] for q, p in enumerate(prev)}}, b[j], b[j])
            row({h[j]: 1.0, z[j]: -1.0}, 0.0, np.inf)
            row({h[j]: 1.0, z[j]: -1.0, a[j]: -low[j]}, -np.inf, -low[j])
            row({h[j]: 1.0, a[j]: -up[j]}, -np.inf, 0.0)
        var_lo += [*low, *np.zeros(k), *np.zeros(k)]
        var_hi += [*up, *np.maximum(up, 0), *np.ones(k)]
        integrality += [0] * 2 * k + [1] * k
        prev, offset = list(h), offset + 3 * k
        box_lo, box_hi = np.maximum(low, 0), np.maximum(up, 0)
    w, b = layers[-1]
    diff = {p: w[1, q] - w[0, q] for q, p in enumerate(prev)}
    off = b[1] - b[0]
    if y == 0:
        row(diff, -off, np.inf)  # the margin reaches 0 from below
    else:
        row(diff, -np.inf, -off)
    c = np.zeros(n)
    c[2] = 1.0
    res = milp(c, integrality=integrality, bounds=(var_lo, var_hi),
               constraints=LinearConstraint(np.array(rows), lbs, ubs),
               options={"mip_rel_gap": 1e-10})
    return float(res.fun) if res.success else np.inf


@pytest.mark.parametrize("net", [0, 1, 2])
def test_linf_distance_matches_an_independent_milp(net):
    model = small_nets()[net]
    x = points(4, seed=20 + net)
    y = labels_of(model, x)
    box = ((-3.0, 3.0), (-3.0, 3.0))
    got = exact.minimal_adversarial(model, x, y, norm="linf", box=box)
    for i in range(len(x)):
        want = milp_linf(model, x[i].double().numpy(), int(y[i]), box)
        assert got.eps[i] == pytest.approx(want, abs=1e-6), i


# --- attacks are upper bounds -----------------------------------------------------------------


@pytest.fixture(scope="module")
def attacked_cases(_mlp_case):
    """Models, points and their exact distances in both norms, for the registry property."""
    box = ((-8.0, 8.0), (-8.0, 8.0))  # every point's 1.5-ball lies inside it
    cases = [(_mlp_case.model, _mlp_case.x[::4], _mlp_case.y[::4])]
    for model in small_nets()[4:]:
        x = points(24, seed=30)
        cases.append((model, x, labels_of(model, x)))
    return [(model, x, y, {norm: exact.minimal_adversarial(model, x, y, norm=norm, box=box)
                           for norm in NORMS}) for model, x, y in cases]


def _registry() -> list[str]:
    from advcore.attacks import ATTACKS

    return list(ATTACKS)


@pytest.mark.parametrize("name", _registry())
def test_no_attack_flips_a_point_below_its_exact_distance(name, attacked_cases):
    from advcore.attacks import ATTACKS

    spec = ATTACKS[name]
    flips = 0
    for model, x, y, truth in attacked_cases:
        # every point twice, once at each ε: one call per model (random-search attacks are slow)
        eps = torch.tensor([0.3, 1.5]).repeat_interleave(len(x))
        x2, y2 = x.repeat(2, 1), y.repeat(2)
        try:
            x_adv = spec(model, x2, y2, eps=eps, steps=50 if spec.minimal else 10, bounds=None,
                         seed=0)
        except ValueError as exc:
            if "classes" in str(exc):  # e.g. the DLR loss needs 3 classes; these have 2
                pytest.skip(str(exc))
            raise
        with torch.no_grad():
            flipped = (model(x_adv).argmax(1) != y2).numpy()
        gap = (x_adv - x2).double().numpy()
        size = np.abs(gap).max(1) if spec.norm == "linf" else np.sqrt((gap ** 2).sum(1))
        ex = truth[spec.norm]
        star, reach = np.tile(ex.eps, 2), np.tile(ex.reach, 2)
        counted = flipped & (size <= reach)
        # float32 attacks may land a rounding error short of the float64 boundary
        assert (size[counted] >= star[counted] * (1 - 1e-5) - 1e-6).all(), size[counted].min()
        flips += int(counted.sum())
    assert flips > 5  # the property was exercised


# --- the pieces -------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", NORMS)
def test_segment_distance_matches_dense_sampling(norm):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 2)), rng.normal(size=(40, 2))
    b[:3] = a[:3]  # single-point segments
    b[3:6, 1] = a[3:6, 1]  # axis-parallel ones
    p = rng.normal(size=(30, 2)) * 2
    dist, nearest, index = exact.distance_to_segments(p, a, b, norm=norm)
    t = np.linspace(0, 1, 2001)
    on = a[None, :, None] + t[None, None, :, None] * (b - a)[None, :, None]  # (1, S, T, 2)
    gap = on - p[:, None, None]
    size = np.abs(gap).max(-1) if norm == "linf" else np.sqrt((gap ** 2).sum(-1))
    sampled = size.min(2)  # (N, S)
    # the true minimum along a segment is at most one sample step (in the norm) below
    spacing = (np.abs(b - a).max(1) if norm == "linf" else np.sqrt(((b - a) ** 2).sum(1))) / 2000
    assert (dist <= sampled.min(1) + 1e-12).all()
    assert (dist >= (sampled - spacing).min(1) - 1e-12).all()
    own = p - nearest
    own = np.abs(own).max(1) if norm == "linf" else np.sqrt((own ** 2).sum(1))
    np.testing.assert_allclose(own, dist, atol=1e-12)


def test_ties_go_to_the_lowest_index_segment():
    a = np.array([[1.0, -1.0], [-1.0, -1.0], [1.0, -1.0]])
    b = np.array([[1.0, 1.0], [-1.0, 1.0], [1.0, 1.0]])
    for norm in NORMS:
        dist, _, index = exact.distance_to_segments(np.zeros((1, 2)), a, b, norm=norm)
        assert dist[0] == 1.0 and index[0] == 0
    dist, nearest, index = exact.distance_to_segments(np.zeros((2, 2)), a[:0], b[:0], norm="l2")
    assert np.isinf(dist).all() and np.isnan(nearest).all() and (index == -1).all()


def test_robust_accuracy_is_the_share_strictly_beyond_eps():
    eps_star = np.array([0.0, 0.1, 0.2, np.inf])
    assert exact.exact_robust_accuracy(eps_star, 0.1) == 0.5
    np.testing.assert_allclose(exact.exact_robust_accuracy(eps_star, [0.0, 0.15, 5.0]),
                               [0.75, 0.5, 0.25])
    assert isinstance(exact.exact_robust_accuracy(eps_star, 0.0), float)


def test_missed_flips_close_the_gap_between_an_attack_and_the_truth(mlp_case):
    from advcore.attacks import fgsm

    model, x, y = mlp_case.model, mlp_case.x, mlp_case.y
    box = exact.box_for(x.numpy(), 1.0)
    truth = exact.minimal_adversarial(model, x, y, norm="linf", box=box)
    eps = 0.3
    with torch.no_grad():
        still = (model(fgsm(model, x, y, eps=eps, bounds=None)).argmax(1) == y).numpy()
    missed = exact.missed_flips(truth.eps, still, eps)
    assert missed.any()  # FGSM is a one-step attack: it misses some
    assert still.mean() - exact.exact_robust_accuracy(truth.eps, eps) == pytest.approx(
        missed.mean())


def test_box_for_covers_the_page_window_plus_eps():
    from advcore.playground.boundary import GRID_MARGIN, extent

    X = points(50, seed=3).numpy()
    (x0, x1), (y0, y1) = exact.box_for(X, 2.0, margin=GRID_MARGIN)
    lo, hi = extent(X)
    np.testing.assert_allclose([x0, y0], lo - 2.0, atol=1e-6)
    np.testing.assert_allclose([x1, y1], hi + 2.0, atol=1e-6)
    assert exact.box_for(X, 2.0) == exact.box_for(X, 2.0, margin=GRID_MARGIN)


def test_segments_are_deterministic_and_reusable(mlp_case):
    box = exact.box_for(mlp_case.x.numpy(), 2.0)
    one, two = (exact.boundary_segments(mlp_case.model, box) for _ in range(2))
    np.testing.assert_array_equal(one.start, two.start)
    np.testing.assert_array_equal(one.end, two.end)
    direct = exact.minimal_adversarial(mlp_case.model, mlp_case.x, mlp_case.y, norm="l2", box=box)
    reused = exact.minimal_adversarial(mlp_case.model, mlp_case.x.numpy(), mlp_case.y.numpy(),
                                       norm="l2", box=box, segments=one)
    np.testing.assert_array_equal(direct.eps, reused.eps)
    with pytest.raises(ValueError, match="box"):
        exact.minimal_adversarial(mlp_case.model, mlp_case.x, mlp_case.y, norm="l2", box=BOX,
                                  segments=one)


def test_distance_map_is_zero_on_the_boundary_and_grows_away(mlp_case):
    box = exact.box_for(mlp_case.x.numpy(), 0.5)
    seg = exact.boundary_segments(mlp_case.model, box)
    gx, gy = np.linspace(*box[0], 40), np.linspace(*box[1], 30)
    dist = exact.distance_map(seg, gx, gy, norm="linf")
    assert dist.shape == (30, 40) and (dist >= 0).all()
    at_x_adv = exact.distance_to_segments(seg.start, seg.start, seg.end, norm="linf")[0]
    assert (at_x_adv == 0).all()


def test_input_validation():
    model = binary_linear()
    x, y = points(4), torch.zeros(4, dtype=torch.int64)
    with pytest.raises(ValueError, match="norm"):
        exact.minimal_adversarial(model, x, y, norm="l1", box=BOX)
    with pytest.raises(ValueError, match="box"):
        exact.minimal_adversarial(model, x, y, norm="l2", box=((1.0, 0.0), (0.0, 1.0)))
    with pytest.raises(ValueError, match="Linear/ReLU"):
        exact.affine_layers(TinyCNN())
    with pytest.raises(ValueError, match="2 inputs and 2 logits"):
        exact.boundary_segments(MLP(3, 4, 1, 2), BOX)


def test_the_model_is_left_untouched(mlp_case):
    before = {k: v.clone() for k, v in mlp_case.model.state_dict().items()}
    training = mlp_case.model.training
    exact.minimal_adversarial(mlp_case.model, mlp_case.x, mlp_case.y, norm="linf", box=BOX)
    assert mlp_case.model.training == training
    for k, v in mlp_case.model.state_dict().items():
        assert torch.equal(v, before[k])
    assert all(p.grad is None for p in mlp_case.model.parameters())


# --- mnist-linear: the box-constrained minimal L∞ step -----------------------------------------


@pytest.fixture(scope="module")
def digits():
    from advcore.data import mnist
    from advcore.models import pretrained

    x, y = mnist("test")
    return pretrained("mnist-linear"), x[:12], y[:12]


def lp_linf(w: np.ndarray, b: np.ndarray, x: np.ndarray, y: int) -> float:
    """min over targets t of the LP: min ε s.t. (w_y − w_t)·(x + δ) + b_y − b_t ≤ 0,
    |δ_i| ≤ ε, 0 ≤ x + δ ≤ 1 (variables δ (d), ε)."""
    d = len(x)
    best = np.inf
    eye = np.eye(d)
    a_ub = np.block([[eye, -np.ones((d, 1))], [-eye, -np.ones((d, 1))]])
    b_ub = np.zeros(2 * d)
    bounds = [(-xi, 1.0 - xi) for xi in x] + [(0, None)]
    for t in range(len(b)):
        if t == y:
            continue
        a = w[y] - w[t]
        m = a @ x + b[y] - b[t]
        res = linprog(np.r_[np.zeros(d), 1.0], A_ub=np.vstack([a_ub, np.r_[a, 0.0]]),
                      b_ub=np.r_[b_ub, -m], bounds=bounds, method="highs")
        if res.status == 0:
            best = min(best, res.fun)
    return best


def test_linear_minimal_linf_matches_linprog(digits):
    model, x, y = digits
    got = exact.linear_minimal_linf(model, x, y)
    assert got.shape == (len(x),) and got.dtype == torch.float64
    w, b = (a.detach().double().numpy() for a in (model.linear.weight, model.linear.bias))
    for i in range(4):
        want = lp_linf(w, b, x[i].flatten().double().numpy(), int(y[i]))
        assert float(got[i]) == pytest.approx(want, rel=1e-6, abs=1e-9), i


def test_linear_minimal_linf_is_tight_and_no_attack_beats_it(digits):
    from advcore.attacks import pgd

    model, x, y = digits
    eps = exact.linear_minimal_linf(model, x, y)
    correct = (model(x).argmax(1) == y).numpy()
    assert (eps.numpy()[~correct] == 0).all() and correct.sum() >= 8
    ok = torch.from_numpy(correct)
    below = (eps[ok] * (1 - 1e-3)).float()
    x_adv = pgd(model, x[ok], y[ok], eps=below, steps=40,
                generator=torch.Generator().manual_seed(0))
    assert (model(x_adv).argmax(1) == y[ok]).all()
    # The optimum is attained: the coordinate-wise step of the best target at ε*(1 + 1e-6).
    w, b = (a.double() for a in (model.linear.weight, model.linear.bias))
    flat = x[ok].flatten(1).double()
    for xi, yi, e in zip(flat, y[ok], eps[ok] * (1 + 1e-6), strict=True):
        a = w[yi] - w  # (C, d)
        room = torch.where(a > 0, xi, 1 - xi)
        step = -torch.sign(a) * torch.minimum(room, e)
        z = ((xi + step) * a).sum(1) + b[yi] - b  # margin of y over each t after its step
        z[yi] = torch.inf
        assert z.min() <= 1e-9


def test_linear_minimal_linf_on_a_hand_made_model():
    """Margin z0 − z1 = x0 − x1 + bias: the best step moves x0 down and x1 up, each by at most
    its room to the edge of [0, 1], so D(ε) = min(ε, x0) + min(ε, 1 − x1)."""
    def model_with(bias: float) -> LinearClassifier:
        model = LinearClassifier(2, 2)
        with torch.no_grad():
            model.linear.weight.copy_(torch.tensor([[1.0, -1.0], [0.0, 0.0]]))
            model.linear.bias.copy_(torch.tensor([bias, 0.0]))
        return model.eval()

    x = torch.tensor([[0.7, 0.2], [0.7, 1.0], [0.9, 0.0]])
    # margins 0.5, 0.3 (class 1 wins; it moves x0 up, x1 down), 0.9: all on the slope 2ε
    got = exact.linear_minimal_linf(model_with(0.0), x, torch.tensor([0, 1, 0]))
    np.testing.assert_allclose(got.numpy(), [0.25, 0.15, 0.45], atol=1e-12)
    # margin 0.3; x0 hits 0 at ε = 0.1 (D = 0.2), then only x1 moves: ε* = 0.2
    got = exact.linear_minimal_linf(model_with(0.5), torch.tensor([[0.1, 0.3]], dtype=torch.float64),
                                    torch.tensor([0]))
    assert float(got[0]) == pytest.approx(0.2, abs=1e-12)
    # margin 1.5 but at most 1 can be removed inside the box: impossible, inf
    got = exact.linear_minimal_linf(model_with(1.5), torch.tensor([[0.5, 0.5]]), torch.tensor([0]))
    assert np.isinf(float(got[0]))
    # a wrong label: 0
    got = exact.linear_minimal_linf(model_with(0.0), x[:1], torch.tensor([1]))
    assert float(got[0]) == 0.0
