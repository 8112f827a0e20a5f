"""advcore.sweep: one attack at many ε, the worst case in cells, and the one cap of a minimal
attack, checked against independent oracles and against the numbers of the helpers it replaced
(boundary.accuracy_curve's loop, evaluate.robustness_curve, robustness.cell_correct,
train.evaluate_card), measured on the code before the change."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from advcore import sweep
from advcore.attacks import ATTACKS, get_attack
from advcore.data import mnist
from advcore.evaluate import accuracy, predict
from advcore.models import AssetError, card_path, pretrained
from tests.conftest import binary_linear, labels_of, points


def shipped(name: str) -> torch.nn.Module:
    try:
        return pretrained(name)
    except AssetError as exc:
        pytest.skip(str(exc))


def _margin_over_l1(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """A two-class linear model's exact smallest L∞ flip per input: |z_y − z_other| / ‖w_y −
    w_other‖₁ (the logit gap shrinks by exactly ε·‖Δw‖₁ under the best L∞ step)."""
    w, b = model.linear.weight.detach(), model.linear.bias.detach()
    z = x @ w.T + b
    gap = (z[:, 0] - z[:, 1]).abs()
    return (gap / (w[0] - w[1]).abs().sum()).numpy()


# --- ε = 0, monotonicity, the exact answer on a linear model -------------------------------------

@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_the_sweep_at_eps_zero_is_clean_accuracy(attack, mlp_case) -> None:
    case = mlp_case
    if case.n_classes < get_attack(attack).min_classes:
        pytest.skip(f"{attack} needs {get_attack(attack).min_classes} classes")
    queries = 50 if get_attack(attack).black_box else None
    got = sweep.accuracy_curve(case.model, case.x, case.y, attack=attack, epsilons=[0.0, 0.3],
                               steps=3, bounds=None, queries=queries)
    assert got[0] == accuracy(case.model, case.x, case.y)
    assert 0.0 <= got[1] <= 1.0


@pytest.mark.parametrize("attack", ["fgsm", "bim", "pgd"])
def test_on_a_linear_model_the_curve_is_the_exact_one_and_never_rises(attack) -> None:
    """For a two-class linear model the best L∞ perturbation is FGSM's, and BIM and PGD reach
    it: at each ε the accuracy is the share of inputs whose exact flip distance exceeds ε (the
    oracle, closed form), so it can only fall as ε grows."""
    model = binary_linear()
    x = points(200, seed=3)
    y = labels_of(model, x)
    star = _margin_over_l1(model, x, y)
    epsilons = [0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6]
    got = sweep.accuracy_curve(model, x, y, attack=attack, epsilons=epsilons, steps=40,
                               bounds=None)
    want = [float((star > e).mean()) for e in epsilons]
    # A point within float error of its ε* may go either way: allow one input per ε.
    assert np.allclose(got, want, atol=1 / len(y) + 1e-9), (got, want)
    assert got == sorted(got, reverse=True)


def test_chunked_or_whole_a_deterministic_attack_counts_the_same(mlp_case) -> None:
    case = mlp_case
    whole = sweep.accuracy_curve(case.model, case.x, case.y, attack="bim",
                                 epsilons=[0.0, 0.1, 0.3, 0.6], bounds=None)
    parts = sweep.accuracy_curve(case.model, case.x, case.y, attack="bim",
                                 epsilons=[0.0, 0.1, 0.3, 0.6], bounds=None, chunk=10)
    assert whole == parts
    assert whole == sorted(whole, reverse=True) and whole[-1] < whole[0]


def test_correct_matches_counting_by_hand(cnn_case) -> None:
    case = cnn_case
    x_adv = get_attack("pgd")(case.model, case.x, case.y, eps=0.1, steps=5, bounds=(0.0, 1.0),
                              seed=0)
    want = int((predict(case.model, x_adv) == case.y).sum())
    assert sweep.correct(case.model, case.x, case.y, attack="pgd", eps=0.1, steps=5) == want
    assert sweep.correct(case.model, case.x, case.y, attack=sweep.CLEAN, eps=0.3) == len(case.y)


def test_bad_sweeps_say_what_is_wrong(mlp_case) -> None:
    case = mlp_case
    with pytest.raises(ValueError, match="empty"):
        sweep.accuracy_curve(case.model, case.x, case.y, attack="fgsm", epsilons=[])
    with pytest.raises(ValueError, match=">= 0"):
        sweep.accuracy_curve(case.model, case.x, case.y, attack="fgsm", epsilons=[0.1, -1.0])
    with pytest.raises(ValueError, match="unknown attack"):
        sweep.accuracy_curve(case.model, case.x, case.y, attack="nope", epsilons=[0.1])
    with pytest.raises(ValueError, match="chunk"):
        sweep.spans(10, 0)


# --- the one cap ------------------------------------------------------------------------------

@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_cap_stays_in_the_ball_and_leaves_a_perturbation_that_fits_alone(norm) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 6, 6, generator=gen)
    x_adv = (x + 0.6 * torch.randn(64, 1, 6, 6, generator=gen)).clamp(0, 1)
    eps = torch.rand(64, generator=gen) * (5.0 if norm == "l2" else 1.0)
    capped = sweep.cap(x, x_adv, eps, norm)
    size = (capped - x).flatten(1)
    size = size.abs().amax(1) if norm == "linf" else size.norm(dim=1)
    assert (size <= eps + 1e-5).all()
    assert ((capped >= 0) & (capped <= 1)).all()
    found = (x_adv - x).flatten(1)
    found = found.abs().amax(1) if norm == "linf" else found.norm(dim=1)
    inside = found <= eps
    assert inside.any() and (~inside).any()
    torch.testing.assert_close(capped[inside], x_adv[inside], rtol=0, atol=1e-6)
    if norm == "l2":  # outside, the same direction, scaled to the sphere (before clipping)
        d0, d1 = (x_adv - x)[~inside].flatten(1), (capped - x)[~inside].flatten(1)
        cos = torch.nn.functional.cosine_similarity(d0, d1)
        assert (cos > 0.999).all()
    torch.testing.assert_close(sweep.cap(x, x_adv, 0.0, norm), x, rtol=0, atol=0)


def test_cw_at_eps_is_its_uncapped_search_capped() -> None:
    """C&W's search never looks at ε: the attack at ε is the one cap applied to its uncapped
    result, inside the ball, and equal to it where its perturbation already fits."""
    model = shipped("mnist-linear")
    x, y = mnist("test")
    x, y = x[:6], y[:6]
    from advcore.attacks.cw import cw_l2

    uncapped = cw_l2(model, x, y, steps=50)
    size = (uncapped - x).flatten(1).norm(dim=1)
    for eps in (0.5, float(size.median()), 10.0):
        at = cw_l2(model, x, y, eps=eps, steps=50)
        torch.testing.assert_close(at, sweep.cap(x, uncapped, eps), rtol=0, atol=1e-6)
        assert ((at - x).flatten(1).norm(dim=1) <= eps + 1e-4).all()
        fits = size <= eps
        torch.testing.assert_close(at[fits], uncapped[fits], rtol=0, atol=1e-6)


# --- the numbers of the helpers it replaced ---------------------------------------------------
# Measured with the code before advcore.sweep existed (counts of correct inputs).

OLD_BOUNDARY = {  # boundary.accuracy_curve, BoundaryScene(n=60, width=8, depth=1), steps 10
    "fgsm": [60, 55, 26, 19], "pgd": [60, 55, 24, 4], "pgd-l2": [60, 57, 38, 6],
    "deepfool": [60, 57, 38, 2], "square": [60, 55, 26, 19], "hsja": [60, 57, 37, 2],
}
OLD_ROBUSTNESS_CURVE = {  # evaluate.robustness_curve, mnist-linear, first 100 digits, steps 5
    "fgsm": ([0.0, 0.05, 0.1, 0.2], [94, 63, 19, 0]),
    "pgd": ([0.0, 0.05, 0.1, 0.2], [94, 64, 15, 0]),
    "cw-l2": ([0.0, 1.0, 2.0], [94, 52, 8]),
}


@pytest.mark.parametrize("attack", sorted(OLD_BOUNDARY))
def test_the_boundary_curve_gives_the_old_numbers(attack) -> None:
    from advcore.playground import boundary
    from advcore.playground.state import BoundaryScene

    scene = BoundaryScene(n=60, width=8, depth=1)
    X, y = boundary.points_of(scene)
    model = boundary.train_model(scene)
    c = boundary.accuracy_curve(model, X, y, attack=attack, steps=10,
                                epsilons=(0.0, 0.2, 0.5, 1.0))
    assert c.accuracy.dtype == np.float32
    assert [round(float(a) * 60) for a in c.accuracy] == OLD_BOUNDARY[attack]
    np.testing.assert_array_equal(c.accuracy, np.float32(np.array(OLD_BOUNDARY[attack]) / 60))


@pytest.mark.parametrize("attack", sorted(OLD_ROBUSTNESS_CURVE))
def test_the_mnist_sweep_gives_the_old_numbers(attack) -> None:
    model = shipped("mnist-linear")
    x, y = mnist("test")
    epsilons, counts = OLD_ROBUSTNESS_CURVE[attack]
    got = sweep.accuracy_curve(model, x[:100], y[:100], attack=attack, epsilons=epsilons,
                               steps=5)
    assert got == [k / 100 for k in counts]


def test_cells_give_the_old_counts() -> None:
    cnn = shipped("mnist-cnn")
    x, y = mnist("test")
    assert sweep.correct(cnn, x[:50], y[:50], attack="pgd", eps=0.1, steps=5) == 38
    assert sweep.correct(cnn, x[:50], y[:50], attack="fgsm", eps=0.1, steps=1) == 42
    assert sweep.correct(cnn, x[:50], y[:50], attack=sweep.CLEAN, eps=0.0, steps=1) == 50


def test_the_card_figures_come_out_of_the_sweep_unchanged() -> None:
    """train.evaluate_card, now a few sweeps, re-measures mnist-linear's shipped card to the
    last digit (the card was written by the code before; a few CPU-seconds)."""
    from advcore.playground.robustness import one_thread
    from advcore.train import evaluate_card

    model = shipped("mnist-linear")
    card = json.loads(card_path("mnist-linear").read_text())
    with one_thread():  # two threads on a busy 2-core machine cost ten times more
        got = evaluate_card(model)
    assert got == {k: card[k] for k in got}


def test_worst_case_cells_and_their_sum() -> None:
    c = sweep.cells(["a", "b"], sweep.WORST, [0.3], n=120, chunk=50)
    assert [(x.model, x.start, x.stop) for x in c] == [
        ("a", 0, 50), ("a", 50, 100), ("a", 100, 120),
        ("b", 0, 50), ("b", 50, 100), ("b", 100, 120)]
    assert sweep.cells(["a"], "pgd", [0.1, 0.2], n=7, chunk=None) == [
        sweep.Cell("a", "pgd", 0.1, 0, 7), sweep.Cell("a", "pgd", 0.2, 0, 7)]
