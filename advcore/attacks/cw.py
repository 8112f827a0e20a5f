"""Carlini & Wagner L2 attack ("Towards Evaluating the Robustness of Neural Networks", IEEE S&P
2017)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advcore.attacks._geometry import (
    Bounds,
    as_eps,
    check_eps,
    check_inputs,
    check_labels,
    check_steps,
    chunked,
    clip_to_bounds,
    is_zero,
    logits_of,
    project,
)


def _to_box(w: Tensor, bounds: Bounds) -> Tensor:
    """The change of variables x = lo + (hi − lo)·(tanh(w) + 1)/2 keeps x inside the box."""
    if bounds is None:
        return w
    lo, hi = bounds
    return lo + (hi - lo) * (torch.tanh(w) + 1) / 2


def _from_box(x: Tensor, bounds: Bounds) -> Tensor:
    if bounds is None:
        return x.clone()
    lo, hi = bounds
    return torch.atanh(((x - lo) / (hi - lo) * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6))


def _margin(logits: Tensor, y: Tensor, targeted: bool) -> Tensor:
    """C&W's f6: how far the (target | true) class is from losing (winning), per input."""
    rows = torch.arange(len(y))
    own = logits[rows, y]
    others = logits.clone()
    others[rows, y] = -torch.inf
    best_other = others.amax(1)
    return best_other - own if targeted else own - best_other


def _search(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    c: float,
    kappa: float,
    steps: int,
    lr: float,
    search_steps: int,
    bounds: Bounds,
    targeted: bool,
) -> Tensor:
    """The smallest successful x' found for each input, or x itself where none was found."""
    n = x.shape[0]
    shape = (-1, *([1] * (x.dim() - 1)))
    const = torch.full((n,), float(c), dtype=x.dtype)
    lower = torch.zeros(n, dtype=x.dtype)
    upper = torch.full((n,), 1e10, dtype=x.dtype)
    best = x.clone()
    best_dist = torch.full((n,), torch.inf, dtype=x.dtype)
    w0 = _from_box(x, bounds)
    for _ in range(search_steps):
        w = w0.clone()
        m = torch.zeros_like(w)
        v = torch.zeros_like(w)
        succeeded = torch.zeros(n, dtype=torch.bool)
        for t in range(1, steps + 1):
            w.requires_grad_(True)
            with torch.enable_grad():
                x_adv = _to_box(w, bounds)
                logits = logits_of(model, x_adv)
                if t == 1:
                    check_labels(y, logits.shape[1])
                margin = _margin(logits, y, targeted)
                dist = (x_adv - x).flatten(1).pow(2).sum(1)
                loss = (dist + const * margin.clamp_min(-kappa)).sum()
                (grad,) = torch.autograd.grad(loss, w)
            with torch.no_grad():
                fooled = margin.detach() < 0
                improved = fooled & (dist.detach() < best_dist)
                best_dist = torch.where(improved, dist.detach(), best_dist)
                best = torch.where(improved.reshape(shape), x_adv.detach(), best)
                succeeded |= fooled
                # Adam, by hand: the optimiser state belongs to this call, not to the model.
                m = 0.9 * m + 0.1 * grad
                v = 0.999 * v + 0.001 * grad * grad
                m_hat = m / (1 - 0.9**t)
                v_hat = v / (1 - 0.999**t)
                w = w.detach() - lr * m_hat / (v_hat.sqrt() + 1e-8)
        upper = torch.where(succeeded, torch.minimum(upper, const), upper)
        lower = torch.where(succeeded, lower, torch.maximum(lower, const))
        const = torch.where(upper < 1e9, (lower + upper) / 2, const * 10)
    return best


def _check(eps: float | Tensor | None, c: float, kappa: float, steps: int, lr: float,
           search_steps: int) -> None:
    if eps is not None:
        check_eps(eps)
    check_steps(steps)
    check_steps(search_steps, "search_steps")
    if not (c > 0 and lr > 0 and kappa >= 0):  # written so that NaN fails too
        raise ValueError(f"c and lr must be > 0 and kappa >= 0, got c={c}, lr={lr}, kappa={kappa}")


def cw_l2(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor | None = None,
    c: float = 1.0,
    kappa: float = 0.0,
    steps: int = 100,
    lr: float = 0.01,
    search_steps: int = 5,
    bounds: Bounds = (0.0, 1.0),
    targeted: bool = False,
) -> Tensor:
    """Minimise ‖δ‖₂² + c·max(margin, −κ) with Adam in tanh space, binary-searching c per input.

    x: (N, ...) inputs inside `bounds`; y: (N,) labels, or targets when `targeted`.
    eps: optional L2 cap: the smallest successful perturbation found is projected onto the ε-ball.
    steps: Adam steps per value of c, each moving w (tanh space) by about `lr` per coordinate;
    search_steps: values of c tried. Inputs where no c succeeds are returned unchanged (C&W's
    convention).
    """
    _check(eps, c, kappa, steps, lr, search_steps)
    x, y = check_inputs(model, x, y, bounds, eps)
    if eps is not None and is_zero(eps):
        return x.clone()

    def run(xc: Tensor, yc: Tensor) -> Tensor:
        return _search(model, xc, yc, c=c, kappa=kappa, steps=steps, lr=lr,
                       search_steps=search_steps, bounds=bounds, targeted=targeted)

    best = chunked(run, x, y)
    if eps is None:
        return best
    return clip_to_bounds(x + project(best - x, as_eps(eps, x), "l2"), bounds)


def cw_frames(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    frames: int,
    c: float = 1.0,
    kappa: float = 0.0,
    steps: int = 100,
    lr: float = 0.01,
    search_steps: int = 5,
    bounds: Bounds = (0.0, 1.0),
    targeted: bool = False,
) -> Tensor:
    """`cw_l2` capped at ε·k/frames for k = 0..frames, shape (frames + 1, N, ...), from a single
    search (the cap only projects the search's result). The last frame equals `cw_l2` at ε."""
    _check(eps, c, kappa, steps, lr, search_steps)
    check_steps(frames, "frames")
    x, y = check_inputs(model, x, y, bounds, eps)
    if is_zero(eps):
        return x.unsqueeze(0).repeat(frames + 1, *([1] * x.dim()))
    best = cw_l2(model, x, y, c=c, kappa=kappa, steps=steps, lr=lr, search_steps=search_steps,
                 bounds=bounds, targeted=targeted)
    radii = [float(eps) * k / frames if k < frames else float(eps) for k in range(frames + 1)]
    return torch.stack([
        x if r == 0 else clip_to_bounds(x + project(best - x, as_eps(r, x), "l2"), bounds)
        for r in radii
    ])
