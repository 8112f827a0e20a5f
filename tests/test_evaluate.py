"""Evaluation: accuracy, robust accuracy, robustness curves and the smallest flipping ε."""

from __future__ import annotations

import pytest
import torch

from advcore import attacks, evaluate
from tests.conftest import binary_linear, labels_of, points

pytestmark = pytest.mark.usefixtures("one_thread")


def test_predict_is_batched_and_matches_argmax(cnn_case):
    case = cnn_case
    with torch.no_grad():
        expected = case.model(case.x).argmax(1)
    assert torch.equal(evaluate.predict(case.model, case.x, batch=5), expected)
    assert evaluate.predict(case.model, case.x).dtype == torch.int64


def test_accuracy_counts_correct_predictions(cnn_case):
    case = cnn_case
    assert evaluate.accuracy(case.model, case.x, case.y) == 1.0
    wrong = case.y.clone()
    wrong[:6] = (wrong[:6] + 1) % 10
    assert evaluate.accuracy(case.model, case.x, wrong) == pytest.approx(1 - 6 / len(wrong))


def test_probabilities_are_a_distribution(cnn_case):
    p = evaluate.probabilities(cnn_case.model, cnn_case.x)
    assert p.shape == (len(cnn_case.x), 10)
    torch.testing.assert_close(p.sum(1), torch.ones(len(p)))


def test_robust_accuracy_is_accuracy_on_the_attack_output(cnn_case):
    case = cnn_case
    x_adv = attacks.pgd(case.model, case.x, case.y, eps=0.1, steps=5,
                        generator=torch.Generator().manual_seed(4))
    got = evaluate.robust_accuracy(case.model, case.x, case.y, attack="pgd", eps=0.1, steps=5,
                                   seed=4)
    assert got == evaluate.accuracy(case.model, x_adv, case.y)


def test_smallest_flipping_eps_brackets_the_flip(cnn_case):
    """At the returned ε the prediction flips; a hair below it, it does not (FGSM, per input)."""
    case = cnn_case
    tol = 1e-3
    found = evaluate.smallest_flipping_eps(case.model, case.x, case.y, eps_max=0.5, tol=tol)
    finite = torch.isfinite(found)
    assert finite.any()
    at = attacks.fgsm(case.model, case.x[finite], case.y[finite], eps=found[finite])
    below = attacks.fgsm(case.model, case.x[finite], case.y[finite],
                         eps=(found[finite] - tol).clamp_min(0))
    assert (labels_of(case.model, at) != case.y[finite]).all()
    assert (labels_of(case.model, below) == case.y[finite]).all()


def test_smallest_flipping_eps_is_zero_for_mistakes_and_inf_out_of_reach():
    model = binary_linear()
    x = points(32, seed=5)
    y = labels_of(model, x)
    y[:4] = 1 - y[:4]  # the model is wrong on these
    found = evaluate.smallest_flipping_eps(model, x, y, eps_max=0.05, tol=1e-3, bounds=None)
    assert (found[:4] == 0).all()
    w = model.linear.weight.detach()
    with torch.no_grad():
        z = model(x)
    margin = (z[:, 0] - z[:, 1]).abs()
    far = margin / (w[0] - w[1]).abs().sum() > 0.05
    far[:4] = False
    assert far.any() and torch.isinf(found[far]).all()


@pytest.mark.parametrize("tol", [0.0, -1e-3, float("nan")])
def test_smallest_flipping_eps_refuses_a_tolerance_that_never_converges(tol, cnn_case):
    case = cnn_case
    with pytest.raises(ValueError, match="tol must be"):
        evaluate.smallest_flipping_eps(case.model, case.x, case.y, tol=tol)


def test_smallest_flipping_eps_terminates_below_float32_resolution(linear_case):
    case = linear_case
    found = evaluate.smallest_flipping_eps(case.model, case.x[:4], case.y[:4], eps_max=3.0,
                                           tol=1e-12, bounds=None)
    assert found.shape == (4,)


def test_smallest_flipping_eps_refuses_negative_eps_max(cnn_case):
    with pytest.raises(ValueError, match="eps_max must"):
        evaluate.smallest_flipping_eps(cnn_case.model, cnn_case.x, cnn_case.y, eps_max=-0.1)


# --- the worst-case ensemble -----------------------------------------------------------------


