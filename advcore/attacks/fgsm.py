"""Fast Gradient Sign Method (Goodfellow, Shlens & Szegedy, "Explaining and Harnessing
Adversarial Examples", ICLR 2015)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advcore.attacks._geometry import (
    Bounds,
    as_eps,
    check_eps,
    check_inputs,
    check_steps,
    chunked,
    clip_to_bounds,
    is_zero,
    loss_gradient,
)


def fgsm(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor,
    bounds: Bounds = (0.0, 1.0),
    targeted: bool = False,
) -> Tensor:
    """One step of size ε along the sign of the loss gradient with respect to the input.

    x: (N, ...) float inputs inside `bounds` (images: (N, 1, 28, 28) in [0, 1]).
    y: (N,) int64 true labels, or target classes when `targeted`.
    eps: L∞ radius on the input scale (0.1 on [0, 1] pixels is 25.5/255); a float, or one
        value per input as a tensor of shape (N,).
    Returns a new tensor x' with ‖x' − x‖∞ ≤ ε, clipped to `bounds`. For a linear model, the
    step is the exact optimum of the loss over the ε-square.
    """
    check_eps(eps)
    x, y = check_inputs(model, x, y, bounds, eps)
    if is_zero(eps):
        return x.clone()

    def step(xc: Tensor, yc: Tensor, ec: Tensor) -> Tensor:
        grad, _ = loss_gradient(model, xc, yc, targeted=targeted)
        return clip_to_bounds(xc + ec * grad.sign(), bounds)

    with torch.no_grad():
        return chunked(step, x, y, as_eps(eps, x))


def fgsm_frames(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    steps: int,
    bounds: Bounds = (0.0, 1.0),
    targeted: bool = False,
) -> Tensor:
    """FGSM at ε·k/steps for k = 0..steps, shape (steps + 1, N, ...): the straight path that
    FGSM's one step takes, for animation. Costs one gradient; frame k equals
    `fgsm(..., eps=eps * k / steps)` exactly, so frame 0 is x and the last frame is FGSM at ε."""
    check_eps(eps)
    check_steps(steps)
    x, y = check_inputs(model, x, y, bounds)
    radii = [float(eps) * k / steps if k < steps else float(eps) for k in range(steps + 1)]

    def path(xc: Tensor, yc: Tensor) -> Tensor:
        if is_zero(eps):
            return xc.unsqueeze(0).repeat(steps + 1, *([1] * xc.dim()))
        sign = loss_gradient(model, xc, yc, targeted=targeted)[0].sign()
        return torch.stack([
            xc if r == 0 else clip_to_bounds(xc + as_eps(r, xc) * sign, bounds) for r in radii
        ])

    with torch.no_grad():
        return chunked(path, x, y, dim=1)
