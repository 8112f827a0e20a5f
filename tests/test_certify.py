"""advcore.certify: every bound is sound (below the truth), and exact where it should be.

Soundness is checked against the ground truth of advcore.exact (certified radius ≤ ε*) and
against the true margin on dense samples of the ball; tightness where the answer is known (a
linear model, where IBP and CROWN are exact). Randomized smoothing is checked on a linear binary
classifier, whose smoothed classifier has a closed form: g(x) = f(x) and radius |w·x + b|/‖w‖₂.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm as gaussian
from torch import nn

from advcore import certify, exact
from advcore.models import MLP, toy_model
from tests.conftest import TinyCNN, binary_linear, labels_of, points

pytestmark = pytest.mark.usefixtures("one_thread")
BOX = ((-6.0, 6.0), (-6.0, 6.0))
NORMS = ("linf", "l2")
METHODS = ("ibp", "crown")


def nets() -> list[nn.Module]:
    """The trained-looking shapes of the page (and deeper), seeded; boundaries cross BOX."""
    return [toy_model("mlp", width=w, depth=d, seed=s).eval()
            for w, d, s in [(8, 2, 4), (16, 2, 1), (12, 3, 4)]]


def true_margin(model: nn.Module, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(M,) z_y − max_{t≠y} z_t in float64 at inputs x (M, d), labels y (M,)."""
    z = exact.forward(exact.affine_layers(model), x)
    zy = z[np.arange(len(z)), y]
    z[np.arange(len(z)), y] = -np.inf
    return zy - z.max(1)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("norm", NORMS)
def test_certified_radius_never_exceeds_the_exact_distance(method, norm, mlp_case):
    cases = [(mlp_case.model, mlp_case.x, mlp_case.y)]
    for model in nets():
        x = points(40, seed=5)
        cases.append((model, x, labels_of(model, x)))
    for model, x, y in cases:
        truth = exact.minimal_adversarial(model, x, y, norm=norm, box=BOX)
        radius = certify.certified_radius(model, x, y, method=method, norm=norm)
        known = truth.eps <= truth.reach  # ε* is the unrestricted one there
        assert known.mean() > 0.9
        assert (radius[known] <= truth.eps[known]).all()
        assert (radius[truth.eps == 0] == 0).all()
        assert (radius > 0).mean() > 0.5  # not vacuous


def test_crown_is_tighter_than_ibp_on_a_trained_model(mlp_case):
    """Not a soundness property (the bounds are not ordered point by point), but the reason the
    linear relaxation exists: on the moons MLP it certifies more at every ε."""
    model, x, y = mlp_case.model, mlp_case.x, mlp_case.y
    ibp = certify.certified_radius(model, x, y, method="ibp")
    crown = certify.certified_radius(model, x, y, method="crown")
    grid = np.linspace(0.01, 0.5, 20)
    assert (certify.certified_accuracy(crown, grid) >= certify.certified_accuracy(ibp, grid)).all()
    assert np.median(crown) > 1.5 * np.median(ibp)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("norm", NORMS)
def test_margin_bound_is_below_the_margin_everywhere_in_the_ball(method, norm):
    model = nets()[2]
    x = points(8, seed=6)
    y = labels_of(model, x)
    rng = np.random.default_rng(0)
    for eps in (0.05, 0.3, 1.0):
        bound = certify.margin_lower_bound(model, x, y, eps, method=method, norm=norm)
        for i in range(len(x)):
            d = rng.uniform(-1, 1, size=(4000, 2))
            if norm == "l2":
                d = d / np.maximum(1.0, np.sqrt((d ** 2).sum(1, keepdims=True)))
            inside = x[i].double().numpy() + eps * d
            lowest = true_margin(model, inside, np.full(len(inside), int(y[i]))).min()
            assert bound[i] <= lowest + 1e-9


