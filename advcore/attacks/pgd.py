"""Projected Gradient Descent in L∞ and L2 (Madry et al., "Towards Deep Learning Models Resistant
to Adversarial Attacks", ICLR 2018), and BIM / I-FGSM (Kurakin, Goodfellow & Bengio 2017), which is
PGD without the random start."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from advcore.attacks._geometry import (
    Bounds,
    Iterates,
    Norm,
    as_eps,
    check_eps,
    check_inputs,
    check_norm,
    check_steps,
    clip_to_bounds,
    is_zero,
    loss_gradient,
    normalized_step,
    project,
    random_in_ball,
)

# Madry et al.'s lab uses 2.5·ε/steps: large enough to reach the boundary of the ball from anywhere
# inside it within the step budget, small enough to walk along a curved boundary.
STEP_FACTOR = 2.5


def _start(
    x: Tensor, eps: Tensor, norm: Norm, random_start: bool, bounds: Bounds,
    generator: torch.Generator | None,
) -> Tensor:
    """The first iterate: x, or a uniform point of the ε-ball around it.

    Drawn for the whole batch at once, so the result does not depend on how the batch is chunked.
    """
    if not random_start:
        return x
    with torch.no_grad():
        return clip_to_bounds(x + random_in_ball(x, eps, norm, generator), bounds)


def _iterates(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    start: Tensor,
    eps: Tensor,
    *,
    steps: int,
    step_size: float | Tensor | None,
    norm: Norm,
    bounds: Bounds,
    targeted: bool,
) -> Iterator[Tensor]:
    """Yield each of the `steps` iterates of PGD from `start` (no validation)."""
    alpha = STEP_FACTOR * eps / steps if step_size is None else step_size
    x_adv = start
    for _ in range(steps):
        grad, _ = loss_gradient(model, x_adv, y, targeted=targeted)
        x_adv = x_adv + alpha * normalized_step(grad, norm)
        x_adv = clip_to_bounds(x + project(x_adv - x, eps, norm), bounds)
        yield x_adv


def plan(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor,
    steps: int = 10,
    step_size: float | None = None,
    norm: Norm = "linf",
    random_start: bool = True,
    bounds: Bounds = (0.0, 1.0),
    targeted: bool = False,
    generator: torch.Generator | None = None,
) -> Iterates:
    """A validated PGD call (arguments as in `pgd`): its `steps` iterates, the random start
    folded into the first."""
    check_steps(steps)
    check_norm(norm)
    if step_size is not None:
        check_eps(step_size, "step_size")
    x, y = check_inputs(model, x, y, bounds, eps)
    if is_zero(eps):
        return Iterates(x, y, None, steps)
    eps_t = as_eps(eps, x)

    def make(xc: Tensor, yc: Tensor, sc: Tensor, ec: Tensor) -> Iterator[Tensor]:
        return _iterates(model, xc, yc, sc, ec, steps=steps, step_size=step_size, norm=norm,
                         bounds=bounds, targeted=targeted)

    start = _start(x, eps_t, norm, random_start, bounds, generator)
    return Iterates(x, y, make, steps, (start, eps_t))


def pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor,
    steps: int = 10,
    step_size: float | None = None,
    norm: Norm = "linf",
    random_start: bool = True,
    bounds: Bounds = (0.0, 1.0),
    targeted: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Iterated gradient steps, each projected back onto the ε-ball around x.

    x: (N, ...) inputs inside `bounds`; y: (N,) labels, or targets when `targeted`.
    eps: radius of the ball on the input scale (L∞: per pixel; L2: over the whole input); a
        float, or one value per input as a tensor of shape (N,).
    step_size: per-step move; defaults to 2.5·ε/steps.
    random_start: start from a uniform point in the ball (PGD); False gives BIM / I-FGSM.
    generator: the source of the random start, for reproducible results.
    Returns x' with ‖x' − x‖ ≤ ε in `norm`, clipped to `bounds`.
    """
    return plan(model, x, y, eps=eps, steps=steps, step_size=step_size, norm=norm,
                random_start=random_start, bounds=bounds, targeted=targeted,
                generator=generator).final()


def bim(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor,
    steps: int = 10,
    step_size: float | None = None,
    norm: Norm = "linf",
    bounds: Bounds = (0.0, 1.0),
    targeted: bool = False,
) -> Tensor:
    """BIM / I-FGSM: PGD from the clean input, without a random start (deterministic)."""
    return pgd(
        model, x, y, eps=eps, steps=steps, step_size=step_size, norm=norm,
        random_start=False, bounds=bounds, targeted=targeted,
    )
