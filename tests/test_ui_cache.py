"""pages/ui.py's cached /digits path gives exactly what a direct advcore call gives, and the
expensive work of the other pages goes to the pool's right lane (no Streamlit run)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advcore import attacks, models
from advcore.data import mnist
from advcore.playground import boundary, digits, robustness, state
from pages import pool, ui

pytestmark = pytest.mark.usefixtures("one_thread")
CNN = "mnist-cnn"


@pytest.fixture(scope="module")
def test_set() -> tuple[torch.Tensor, torch.Tensor]:
    return mnist("test")


@pytest.mark.parametrize("eps", [0.1, 0.1234, 0.3])
@pytest.mark.parametrize("target", [None, 3])
def test_cached_fgsm_test_set_counts_equal_a_direct_fgsm(test_set, eps, target) -> None:
    """The page's FGSM test set (ε quantised to the slider step, a cached gradient sign per
    25-digit chunk, one forward pass per ε) against attacks.fgsm run from scratch."""
    x, y = test_set
    model = models.pretrained(CNN)
    q = ui.quantised_eps("fgsm", eps)
    assert q == round(round(eps / 0.01) * 0.01, 6)
    for start in range(0, 200, 25):
        stop = start + 25
        cached = ui.test_counts(CNN, "fgsm", eps, 1, target, start, stop)
        xb, yb = x[start:stop], y[start:stop]
        goal = yb if target is None else torch.full_like(yb, target)
        x_adv = attacks.fgsm(model, xb, goal, eps=q, targeted=target is not None)
        with torch.no_grad():
            adv = model(x_adv).argmax(1)
            clean = model(xb).argmax(1)
        assert cached.correct_adv == int((adv == yb).sum())
        assert cached.correct_clean == int((clean == yb).sum())
        if target is not None:
            assert cached.hit_target == int(((adv == target) & (yb != target)).sum())


def test_cached_digit_attack_race_and_gallery_equal_direct_calls(test_set) -> None:
    x, y = test_set
    model = models.pretrained(CNN)
    digit, label = ui.test_digit(8)
    for eps in (0.05, 0.17):
        got = ui.digit_attack(CNN, "fgsm", eps, 1, None, digit, label)
        direct = digits.attack_digit(model, digit, label, attack="fgsm", eps=eps, steps=1)
        assert np.array_equal(got.adversarial, direct.adversarial)
        assert np.array_equal(got.probs_adv, direct.probs_adv)
        race = ui.digit_race(CNN, "fgsm", eps, 1, None, digit, label, 11)
        want = digits.logit_race(model, direct, attack="fgsm", eps=eps, steps=1, frames=11)
        assert np.array_equal(race.logits, want.logits)
        assert np.array_equal(race.images, want.images)
        g = ui.digit_gallery(CNN, "fgsm", eps, 1, None, 0, 4)
        idx = digits.gallery_indices(y.numpy(), ui.GALLERY_SIZE)[:4]
        g_direct = digits.attack_gallery(model, x, y, idx, attack="fgsm", eps=eps, steps=1)
        assert np.array_equal(g.adversarial, g_direct.adversarial)
        assert np.array_equal(g.pred_adv, g_direct.pred_adv)


def test_cheap_iterative_calls_stay_inline_and_costly_ones_are_pooled() -> None:
    assert not ui._expensive("fgsm", 10**9)
    assert not ui._expensive("pgd", 6 * 10)  # PGD-10's race
    assert not ui._expensive("pgd", 4 * 10)  # a PGD-10 gallery chunk
    assert ui._expensive("pgd", 3 * 9 * 10)  # PGD-10's fragility bisection on three models
    assert ui._expensive("pgd", 6 * 100)  # PGD-100's race
    assert not ui._expensive("deepfool", 10**9)  # minimal attacks: capped re-use


@pytest.fixture
def lanes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record (label, lane) of every pool.compute, and run the job inline."""
    seen: list[tuple[str, str]] = []

    def compute(label, fn, *args, lane="digit"):
        seen.append((label, lane))
        return fn(*args)

    monkeypatch.setattr(pool, "compute", compute)
    return seen


def test_transfer_row_goes_to_the_long_lane_with_the_same_numbers(test_set, lanes) -> None:
    x, y = test_set
    names = tuple(models.PRETRAINED)
    got = ui.transfer_row(CNN, names, "fgsm", 0.2, 1, 50)
    assert [lane for _, lane in lanes] == ["long"]
    want = robustness.transfer_row(models.pretrained(CNN), [models.pretrained(m) for m in names],
                                   x[:50], y[:50], attack="fgsm", eps=0.2, steps=1)
    assert np.array_equal(got, want)


def test_adversarial_training_and_large_2d_models_go_to_the_long_lane(lanes) -> None:
    ui.toy_adversarial_training("moons", 0.2, 0, "fgsm", 0.3)
    assert lanes == [(lanes[0][0], "long")]
    small = boundary.training_key(state.BoundaryScene())
    large = boundary.training_key(state.BoundaryScene(n=1000, width=128, depth=2))
    robust = boundary.training_key(state.BoundaryScene(attack="fgsm", eps=0.3), robust=True)
    assert not ui.boundary_training_is_large(small)
    assert ui.boundary_training_is_large(large) and ui.boundary_training_is_large(robust)
    lanes.clear()
    ui.boundary_grid(small)
    assert lanes == []  # the default scene trains in the visitor's own thread (0.2 s)
    grid = ui.boundary_grid(large)
    assert [lane for _, lane in lanes] == ["long"]
    want = boundary.decision_grid(ui.boundary_model(large), ui.boundary_points(large)[0])
    assert np.array_equal(grid.prob, want.prob)