def _quiet(fn, *args, **kwargs):
    """Run fn with EvaluationWarnings silenced (tiny random models trip the checks)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", evaluate.EvaluationWarning)
        return fn(*args, **kwargs)


def test_ensemble_is_the_worst_case_of_its_attacks(cnn_case):
    """FGSM and BIM are deterministic and per-input, so the ensemble's verdict must be exactly:
    correct, and fooled by neither (each run on every input separately)."""
    case = cnn_case
    got = _quiet(evaluate.robust_accuracy, case.model, case.x, case.y, eps=0.05,
                 attacks=("fgsm", "bim"), steps=5)
    alone = {name: evaluate.predict(case.model, attacks.run_attack(
        name, case.model, case.x, case.y, eps=0.05, steps=5)) == case.y for name in ("fgsm",
                                                                                    "bim")}
    clean = evaluate.predict(case.model, case.x) == case.y
    expected = clean & alone["fgsm"] & alone["bim"]
    assert torch.equal(got.robust, expected)
    n = len(case.y)
    assert isinstance(got, float) and got.accuracy == float(got) == int(expected.sum()) / n
    assert list(got.per_attack) == ["fgsm", "bim"]
    assert got.per_attack["fgsm"] == int((clean & alone["fgsm"]).sum()) / n
    assert got.per_attack["bim"] == got.accuracy
    assert got.per_attack["bim"] < 1.0  # the test must be able to see a difference


def test_ensemble_result_is_consistent(cnn_case):
    case = cnn_case
    seen = []
    got = _quiet(evaluate.robust_accuracy, case.model, case.x, case.y, eps=0.02,
                 attacks=("apgd-ce", "apgd-t", "square"), steps=10, queries=100,
                 progress=lambda *a: seen.append(a))
    assert [s[:3] for s in seen] == [(1, 3, "apgd-ce"), (2, 3, "apgd-t"), (3, 3, "square")]
    accs = list(got.per_attack.values())
    assert accs == sorted(accs, reverse=True)
    assert got.robust.dtype == torch.bool and got.robust.shape == (len(case.y),)
    fooled = ~got.robust
    assert (evaluate.predict(case.model, got.x_adv[fooled]) != case.y[fooled]).all()
    assert torch.equal(got.x_adv[got.robust], case.x[got.robust])
    assert ((got.x_adv - case.x).flatten(1).abs().amax(1) <= 0.02 + 1e-6).all()
    assert all((f is None) == bool(r) for f, r in zip(got.fooled_by, got.robust, strict=True))
    assert got.queries["square"].shape == (len(case.y),)
    assert (got.queries["square"][got.robust] == 100).all()  # ran on the survivors only
    lo, hi = got.ci
    assert lo <= got.accuracy <= hi


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (884, 1000)])
def test_clopper_pearson_matches_scipys_exact_binomial_interval(k, n):
    from scipy import stats

    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert evaluate.clopper_pearson(k, n) == pytest.approx((ci.low, ci.high))


def test_default_ensemble_runs_on_a_two_class_model(mlp_case):
    case = mlp_case
    got = _quiet(evaluate.robust_accuracy, case.model, case.x, case.y, eps=0.3, bounds=None,
                 steps=10, queries=100)
    assert list(got.per_attack) == list(evaluate.ENSEMBLES["linf"])
    assert got.accuracy < evaluate.accuracy(case.model, case.x, case.y)


def test_an_honest_model_raises_no_evaluation_warning(mlp_case):
    import warnings

    case = mlp_case
    with warnings.catch_warnings():
        warnings.simplefilter("error", evaluate.EvaluationWarning)
        got = evaluate.robust_accuracy(case.model, case.x, case.y, eps=0.3, bounds=None,
                                       queries=200)
    assert got.warnings == ()


def test_ensemble_arguments_are_checked(cnn_case):
    case = cnn_case
    with pytest.raises(ValueError, match="measures ε in l2"):
        evaluate.robust_accuracy(case.model, case.x, case.y, eps=0.1, attacks=("pgd-l2",))
    with pytest.raises(ValueError, match="norm must be one of"):
        evaluate.robust_accuracy(case.model, case.x, case.y, eps=0.1, norm="l1")
    with pytest.raises(ValueError, match="either attack"):
        evaluate.robust_accuracy(case.model, case.x, case.y, eps=0.1, attack="pgd",
                                 attacks=("pgd",))
    with pytest.raises(ValueError, match="eps must"):
        evaluate.robust_accuracy(case.model, case.x, case.y, eps=-0.1)
