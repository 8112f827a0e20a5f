"""Carlini & Wagner L2 attack ("Towards Evaluating the Robustness of Neural Networks", IEEE S&P
2017)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from advcore.attacks._geometry import (
    Bounds,
    Iterates,
    as_eps,
    cap,
    check_inputs,
    check_labels,
    check_steps,
    is_zero,
    logits_of,
)

# How far inside the box the change of variables starts. tanh(w) = ±1 only at w = ±∞, so a pixel
# exactly at 0 or 1 (80% of MNIST's pixels) must start at a finite w: atanh(±(1 − margin)).
# Carlini's reference code shrinks by 1e-6, which puts those pixels at |w| ≈ 7.3, where tanh is
# flat: Adam moves w by about lr a step, so at lr = 0.01 such a pixel needs ~700 steps to move at
# all, and C&W with 100 steps succeeded on 46% of mnist-cnn's digits. A margin of 1e-4 starts them
# at |w| ≈ 5 (a pixel moves after ~10 steps at lr = 0.1) and costs at most 5e-5 per pixel of
# distance (an L2 of about 0.001 over a whole digit), far below any perturbation C&W finds.
TANH_MARGIN = 1e-4
# Adam's step on w; with the margin above, 0.1 lets every pixel reach any value in the box within
# a few dozen steps (at 0.01, lr alone capped success at 46%).
LEARNING_RATE = 0.1
# The bisection over c: the largest c tried before giving up on an input.
C_MAX = 1e10


def _to_box(w: Tensor, bounds: Bounds) -> Tensor:
    """The change of variables x = lo + (hi − lo)·(tanh(w) + 1)/2 keeps x inside the box."""
    if bounds is None:
        return w
    lo, hi = bounds
    return lo + (hi - lo) * (torch.tanh(w) + 1) / 2


def _from_box(x: Tensor, bounds: Bounds) -> Tensor:
    """The w whose image is x, shrunk by TANH_MARGIN towards the centre of the box."""
    if bounds is None:
        return x.clone()
    lo, hi = bounds
    return torch.atanh(((x - lo) / (hi - lo) * 2 - 1) * (1 - TANH_MARGIN))


def _margin(logits: Tensor, y: Tensor, targeted: bool) -> Tensor:
    """C&W's f6: how far the (target | true) class is from losing (winning), per input."""
    rows = torch.arange(len(y), device=y.device)
    own = logits[rows, y]
    others = logits.index_put((rows, y), logits.new_tensor(-torch.inf))
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
    """The smallest successful x' found for each input, or x itself where none was found.

    Per input, c is bisected: after a run that succeeded, c moves down towards the largest c
    that failed; after one that failed it moves up (×10 until some c has succeeded). Each run
    restarts Adam from x, as in Carlini's reference code.
    """
    n = x.shape[0]
    shape = (-1, *([1] * (x.dim() - 1)))
    const = torch.full((n,), float(c), dtype=x.dtype, device=x.device)
    lower = torch.zeros(n, dtype=x.dtype, device=x.device)
    upper = torch.full((n,), C_MAX, dtype=x.dtype, device=x.device)
    best = x.clone()
    best_dist = torch.full((n,), torch.inf, dtype=x.dtype, device=x.device)
    w0 = _from_box(x, bounds)
    for _ in range(search_steps):
        w = w0.clone()
        m = torch.zeros_like(w)
        v = torch.zeros_like(w)
        succeeded = torch.zeros(n, dtype=torch.bool, device=x.device)
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
        const = torch.where(upper < C_MAX, (lower + upper) / 2, const * 10)
    return best


def _iterates(
    model: nn.Module, x: Tensor, y: Tensor, eps: Tensor | None, *, frames: int, scalar: float | None,
    bounds: Bounds, **search: float | int | bool,
) -> Iterator[Tensor]:
    """One search, then its result capped at ε·k/frames for k = 1..frames (the last at ε
    exactly; with no ε, the uncapped result once)."""
    best = _search(model, x, y, bounds=bounds, **search)
    if eps is None:
        yield best
        return
    for k in range(1, frames + 1):
        if k == frames:
            radius = eps
        elif scalar is not None:
            radius = as_eps(scalar * k / frames, x)
        else:
            radius = eps * k / frames
        yield cap(x, best, radius, "l2", bounds)


def plan(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor | None = None,
    frames: int = 1,
    c: float = 1.0,
    kappa: float = 0.0,
    steps: int = 100,
    lr: float = LEARNING_RATE,
    search_steps: int = 6,
    bounds: Bounds = (0.0, 1.0),
    targeted: bool = False,
) -> Iterates:
    """A validated C&W call (arguments as in `cw_l2`) whose `frames` iterates cap the one
    search's result at ε·k/frames: the path an animation shows."""
    check_steps(steps)
    check_steps(search_steps, "search_steps")
    check_steps(frames, "steps")
    if not (c > 0 and lr > 0 and kappa >= 0):  # written so that NaN fails too
        raise ValueError(f"c and lr must be > 0 and kappa >= 0, got c={c}, lr={lr}, kappa={kappa}")
    x, y = check_inputs(model, x, y, bounds, eps)
    if eps is not None and is_zero(eps):
        return Iterates(x, y, None, frames)
    scalar = None if eps is None or (isinstance(eps, Tensor) and eps.dim() > 0) else float(eps)

    def make(xc: Tensor, yc: Tensor, ec: Tensor | None) -> Iterator[Tensor]:
        return _iterates(model, xc, yc, ec, frames=frames, scalar=scalar, bounds=bounds, c=c,
                         kappa=kappa, steps=steps, lr=lr, search_steps=search_steps,
                         targeted=targeted)

    return Iterates(x, y, make, frames if eps is not None else 1,
                    (None if eps is None else as_eps(eps, x),))


def cw_l2(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor | None = None,
    c: float = 1.0,
    kappa: float = 0.0,
    steps: int = 100,
    lr: float = LEARNING_RATE,
    search_steps: int = 6,
    bounds: Bounds = (0.0, 1.0),
    targeted: bool = False,
) -> Tensor:
    """Minimise ‖δ‖₂² + c·max(margin, −κ) with Adam in tanh space, binary-searching c per input.

    x: (N, ...) inputs inside `bounds`; y: (N,) labels, or targets when `targeted`.
    eps: optional L2 cap: the smallest successful perturbation found is projected onto the ε-ball.
    steps: Adam steps per value of c, each moving w (tanh space) by about `lr` per coordinate;
    search_steps: values of c tried, starting at `c`. Inputs where no c succeeds are returned
    unchanged (C&W's convention). The start sits TANH_MARGIN inside the box, so pixels at its
    edges move too (see TANH_MARGIN).
    """
    return plan(model, x, y, eps=eps, c=c, kappa=kappa, steps=steps, lr=lr,
                search_steps=search_steps, bounds=bounds, targeted=targeted).final()
