"""Evaluation: accuracy, robust accuracy, accuracy-vs-ε curves, and the smallest ε that flips
each prediction (the "how fragile is this digit" number)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from advcore.attacks import get_attack
from advcore.attacks._geometry import Bounds, check_eps

BATCH = 500


def predict(model: nn.Module, x: Tensor, batch: int = BATCH) -> Tensor:
    """(N,) predicted classes, in batches, without building a graph."""
    with torch.no_grad():
        return torch.cat([model(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)])


def probabilities(model: nn.Module, x: Tensor) -> Tensor:
    """(N, C) softmax probabilities."""
    with torch.no_grad():
        return torch.softmax(model(x), dim=1)


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Fraction of inputs classified correctly."""
    return float((predict(model, x) == y).float().mean())


def robust_accuracy(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    attack: str = "fgsm",
    eps: float,
    steps: int = 10,
    bounds: Bounds = (0.0, 1.0),
    seed: int = 0,
) -> float:
    """Accuracy on the adversarial versions of x under `attack` at `eps`."""
    x_adv = get_attack(attack)(model, x, y, eps=eps, steps=steps, bounds=bounds, seed=seed)
    return accuracy(model, x_adv, y)


def robustness_curve(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    attack: str = "fgsm",
    epsilons: Sequence[float],
    steps: int = 10,
    bounds: Bounds = (0.0, 1.0),
    seed: int = 0,
) -> list[float]:
    """Robust accuracy at each ε in `epsilons`."""
    return [
        robust_accuracy(model, x, y, attack=attack, eps=e, steps=steps, bounds=bounds, seed=seed)
        for e in epsilons
    ]


def smallest_flipping_eps(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    attack: str = "fgsm",
    eps_max: float = 0.5,
    steps: int = 10,
    tol: float = 1e-3,
    bounds: Bounds = (0.0, 1.0),
    seed: int = 0,
) -> Tensor:
    """(N,) the smallest ε at which `attack` changes each prediction, found by bisection.

    Inputs already misclassified get 0; inputs the attack cannot flip within `eps_max` get inf.
    Precision is `tol` in ε units (about log2(eps_max / tol) attack runs). For FGSM on a linear
    model this is exact up to `tol`: the margin shrinks linearly in ε.
    """
    check_eps(eps_max, "eps_max")
    if not (isinstance(tol, int | float) and tol > 0):  # NaN and 0 would never converge
        raise ValueError(f"tol must be a number > 0, got {tol!r}")
    spec = get_attack(attack)
    x = x.detach()
    n = len(x)

    def flipped(eps: Tensor) -> Tensor:
        x_adv = spec(model, x, y, eps=eps, steps=steps, bounds=bounds, seed=seed)
        return predict(model, x_adv) != y

    result = torch.full((n,), float("inf"))
    wrong = predict(model, x) != y
    result[wrong] = 0.0
    hi = torch.full((n,), float(eps_max))
    reachable = flipped(hi) & ~wrong
    lo = torch.zeros(n)
    # A fixed number of halvings: a `while hi - lo > tol` loop never ends once tol is below the
    # float32 spacing of ε (the midpoint stops moving).
    halvings = min(40, max(0, math.ceil(math.log2(eps_max / tol)))) if eps_max > 0 else 0
    for _ in range(halvings):
        mid = (lo + hi) / 2
        f = flipped(mid)
        hi = torch.where(f, mid, hi)
        lo = torch.where(f, lo, mid)
    result[reachable] = hi[reachable]
    return result
