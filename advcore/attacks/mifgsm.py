"""Momentum Iterative FGSM (Dong et al., "Boosting Adversarial Attacks with Momentum", CVPR 2018)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from advcore.attacks._geometry import (
    Bounds,
    Iterates,
    as_eps,
    check_inputs,
    check_steps,
    clip_to_bounds,
    is_zero,
    loss_gradient,
    project,
)


def _iterates(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: Tensor,
    *,
    steps: int,
    decay: float,
    bounds: Bounds,
    targeted: bool,
) -> Iterator[Tensor]:
    """Yield each of the `steps` iterates of MI-FGSM (no validation)."""
    alpha = eps / steps
    momentum = torch.zeros_like(x)
    x_adv = x
    for _ in range(steps):
        grad, _ = loss_gradient(model, x_adv, y, targeted=targeted)
        # Normalising by the L1 norm makes the momentum average directions, not magnitudes.
        l1 = grad.flatten(1).abs().sum(1).reshape(-1, *([1] * (x.dim() - 1)))
        momentum = decay * momentum + grad / l1.clamp_min(1e-12)
        x_adv = clip_to_bounds(x + project(x_adv + alpha * momentum.sign() - x, eps, "linf"), bounds)
        yield x_adv


def plan(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor,
    steps: int = 10,
    decay: float = 1.0,
    bounds: Bounds = (0.0, 1.0),
    targeted: bool = False,
) -> Iterates:
    """A validated MI-FGSM call (arguments as in `mifgsm`): its `steps` iterates."""
    check_steps(steps)
    if not decay >= 0:  # written so that NaN fails too
        raise ValueError(f"decay must be >= 0, got {decay}")
    x, y = check_inputs(model, x, y, bounds, eps)
    if is_zero(eps):
        return Iterates(x, y, None, steps)

    def make(xc: Tensor, yc: Tensor, ec: Tensor) -> Iterator[Tensor]:
        return _iterates(model, xc, yc, ec, steps=steps, decay=decay, bounds=bounds,
                         targeted=targeted)

    return Iterates(x, y, make, steps, (as_eps(eps, x),))


def mifgsm(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor,
    steps: int = 10,
    decay: float = 1.0,
    bounds: Bounds = (0.0, 1.0),
    targeted: bool = False,
) -> Tensor:
    """I-FGSM whose steps follow an accumulated, L1-normalised gradient (momentum `decay`).

    x: (N, ...) inputs inside `bounds`; y: (N,) labels, or targets when `targeted`.
    eps: L∞ radius on the input scale; each of the `steps` steps moves ε/steps per pixel.
    Returns x' with ‖x' − x‖∞ ≤ ε, clipped to `bounds`.
    """
    return plan(model, x, y, eps=eps, steps=steps, decay=decay, bounds=bounds,
                targeted=targeted).final()
