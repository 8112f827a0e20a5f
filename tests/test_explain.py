"""advcore.playground.explain: the numbers the "How it works" page shows are the maths it claims.

Closed-form oracles where they exist: for a linear model the linearity argument is exact and the
sign step is the best corner of the ε-cube; PGD's projected proposals must reproduce the attack's
own iterates; the numerical gradient of the *loss* must agree with autograd.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advcore import attacks
from advcore.models import LinearClassifier, SmallCNN
from advcore.playground import explain


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny models run faster on one thread, and the CPU is shared with other test runs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def moons() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The page's own 2-D example: a small MLP trained on 200 noisy moons (a curved boundary)."""
    model, X, y = explain.moons_model()
    return model, torch.from_numpy(X), torch.from_numpy(y)


@pytest.fixture
def softmax_regression() -> LinearClassifier:
    """A seeded 784 → 10 linear classifier (the shape of mnist-linear), frozen like a shipped one."""
    torch.manual_seed(3)
    model = LinearClassifier(784, 10).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@pytest.fixture
def digit() -> torch.Tensor:
    """A 'digit' in [0, 1] with a dark background and some ink, shape (1, 28, 28)."""
    gen = torch.Generator().manual_seed(5)
    x = torch.zeros(1, 28, 28)
    x[0, 6:22, 10:18] = torch.rand(16, 8, generator=gen)
    return x


def _snapshot(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _unchanged(model: nn.Module, before: list[torch.Tensor], training: bool = False) -> bool:
    return (model.training == training
            and all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
            and all(p.grad is None for p in model.parameters()))


# --- 1. the input gradient ----------------------------------------------------------------------


def test_input_gradient_is_the_loss_gradient_wrt_the_input(softmax_regression, digit):
    before = _snapshot(softmax_regression)
    g = explain.input_gradient(softmax_regression, digit, 3)
    assert g.grad.shape == g.image.shape == (28, 28)
    # autograd against a float64 finite difference of the loss along a random direction
    assert g.fd_estimate == pytest.approx(g.fd_exact, rel=1e-5, abs=1e-9)
    # closed form for softmax regression: ∇ₓ CE = Wᵀ(p − e_y)
    W = softmax_regression.linear.weight
    expected = W.T @ (torch.from_numpy(g.probs) - F.one_hot(torch.tensor(3), 10).float())
    np.testing.assert_allclose(g.grad.ravel(), expected.numpy(), rtol=1e-4, atol=1e-7)
    assert _unchanged(softmax_regression, before)


def test_weight_gradient_has_the_weights_shape_and_is_the_outer_product(softmax_regression, digit):
    g = explain.input_gradient(softmax_regression, digit, 3)
    assert dict(g.weight_shapes) == {"linear.weight": (10, 784), "linear.bias": (10,)}
    assert g.n_weights == 7850
    coef = g.probs - np.eye(10)[3]
    outer = coef[:, None] * digit.reshape(1, 784).numpy()
    np.testing.assert_allclose(g.linear_weight_grad.reshape(10, 784), outer, rtol=1e-5, atol=1e-8)


def test_seed_numerical_gradient_raises_and_says_nothing_about_pixels(softmax_regression, digit):
    g = explain.input_gradient(softmax_regression, digit, 3)
    assert g.seed_error.startswith("ValueError")
    assert g.seed_gradient.shape == (10,)  # one number per class, not per pixel
    np.testing.assert_allclose(g.seed_gradient, np.gradient(g.probs))


def test_input_gradient_of_a_cnn_leaves_it_alone():
    torch.manual_seed(0)
    model = SmallCNN().eval()
    before = _snapshot(model)
    x = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(0))
    g = explain.input_gradient(model, x, 7)
    assert g.linear_weight_grad is None
    assert g.n_weights == sum(p.numel() for p in model.parameters())
    assert g.fd_estimate == pytest.approx(g.fd_exact, rel=1e-4, abs=1e-9)
    assert _unchanged(model, before)


# --- 2. why the sign ----------------------------------------------------------------------------


