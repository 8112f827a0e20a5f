"""DeepFool (Moosavi-Dezfooli, Fawzi & Frossard, "DeepFool: a simple and accurate method to fool
deep neural networks", CVPR 2016)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from advcore.attacks._geometry import (
    Bounds,
    Iterates,
    Norm,
    as_eps,
    check_inputs,
    check_labels,
    check_norm,
    check_steps,
    clip_to_bounds,
    is_zero,
    logits_of,
    project,
)


def _linearised_step(
    model: nn.Module, x_adv: Tensor, y: Tensor, norm: Norm
) -> tuple[Tensor, Tensor]:
    """The smallest step that crosses the nearest linearised boundary, and the still-correct mask.

    Per input: for each other class k, w_k = ∇(z_k − z_y) and f_k = z_k − z_y; the boundary to k is
    |f_k| / ‖w_k‖_q away (q the dual norm), and the step goes to the closest one.
    """
    x_adv = x_adv.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = logits_of(model, x_adv)
        n_classes = logits.shape[1]
        check_labels(y, n_classes)
        # Inputs are independent (eval mode), so the gradient of a summed logit is per-input.
        grads = torch.stack(
            [
                torch.autograd.grad(logits[:, k].sum(), x_adv, retain_graph=k < n_classes - 1)[0]
                for k in range(n_classes)
            ],
            dim=1,
        )  # (N, C, ...)
    logits = logits.detach()
    rows = torch.arange(len(y), device=y.device)
    w = grads - grads[rows, y].unsqueeze(1)
    f = logits - logits[rows, y].unsqueeze(1)
    w_flat = w.flatten(2)
    dual = w_flat.abs().sum(2) if norm == "linf" else w_flat.norm(dim=2)
    dist = f.abs() / dual.clamp_min(1e-12)
    dist[rows, y] = float("inf")
    nearest = dist.argmin(1)
    w_l = w[rows, nearest]
    f_l = f[rows, nearest].abs() + 1e-4
    shape = (-1, *([1] * (x_adv.dim() - 1)))
    if norm == "linf":
        step = (f_l / dual[rows, nearest].clamp_min(1e-12)).reshape(shape) * w_l.sign()
    else:
        step = (f_l / dual[rows, nearest].clamp_min(1e-12) ** 2).reshape(shape) * w_l
    still_correct = logits.argmax(1) == y
    return step, still_correct


def _iterates(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: Tensor | None,
    *,
    steps: int,
    overshoot: float,
    norm: Norm,
    bounds: Bounds,
) -> Iterator[Tensor]:
    """Yield each DeepFool iterate, stopping early once every input is misclassified."""
    total = torch.zeros_like(x)
    x_adv = x
    for _ in range(steps):
        step, active = _linearised_step(model, x_adv, y, norm)
        if not active.any():
            return
        total = total + step * active.reshape(-1, *([1] * (x.dim() - 1)))
        delta = (1 + overshoot) * total
        if eps is not None:
            delta = project(delta, eps, norm)
        x_adv = clip_to_bounds(x + delta, bounds)
        yield x_adv


def plan(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor | None = None,
    steps: int = 50,
    overshoot: float = 0.02,
    norm: Norm = "l2",
    bounds: Bounds = (0.0, 1.0),
) -> Iterates:
    """A validated DeepFool call (arguments as in `deepfool`): at most `steps` iterates, fewer
    once every input is misclassified."""
    check_steps(steps)
    check_norm(norm)
    if not overshoot >= 0:  # written so that NaN fails too
        raise ValueError(f"overshoot must be >= 0, got {overshoot}")
    x, y = check_inputs(model, x, y, bounds, eps)
    if eps is not None and is_zero(eps):
        return Iterates(x, y, None, steps)

    def make(xc: Tensor, yc: Tensor, ec: Tensor | None) -> Iterator[Tensor]:
        return _iterates(model, xc, yc, ec, steps=steps, overshoot=overshoot, norm=norm,
                         bounds=bounds)

    return Iterates(x, y, make, steps, (None if eps is None else as_eps(eps, x),))


def deepfool(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor | None = None,
    steps: int = 50,
    overshoot: float = 0.02,
    norm: Norm = "l2",
    bounds: Bounds = (0.0, 1.0),
) -> Tensor:
    """The (approximately) smallest perturbation that changes the prediction, by linearising the
    model around the current point and stepping to the nearest class boundary.

    x: (N, ...) inputs inside `bounds`; y: (N,) true labels (DeepFool is untargeted).
    eps: optional cap: the perturbation is projected onto the ε-ball of `norm`, so the attack
        succeeds exactly where DeepFool's perturbation fits inside ε. None means no cap.
    steps: at most this many linearisations (DeepFool usually needs 2-3).
    Returns x' clipped to `bounds`.
    """
    return plan(model, x, y, eps=eps, steps=steps, overshoot=overshoot, norm=norm,
                bounds=bounds).final()