@pytest.mark.parametrize("method", METHODS)
def test_ten_classes_with_input_bounds_are_sound(method):
    """A 10-class ReLU net on 6 'pixels' in [0, 1]: the bounds clip the L∞ ball to the box."""
    torch.manual_seed(0)
    model = MLP(6, 16, 2, 10).eval()
    x = torch.rand(12, 6, generator=torch.Generator().manual_seed(1))
    y = labels_of(model, x)
    rng = np.random.default_rng(1)
    for eps in (0.02, 0.2, 2.0):
        bound = certify.margin_lower_bound(model, x, y, eps, method=method, bounds=(0.0, 1.0))
        for i in range(len(x)):
            xi = x[i].double().numpy()
            lo, hi = np.maximum(xi - eps, 0), np.minimum(xi + eps, 1)
            corners = rng.integers(0, 2, size=(512, 6)).astype(float)  # the box's vertices too
            inside = np.concatenate([lo + rng.uniform(size=(2000, 6)) * (hi - lo),
                                     lo + corners * (hi - lo)])
            lowest = true_margin(model, inside, np.full(len(inside), int(y[i]))).min()
            assert bound[i] <= lowest + 1e-12  # tight at a vertex, up to rounding
    # the whole box bounds nothing tighter than the whole box: ε = 2 equals ε = 1
    np.testing.assert_allclose(
        certify.margin_lower_bound(model, x, y, 2.0, method=method, bounds=(0.0, 1.0)),
        certify.margin_lower_bound(model, x, y, 1.0, method=method, bounds=(0.0, 1.0)))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("norm", NORMS)