def test_sign_maximises_the_linear_gain_under_linf_and_gradient_under_l2(softmax_regression,
                                                                         digit):
    cmp = explain.sign_vs_gradient(softmax_regression, digit, 3, eps=0.1)
    assert cmp.gain("linf", "sign") == pytest.approx(cmp.best_linf, rel=1e-9)
    assert cmp.gain("linf", "sign") > cmp.gain("linf", "gradient")
    assert cmp.gain("l2", "gradient") == pytest.approx(cmp.best_l2, rel=1e-9)
    assert cmp.gain("l2", "gradient") >= cmp.gain("l2", "sign")
    for s in cmp.steps:  # every step respects its own budget
        if s.budget == "linf":
            assert s.size_linf <= cmp.eps * (1 + 1e-9)
        else:
            assert s.size_l2 <= cmp.radius_l2 * (1 + 1e-9)


def test_sign_step_beats_every_corner_of_the_cube_exactly():
    """Brute force in 10 dimensions: over all 2^10 corners of the ε-cube, sign(g) gains most."""
    torch.manual_seed(1)
    model = LinearClassifier(10, 3).eval()
    x = torch.rand(10)
    cmp = explain.sign_vs_gradient(model, x, 1, eps=0.2)
    g = explain.exact_input_gradient(model, x.unsqueeze(0), torch.tensor([1]))[0]
    best = max(float((g * 0.2 * torch.tensor(c, dtype=torch.float64)).sum())
               for c in itertools.product((-1.0, 1.0), repeat=10))
    assert cmp.best_linf == pytest.approx(best, rel=1e-12)


# --- 3. the ε-ball and PGD's projection --------------------------------------------------------


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_projected_proposals_reproduce_the_attack(moons, norm):
    model, X, y = moons
    point, label = X[130], int(y[130])
    path = explain.pgd_path(model, point, label, eps=0.4, steps=8, norm=norm, seed=3)
    np.testing.assert_allclose(explain.reproject(path), path.iterates[1:], atol=1e-6)
    np.testing.assert_array_equal(path.iterates[0], point.numpy())
    # the last iterate is PGD's own output for the same seed
    final = attacks.run_attack("pgd" if norm == "linf" else "pgd-l2", model, point[None],
                               torch.tensor([label]), eps=0.4, steps=8, bounds=None, seed=3)
    np.testing.assert_allclose(path.iterates[-1], final[0].numpy(), atol=1e-6)
    # inside the ball everywhere; a proposal that stayed inside is not moved
    delta = path.iterates - path.center
    size = np.abs(delta).max(1) if norm == "linf" else np.linalg.norm(delta, axis=1)
    assert (size <= 0.4 + 1e-6).all()
    inside = ~path.outside
    np.testing.assert_allclose(path.proposals[inside], path.iterates[1:][inside], atol=1e-6)


def test_decision_grid_is_a_probability_map(moons):
    grid = explain.decision_grid(moons[0], (0.0, 0.0), 1.0, resolution=20)
    assert grid.prob.shape == (20, 20)
    assert ((grid.prob >= 0) & (grid.prob <= 1)).all()
    assert grid.xs[0] == pytest.approx(-1.0) and grid.ys[-1] == pytest.approx(1.0)


# --- 4. linearity -------------------------------------------------------------------------------


def test_linearity_argument_is_exact_for_a_linear_model(softmax_regression, digit):
    lin = explain.linearity(softmax_regression, digit, 3, np.linspace(0, 0.3, 7).tolist())
    np.testing.assert_allclose(lin.measured, lin.predicted, rtol=1e-4, atol=1e-4)
    assert (lin.measured_clipped <= lin.predicted + 1e-4).all()
    assert lin.cumulative[-1] == pytest.approx(lin.l1, rel=1e-5)
    assert lin.abs_w.shape == (28, 28)
    assert lin.mean_abs_w * 784 == pytest.approx(lin.l1, rel=1e-5)


def test_flip_eps_is_where_the_prediction_changes(softmax_regression, digit):
    with torch.no_grad():
        label = int(softmax_regression(digit[None]).argmax())
    lin = explain.linearity(softmax_regression, digit, label, [0.0, 0.1])
    W = softmax_regression.linear.weight
    w = W[label] - W[lin.other]
    with torch.no_grad():
        before = softmax_regression(digit[None] - 0.99 * lin.flip_eps * w.sign().reshape(1, 28, 28))
        after = softmax_regression(digit[None] - 1.01 * lin.flip_eps * w.sign().reshape(1, 28, 28))
    assert before[0, label] > before[0, lin.other]
    assert after[0, label] < after[0, lin.other]


