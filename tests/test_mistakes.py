"""advcore.playground.mistakes: each detector fires on its mistake and stays quiet on correct use."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advcore.data import mnist
from advcore.models import SmallCNN
from advcore.playground import mistakes

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@pytest.fixture(scope="module")
def digits() -> Tensor:
    return mnist("test")[0]


class FunctionalDropout(nn.Module):
    """The classic bug: F.dropout's `training` defaults to True, so eval() does not stop it."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(784, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(F.dropout(x.flatten(1), 0.5))


class Counting(nn.Module):
    """Counts forward passes, to prove a check did not run a model in training mode."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(784, 10)
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        return self.linear(x.flatten(1))


# --- 1. training mode ---------------------------------------------------------------------------


def test_eval_mode_passes(digits):
    torch.manual_seed(0)
    assert mistakes.check_eval_mode(SmallCNN().eval(), digits[:4]).ok


def test_training_mode_fails_without_running_or_switching_the_model(digits):
    model = Counting().train()
    check = mistakes.check_eval_mode(model, digits[:4])
    assert not check.ok and "model.training is True" in check.detail
    assert model.training and model.calls == 0


def test_a_submodule_left_training_is_named():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.Dropout(0.3),
                          nn.Linear(16, 10)).eval()
    model[2].train()  # the dropout layer
    check = mistakes.check_eval_mode(model)
    assert not check.ok and "Dropout" in check.detail


def test_hidden_randomness_in_eval_mode_is_caught_by_two_passes(digits):
    torch.manual_seed(0)
    model = FunctionalDropout().eval()
    assert mistakes.check_eval_mode(model).ok  # the flags alone cannot see it
    check = mistakes.check_eval_mode(model, digits[:4])
    assert not check.ok and "F.dropout" in check.detail


# --- 2. normalised, then clipped ----------------------------------------------------------------


def test_raw_digits_pass(digits):
    assert mistakes.check_input_range(digits).ok
    assert mistakes.check_input_range(torch.rand(5, 2) * 9, None).ok  # unbounded features


def test_normalised_digits_fail_the_range(digits):
    check = mistakes.check_input_range((digits[:8] - MNIST_MEAN) / MNIST_STD)
    assert not check.ok and "normalised" in check.detail


def test_normalised_then_clipped_batches_are_caught(digits):
    clipped = ((digits - MNIST_MEAN) / MNIST_STD).clamp(0, 1)
    for start in range(0, 1000, 8):
        assert not mistakes.check_input_range(clipped[start : start + 8]).ok
        assert mistakes.check_input_range(digits[start : start + 8]).ok


def test_single_digits_rarely_false_alarm(digits):
    """One digit is weaker evidence: a few real digits are nearly binary. Measured on the 1,000
    test digits: 0.3% false alarms on raw digits, 87% of clipped ones caught."""
    clipped = ((digits - MNIST_MEAN) / MNIST_STD).clamp(0, 1)
    false_alarms = sum(not mistakes.check_input_range(d[None]).ok for d in digits)
    caught = sum(not mistakes.check_input_range(d[None]).ok for d in clipped)
    assert false_alarms <= 10
    assert caught >= 800


# --- 3. softmax where logits belong -----------------------------------------------------------


def test_logits_pass_and_probabilities_fail():
    logits = torch.randn(6, 10, generator=torch.Generator().manual_seed(0)) * 4
    assert mistakes.check_logits(logits).ok
    assert mistakes.check_logits(F.log_softmax(logits, 1)).ok  # same gradients as logits
    check = mistakes.check_logits(torch.softmax(logits, 1))
    assert not check.ok and "probabilities" in check.detail


def test_single_logit_and_wrong_shape_fail():
    assert not mistakes.check_logits(torch.randn(4, 1)).ok
    assert not mistakes.check_logits(torch.randn(4)).ok


# --- 4. ε units ---------------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [0.3, 0.25, 8 / 255, 0.0])
def test_usual_eps_pass(eps):
    assert mistakes.check_eps_units(eps).ok


def test_eps_in_grey_levels_fails_and_suggests_the_fix():
    check = mistakes.check_eps_units(8)
    assert not check.ok and "8/255 = 0.03137" in check.detail
    assert not mistakes.check_eps_units(0.75).ok  # more than half the range


def test_l2_and_unbounded_eps_are_not_judged_per_pixel():
    assert mistakes.check_eps_units(2.0, norm="l2").ok
    assert mistakes.check_eps_units(3.0, None).ok


def test_eps_in_units():
    assert mistakes.eps_in_units(0.1)["grey_levels"] == pytest.approx(25.5)
    assert mistakes.eps_in_units(8 / 255)["grey_levels"] == pytest.approx(8)


# --- all together -------------------------------------------------------------------------------


def test_run_checks_on_correct_use_all_pass(digits):
    torch.manual_seed(0)
    checks = mistakes.run_checks(SmallCNN().eval(), digits[:8], eps=0.1)
    assert [c.key for c in checks] == ["eval", "range", "logits", "eps"]
    assert mistakes.all_ok(checks)


def test_run_checks_does_not_run_a_training_model(digits):
    model = Counting().train()
    checks = mistakes.run_checks(model, digits[:8], eps=8)
    assert [c.key for c in checks] == ["eval", "range", "eps"]
    assert model.calls == 0
    assert not mistakes.all_ok(checks)