def test_the_bound_at_zero_radius_is_the_margin(method, norm, mlp_case):
    model, x, y = mlp_case.model, mlp_case.x, mlp_case.y
    bound = certify.margin_lower_bound(model, x, y, 0.0, method=method, norm=norm)
    np.testing.assert_allclose(bound, true_margin(model, x.double().numpy(), y.numpy()),
                               atol=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_linear_model_is_certified_exactly(method):
    """A linear model has no relaxation to lose: IBP and CROWN give the exact L∞ radius, CROWN
    the exact L2 one (IBP bounds the L2 disc by its square: the L∞ radius)."""
    model = binary_linear()
    x = points(30, seed=7)
    y = labels_of(model, x)
    for norm in NORMS:
        truth = exact.minimal_adversarial(model, x, y, norm=norm, box=((-50.0, 50.0),) * 2)
        radius = certify.certified_radius(model, x, y, method=method, norm=norm)
        if method == "ibp" and norm == "l2":
            linf = exact.minimal_adversarial(model, x, y, norm="linf", box=((-50.0, 50.0),) * 2)
            np.testing.assert_allclose(radius, linf.eps, rtol=2e-6)
        else:
            np.testing.assert_allclose(radius, truth.eps, rtol=2e-6)


def test_mnist_linear_ibp_radius_is_the_exact_minimal_linf():
    """On mnist-linear IBP over the clipped box is exact, so it must agree with the closed form
    of advcore.exact.linear_minimal_linf (two independent computations of one number)."""
    from advcore.data import mnist
    from advcore.models import pretrained

    model = pretrained("mnist-linear")
    x, y = mnist("test")
    x, y = x[:20], y[:20]
    radius = certify.certified_radius(model, x, y, method="ibp", bounds=(0.0, 1.0))
    truth = exact.linear_minimal_linf(model, x, y).numpy()
    np.testing.assert_allclose(radius, truth, rtol=2e-6)


def test_misclassified_points_are_not_certified():
    model = binary_linear()
    x = points(10, seed=8)
    y = 1 - labels_of(model, x)
    for method in METHODS:
        assert (certify.certified_radius(model, x, y, method=method) == 0).all()


def test_eps_max_caps_the_search(mlp_case):
    model, x, y = mlp_case.model, mlp_case.x, mlp_case.y
    free = certify.certified_radius(model, x, y, method="crown")
    capped = certify.certified_radius(model, x, y, method="crown", eps_max=0.05)
    assert (capped <= 0.05).all()
    np.testing.assert_allclose(capped[free < 0.05], free[free < 0.05], rtol=1e-5, atol=1e-7)


def test_certified_accuracy_is_below_the_exact_curve(mlp_case):
    model, x, y = mlp_case.model, mlp_case.x, mlp_case.y
    grid = np.linspace(0, 1, 21)
    box = exact.box_for(x.numpy(), 1.0)
    truth = exact.exact_robust_accuracy(
        exact.minimal_adversarial(model, x, y, norm="linf", box=box).eps, grid)
    for method in METHODS:
        cert = certify.certified_accuracy(certify.certified_radius(model, x, y, method=method),
                                          grid)
        assert (cert <= truth).all()
    assert isinstance(certify.certified_accuracy(np.array([0.1, 0.3]), 0.2), float)


def test_validation():
    model = binary_linear()
    x, y = points(3), torch.zeros(3, dtype=torch.int64)
    with pytest.raises(ValueError, match="method"):
        certify.margin_lower_bound(model, x, y, 0.1, method="milp")
    with pytest.raises(ValueError, match="norm"):
        certify.certified_radius(model, x, y, norm="l1")
    with pytest.raises(ValueError, match="eps"):
        certify.margin_lower_bound(model, x, y, -0.1)
    with pytest.raises(ValueError, match="Linear/ReLU"):
        certify.certified_radius(TinyCNN(), torch.rand(2, 1, 8, 8), torch.zeros(2).long())


# --- randomized smoothing -----------------------------------------------------------------------


def smoothing_case():
    model = binary_linear()
    x = points(40, seed=9)
    weight, bias = (a.detach().double().numpy() for a in (model.linear.weight, model.linear.bias))
    w, b = weight[1] - weight[0], bias[1] - bias[0]
    return model, x, x.double().numpy() @ w + b, np.linalg.norm(w)


def test_smoothing_is_sound_on_a_linear_classifier():
    """For f(x) = [w·x + b > 0], P(f(x + δ) = f(x)) = Φ(|w·x + b| / (σ‖w‖₂)), so the smoothed
    classifier agrees with f and its true certified radius is |w·x + b| / ‖w‖₂ exactly."""
    model, x, margin, norm_w = smoothing_case()
    sigma = 0.5
    got = certify.smooth_predict_certify(model, x, sigma=sigma, n0=64, n=4000, alpha=0.001,
                                         generator=torch.Generator().manual_seed(0))
    base = (margin > 0).astype(np.int64)
    answered = got.prediction != certify.ABSTAIN
    assert answered.mean() > 0.6
    np.testing.assert_array_equal(got.prediction[answered], base[answered])
    true_radius = np.abs(margin) / norm_w
    assert (got.radius <= true_radius + 1e-12).all()
    assert (got.radius[~answered] == 0).all()
    # p̲ is a lower confidence bound on the true probability of the top class
    p_true = gaussian.cdf(np.abs(margin) / (sigma * norm_w))
    assert (got.p_lower[answered] <= p_true[answered]).all()
    # and not a vacuous one: with 4,000 samples it is within a few percent
    assert np.median(p_true[answered] - got.p_lower[answered]) < 0.03


def test_smoothing_abstains_on_the_boundary_and_is_reproducible():
    model, x, margin, norm_w = smoothing_case()
    w = model.linear.weight.detach()
    b = model.linear.bias.detach()
    # a point on the boundary: p_A ≈ ½, so the bound cannot exceed ½
    direction = (w[1] - w[0])
    on_line = (-(b[1] - b[0]) / direction.dot(direction) * direction)[None]
    got = certify.smooth_predict_certify(model, on_line, sigma=0.3, n0=64, n=2000, alpha=0.001,
                                         generator=torch.Generator().manual_seed(1))
    assert got.prediction[0] == certify.ABSTAIN and got.radius[0] == 0
    state = torch.random.get_rng_state()
    one, two = (certify.smooth_predict_certify(model, x, sigma=0.3, n0=32, n=500, alpha=0.01,
                                               generator=torch.Generator().manual_seed(3))
                for _ in range(2))
    assert torch.equal(state, torch.random.get_rng_state())  # no global RNG
    np.testing.assert_array_equal(one.prediction, two.prediction)
    np.testing.assert_array_equal(one.radius, two.radius)


def test_smoothing_validation():
    model, x, _, _ = smoothing_case()
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="sigma"):
        certify.smooth_predict_certify(model, x, sigma=0.0, generator=g)
    with pytest.raises(ValueError, match="alpha"):
        certify.smooth_predict_certify(model, x, sigma=0.1, alpha=1.0, generator=g)
