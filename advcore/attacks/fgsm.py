"""Fast Gradient Sign Method (Goodfellow, Shlens & Szegedy, "Explaining and Harnessing
Adversarial Examples", ICLR 2015)."""

from __future__ import annotations

from collections.abc import Iterator

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
)


def _iterates(
    model: nn.Module, x: Tensor, y: Tensor, eps: Tensor, *, frames: int, bounds: Bounds,
    targeted: bool, scalar: float | None,
) -> Iterator[Tensor]:
    """FGSM at ε·k/frames for k = 1..frames, from one gradient: the straight path its one step
    takes. The last iterate is FGSM at ε exactly (no rounding of ε·frames/frames); a scalar ε is
    scaled in double precision as given, so frame k equals `fgsm(..., eps=ε·k/frames)` bit for bit."""
    sign = loss_gradient(model, x, y, targeted=targeted)[0].sign()
    for k in range(1, frames + 1):
        if k == frames:
            radius = eps
        elif scalar is not None:
            radius = as_eps(scalar * k / frames, x)
        else:
            radius = eps * k / frames
        yield clip_to_bounds(x + radius * sign, bounds)


def plan(
    model: nn.Module, x: Tensor, y: Tensor, *, eps: float | Tensor, frames: int = 1,
    bounds: Bounds = (0.0, 1.0), targeted: bool = False,
) -> Iterates:
    """A validated FGSM call whose `frames` iterates sweep ε from ε/frames to ε (see `fgsm`)."""
    check_steps(frames, "steps")
    x, y = check_inputs(model, x, y, bounds, eps)
    if is_zero(eps):
        return Iterates(x, y, None, frames)

    scalar = None if isinstance(eps, Tensor) and eps.dim() > 0 else float(eps)

    def make(xc: Tensor, yc: Tensor, ec: Tensor) -> Iterator[Tensor]:
        return _iterates(model, xc, yc, ec, frames=frames, bounds=bounds, targeted=targeted,
                         scalar=scalar)

    return Iterates(x, y, make, frames, (as_eps(eps, x),))


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
    return plan(model, x, y, eps=eps, bounds=bounds, targeted=targeted).final()
