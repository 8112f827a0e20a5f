"""Work that a visitor can start must stop when asked: advcore.cancel's `should_stop` hook.

The long functions (a live accuracy cell, a transfer row, a test-set chunk) take `should_stop`
and ask it before every forward pass of the model. These tests count forward passes of a tiny
model: after the hook says stop, not one more pass runs; without a stop, the numbers are
bit-identical to a run without the hook; the shared model is never touched.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from advcore import cancel, sweep
from advcore.models import LinearClassifier
from advcore.playground import digits, robustness

pytestmark = pytest.mark.usefixtures("one_thread")


class Counting(nn.Module):
    """A fixed linear model on 28×28 digits that counts its forward passes."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = LinearClassifier(784, 10).eval()
        self.passes = 0
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        self.passes += 1
        return self.net(x)


def digits_batch(n: int = 40) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


class StopAfter:
    """A should_stop hook that says stop once the model has run `passes` forward passes."""

    def __init__(self, model: Counting, passes: int) -> None:
        self.model, self.passes, self.asked = model, passes, 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.model.passes >= self.passes


@pytest.fixture(autouse=True)
def ask_every_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ask the hook before every pass (the default throttles to one question per 50 ms)."""
    monkeypatch.setattr(cancel, "CHECK_EVERY_S", 0.0)
    monkeypatch.setattr(cancel.Interruptible.__init__, "__defaults__", (0.0,))


RUNS = {
    "sweep.correct": lambda m, x, y, stop: sweep.correct(
        m, x, y, attack="pgd", eps=0.1, steps=30, should_stop=stop),
    "transfer_row": lambda m, x, y, stop: robustness.transfer_row(
        m, [m, m], x, y, attack="pgd", eps=0.1, steps=30, should_stop=stop),
    "attack_counts": lambda m, x, y, stop: digits.attack_counts(
        m, x, y, attack="pgd", eps=0.1, steps=30, should_stop=stop),
    "live_curves": lambda m, x, y, stop: robustness.live_curves(
        {"m": m}, x, y, epsilons=[0.1, 0.2], steps=30, chunk=10, should_stop=stop),
}


@pytest.mark.parametrize("name", RUNS)
def test_work_stops_at_the_first_pass_after_the_hook_says_stop(name: str) -> None:
    model = Counting()
    x, y = digits_batch()
    with pytest.raises(cancel.Cancelled):
        RUNS[name](model, x, y, StopAfter(model, 5))
    assert model.passes == 5  # PGD-30 alone would have run 31 passes per batch


@pytest.mark.parametrize("name", RUNS)
def test_a_hook_that_never_stops_changes_no_number(name: str) -> None:
    x, y = digits_batch()
    plain, hooked = Counting(), Counting()
    expected = RUNS[name](plain, x, y, None)
    hook = StopAfter(hooked, 10**9)
    got = RUNS[name](hooked, x, y, hook)
    assert got == expected if not hasattr(got, "shape") else (got == expected).all()
    assert hooked.passes == plain.passes > 30
    assert hook.asked >= hooked.passes  # before every pass (live_curves also between cells)


def test_a_hook_may_raise_its_own_exception_and_it_comes_through_unchanged() -> None:
    """Streamlit's stop signal is a BaseException; advcore must not swallow or wrap it."""

    class FrameworkStop(BaseException):
        pass

    def stop() -> bool:
        raise FrameworkStop

    with pytest.raises(FrameworkStop):
        robustness.transfer_row(Counting(), [Counting()], *digits_batch(), attack="fgsm",
                                eps=0.1, steps=1, should_stop=stop)


def test_the_wrapper_never_reaches_the_shared_model() -> None:
    shared = Counting()
    wrapped = cancel.interruptible(shared, lambda: False)
    assert wrapped is not shared and not wrapped.training
    wrapped.train()
    assert not shared.training and not shared.net.training
    assert list(wrapped.parameters()) == []
    assert cancel.interruptible(shared, None) is shared


def test_the_hook_is_asked_at_most_every_check_interval() -> None:
    model, asked = Counting(), []
    wrapped = cancel.Interruptible(model, lambda: asked.append(1) or False, every_s=3600.0)
    for _ in range(20):
        wrapped(torch.zeros(1, 1, 28, 28))
    assert model.passes == 20 and len(asked) == 1


def test_2d_adversarial_training_stops_at_its_next_report() -> None:
    """Training reports every 20 epochs; the hook is asked there and between the stages."""
    asked: list[int] = []

    def stop_on_third() -> bool:
        asked.append(1)
        return len(asked) >= 3

    with pytest.raises(cancel.Cancelled):
        robustness.adversarial_training_2d("moons", attack="fgsm", eps=0.3, n=40, epochs=100,
                                           n_test=40, should_stop=stop_on_third)
    assert len(asked) == 3
