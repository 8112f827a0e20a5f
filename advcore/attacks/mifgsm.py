"""Momentum Iterative FGSM (Dong et al., "Boosting Adversarial Attacks with Momentum", CVPR 2018)."""

from __future__ import annotations

from collections.abc import Iterator

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
    frames,
    is_zero,
    last,
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


def _check(eps: float | Tensor, steps: int, decay: float) -> None:
    check_eps(eps)
    check_steps(steps)
    if not decay >= 0:
        raise ValueError(f"decay must be >= 0, got {decay}")


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
    _check(eps, steps, decay)
    x, y = check_inputs(model, x, y, bounds, eps)
    if is_zero(eps):
        return x.clone()

    def run(xc: Tensor, yc: Tensor, ec: Tensor) -> Tensor:
        return last(_iterates(model, xc, yc, ec, steps=steps, decay=decay, bounds=bounds,
                              targeted=targeted), xc)

    with torch.no_grad():
        return chunked(run, x, y, as_eps(eps, x))


def mifgsm_frames(
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
    """x and every iterate of `mifgsm`, shape (steps + 1, N, ...); the last frame is its output."""
    _check(eps, steps, decay)
    x, y = check_inputs(model, x, y, bounds, eps)
    if is_zero(eps):
        return x.unsqueeze(0).repeat(steps + 1, *([1] * x.dim()))

    def run(xc: Tensor, yc: Tensor, ec: Tensor) -> Tensor:
        return frames(_iterates(model, xc, yc, ec, steps=steps, decay=decay, bounds=bounds,
                                targeted=targeted), xc, steps)

    with torch.no_grad():
        return chunked(run, x, y, as_eps(eps, x), dim=1)