def test_linearity_refuses_a_nonlinear_model(moons):
    model, X, _ = moons
    with pytest.raises(ValueError, match="linear model"):
        explain.linearity(model, X[0], 0, [0.1])


# --- the mistakes, demonstrated -------------------------------------------------------------------


def _with_dropout() -> nn.Module:
    """A small digit classifier with dropout, frozen and in eval mode like a shipped model."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(64, 10)).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def test_train_mode_demo_shows_dropout_and_leaves_the_model_alone():
    model = _with_dropout()
    before = _snapshot(model)
    rng = torch.random.get_rng_state()
    x = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(2))
    demo = explain.train_mode_demo(model, x, 4)
    assert demo.differs and demo.sign_flips > 0
    assert demo.train_logits.shape == (3, 10)
    assert demo.checks[0].ok and not demo.checks[1].ok
    assert _unchanged(model, before)
    assert torch.equal(torch.random.get_rng_state(), rng)
    again = explain.train_mode_demo(model, x, 4)  # seeded: the same picture every time
    np.testing.assert_array_equal(demo.train_logits, again.train_logits)


def test_clip_demo_flags_normalised_and_clipped(softmax_regression):
    from advcore.data import mnist

    x, _ = mnist("test")
    demo = explain.normalise_then_clip_demo(softmax_regression, x[1])
    assert [c.ok for c in demo.checks] == [True, False, False]
    assert demo.normalised.min() < 0 and demo.normalised.max() > 1
    assert demo.clipped.min() >= 0 and demo.clipped.max() <= 1


def test_softmax_demo_traps_the_loss_in_its_band(softmax_regression, digit):
    demo = explain.softmax_as_logits_demo(softmax_regression, digit, 3, [0.0, 0.1, 0.3])
    low, high = math.log1p(9 / math.e), math.log(math.e + 9)
    assert ((demo.loss_wrong >= low - 1e-6) & (demo.loss_wrong <= high + 1e-6)).all()
    assert demo.loss_right[-1] > high  # the real loss is not trapped
    assert demo.checks[0].ok and not demo.checks[1].ok
    assert demo.grad_norm_wrong < demo.grad_norm_right


def test_eps_units_demo_stays_in_budget(softmax_regression, digit):
    demo = explain.eps_units_demo(softmax_regression, digit, 3)
    assert demo.epsilons.tolist() == pytest.approx([8 / 255, 0.3])
    for eps, image in zip(demo.epsilons, demo.images, strict=True):
        assert np.abs(image - demo.clean).max() <= eps + 1e-6
        assert image.min() >= 0 and image.max() <= 1
    assert all(c.ok for c in demo.checks)


def test_upper_bounds_sandwich_holds_on_the_moons_model():
    model, X, y = explain.moons_model()
    ub = explain.upper_bounds(model, X, y, eps=0.5, steps=10, restarts=3,
                              epsilons=(0.0, 0.25, 0.5, 0.75))
    tol = 1e-6
    assert (ub.certified <= ub.exact + tol).all()
    on_grid = np.searchsorted(ub.fine_epsilons, ub.epsilons - 1e-6)
    np.testing.assert_allclose(ub.fine_epsilons[on_grid], ub.epsilons, atol=1e-6)
    exact = ub.exact[on_grid]
    assert (exact <= ub.pgd + tol).all() and (exact <= ub.fgsm + tol).all()
    assert (ub.pgd <= ub.pgd_once + tol).all()  # restarts only add flips
    assert ub.certified_now <= ub.exact_now <= ub.pgd_now <= ub.clean
    assert ub.exact[0] == pytest.approx(ub.clean)
    assert ub.pgd_now - ub.exact_now == pytest.approx(len(ub.missed) / len(y))
    assert (ub.missed_eps_star <= 0.5).all()
    assert ((ub.flip_share >= 0) & (ub.flip_share <= 1)).all()
    again = explain.upper_bounds(model, X, y, eps=0.5, steps=10, restarts=3,
                                 epsilons=(0.0, 0.25, 0.5, 0.75))
    np.testing.assert_array_equal(ub.pgd, again.pgd)  # seeded
