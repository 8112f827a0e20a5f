"""Auto-PGD with the cross-entropy or the DLR loss (Croce & Hein, "Reliable evaluation of
adversarial robustness with an ensemble of diverse parameter-free attacks", ICML 2020).

APGD is PGD without a step size to tune: it starts at 2ε, halves the step at checkpoints where
the loss stopped rising, restarts from the best point found when it does, and steps with momentum
0.75. The DLR loss (difference of logits ratio) is invariant to shifting and scaling the logits,
so it does not saturate the way cross-entropy does on a confident (or a masked) model.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Literal

import torch
import torch.nn.functional as F
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
    flat_norm,
    forward_logits,
    is_zero,
    logits_of,
    normalized_step,
    project,
    rand,
    randn,
)

Loss = Literal["ce", "dlr", "margin"]
LOSSES: tuple[str, ...] = ("ce", "dlr", "margin")
MOMENTUM = 0.75  # Croce & Hein's α: the new step's weight against the previous move
RHO = 0.75  # a checkpoint halves the step unless the loss rose in more than ρ of the last steps
# Checkpoints at w_0 = 0, w_{j+1} = w_j + max(p_{j+1} − p_j, 0.06)·steps with p_0 = 0,
# p_1 = 0.22 and p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06) (Croce & Hein 2020, §3.2).
P_FIRST, P_SHRINK, P_MIN = 0.22, 0.03, 0.06
EPS_DLR = 1e-12


def min_classes(loss: str, targeted: bool) -> int:
    """How many classes a loss needs: the DLR denominators use the 3rd (targeted: 4th) logit."""
    if loss != "dlr":
        return 2
    return 4 if targeted else 3


def checkpoints(steps: int) -> list[int]:
    """The iterations (1-based, ≤ steps) after which APGD decides whether to halve its step."""
    points, p_prev, p = [], 0.0, P_FIRST
    while math.ceil(p * steps) <= steps:
        w = math.ceil(p * steps)
        if not points or w > points[-1]:
            points.append(w)
        p, p_prev = p + max(p - p_prev - P_SHRINK, P_MIN), p
    return points


def _sorted_others(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """z_y and the largest logit of the other classes, per input."""
    rows = torch.arange(len(y), device=y.device)
    own = logits[rows, y]
    return own, logits.index_put((rows, y), logits.new_tensor(-torch.inf)).amax(1)


def loss_per_input(logits: Tensor, y: Tensor, loss: str, targeted: bool) -> Tensor:
    """(N,) the loss APGD ascends. y: true labels, or targets when `targeted`.

    ce: cross-entropy (targeted: minus the cross-entropy of the target).
    dlr: −(z_y − max_{k≠y} z_k) / (z_π1 − z_π3); targeted −(max_{k≠t} z_k − z_t) /
        (z_π1 − (z_π3 + z_π4)/2), π sorting the logits in decreasing order.
    margin: −(z_y − max_{k≠y} z_k) (targeted: −(max_{k≠t} z_k − z_t)), DLR's numerator: the
        scale-free loss left for two classes, where DLR's denominator does not exist.
    """
    if loss == "ce":
        ce = F.cross_entropy(logits, y, reduction="none")
        return -ce if targeted else ce
    own, other = _sorted_others(logits, y)
    gap = other - own if targeted else own - other  # > 0 while the attack has not succeeded
    if loss == "margin":
        return -gap
    top = logits.sort(1, descending=True).values
    scale = top[:, 0] - (0.5 * (top[:, 2] + top[:, 3]) if targeted else top[:, 2])
    return -gap / (scale + EPS_DLR)


def _gradient(model: nn.Module, x: Tensor, y: Tensor, loss: str,
              targeted: bool) -> tuple[Tensor, Tensor, Tensor]:
    """The loss gradient w.r.t. the input (N, ...), the loss (N,) and the logits (N, C)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = logits_of(model, x)
        values = loss_per_input(logits, y, loss, targeted)
        (grad,) = torch.autograd.grad(values.sum(), x)
    return grad, values.detach(), logits.detach()


def _fooled(logits: Tensor, y: Tensor, targeted: bool) -> Tensor:
    pred = logits.argmax(1)
    return pred == y if targeted else pred != y


def _step(x: Tensor, x_adv: Tensor, x_prev: Tensor, grad: Tensor, size: Tensor, eps: Tensor,
          norm: Norm, bounds: Bounds, momentum: float) -> Tensor:
    """One APGD move: a projected gradient step z, then x + α(z − x) + (1 − α)(x − x_prev),
    projected again (Croce & Hein 2020, eq. 2)."""
    z = clip_to_bounds(x + project(x_adv + size * normalized_step(grad, norm) - x, eps, norm),
                       bounds)
    moved = x_adv + momentum * (z - x_adv) + (1 - momentum) * (x_adv - x_prev)
    return clip_to_bounds(x + project(moved - x, eps, norm), bounds)


def _iterates(
    model: nn.Module, x: Tensor, y: Tensor, start: Tensor, eps: Tensor, *, steps: int,
    loss: str, norm: Norm, bounds: Bounds, targeted: bool, rho: float,
) -> Iterator[Tensor]:
    """Yield, after each of the `steps` iterations, the best point so far per input: the first
    point that fooled the model if one has, else the point of highest loss (no validation)."""
    n = x.shape[0]
    shape = (-1, *([1] * (x.dim() - 1)))
    marks = set(checkpoints(steps))
    x_adv = start
    grad, value, logits = _gradient(model, x_adv, y, loss, targeted)
    best, best_value, best_grad = x_adv, value, grad
    fooled = _fooled(logits, y, targeted)
    found = x_adv  # where `fooled`, a point that fools the model
    size = 2 * eps * torch.ones((n, *shape[1:]), dtype=x.dtype, device=x.device)
    x_prev = x_adv
    # Per checkpoint: how often the loss rose since the last one, the best loss at the last one,
    # and whether the step was halved there (Croce & Hein's two conditions).
    rises = torch.zeros(n, device=x.device)
    value_prev = value
    best_at_mark = best_value
    halved_at_mark = torch.ones(n, dtype=torch.bool, device=x.device)
    last_mark = 0
    for i in range(1, steps + 1):
        momentum = 1.0 if i == 1 else MOMENTUM
        x_new = _step(x, x_adv, x_prev, grad, size, eps, norm, bounds, momentum)
        x_prev, x_adv = x_adv, x_new
        grad, value, logits = _gradient(model, x_adv, y, loss, targeted)
        now = _fooled(logits, y, targeted)
        found = torch.where((now & ~fooled).reshape(shape), x_adv, found)
        fooled |= now
        rises += (value > value_prev).float()
        value_prev = value
        better = value > best_value
        best = torch.where(better.reshape(shape), x_adv, best)
        best_grad = torch.where(better.reshape(shape), grad, best_grad)
        best_value = torch.where(better, value, best_value)
        if i in marks:
            oscillating = rises <= (i - last_mark) * rho
            stalled = ~halved_at_mark & (best_at_mark >= best_value)
            halve = oscillating | stalled
            size = torch.where(halve.reshape(shape), size / 2, size)
            # Restart the halved inputs from their best point, with its gradient.
            x_adv = torch.where(halve.reshape(shape), best, x_adv)
            grad = torch.where(halve.reshape(shape), best_grad, grad)
            halved_at_mark, best_at_mark = halve, best_value
            rises = torch.zeros_like(rises)
            last_mark = i
        yield torch.where(fooled.reshape(shape), found, best)


def _start(x: Tensor, eps: Tensor, norm: Norm, bounds: Bounds,
           generator: torch.Generator | None) -> Tensor:
    """Croce & Hein's random start: a random point on the sphere of radius ε (L∞: scaled to
    the ball's surface), drawn for the whole batch at once so chunking changes nothing."""
    if norm == "linf":
        t = 2 * rand(x.shape, generator, x) - 1
        t = t / flat_norm(t, "linf").clamp_min(1e-12)
    else:
        t = randn(x.shape, generator, x)
        t = t / flat_norm(t, "l2").clamp_min(1e-12)
    return clip_to_bounds(x + eps * t, bounds)


def _check_classes(model: nn.Module, x: Tensor, y: Tensor, loss: str, targeted: bool) -> None:
    n_classes = logits_of(model, x[:1]).shape[1]
    need = min_classes(loss, targeted)
    if n_classes < need:
        raise ValueError(
            f"the DLR loss needs at least {need} classes{' when targeted' if targeted else ''} "
            f"(it divides by z_π1 − z_π{need - 1 if not targeted else '3/4'}), and this model "
            f"has {n_classes}; use loss='ce' (or 'margin')"
        )
    check_labels(y, n_classes)


def plan(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor,
    loss: Loss = "ce",
    steps: int = 100,
    norm: Norm = "linf",
    bounds: Bounds = (0.0, 1.0),
    targeted: bool = False,
    rho: float = RHO,
    generator: torch.Generator | None = None,
) -> Iterates:
    """A validated APGD call (arguments as in `apgd`, without `target_classes`)."""
    check_steps(steps)
    check_norm(norm)
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if not 0 <= rho <= 1:
        raise ValueError(f"rho must lie in [0, 1], got {rho}")
    x, y = check_inputs(model, x, y, bounds, eps)
    with torch.no_grad():
        _check_classes(model, x, y, loss, targeted)
    if is_zero(eps):
        return Iterates(x, y, None, steps)
    eps_t = as_eps(eps, x)

    def make(xc: Tensor, yc: Tensor, sc: Tensor, ec: Tensor) -> Iterator[Tensor]:
        return _iterates(model, xc, yc, sc, ec, steps=steps, loss=loss, norm=norm, bounds=bounds,
                         targeted=targeted, rho=rho)

    with torch.no_grad():
        start = _start(x, eps_t, norm, bounds, generator)
    return Iterates(x, y, make, steps, (start, eps_t))


def apgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor,
    loss: Loss = "ce",
    steps: int = 100,
    norm: Norm = "linf",
    bounds: Bounds = (0.0, 1.0),
    targeted: bool = False,
    target_classes: int = 0,
    rho: float = RHO,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Auto-PGD: PGD with an adaptive step size, checkpoints and momentum.

    x: (N, ...) inputs inside `bounds`; y: (N,) labels, or targets when `targeted`.
    eps: radius of the ε-ball on the input scale (L∞: per pixel, 0.3 is 76.5/255; L2: over the
        whole input); a float or one value per input, shape (N,).
    loss: "ce" (APGD-CE), "dlr" (APGD-DLR; at least 3 classes, 4 when targeted) or "margin"
        (DLR's numerator alone, for 2-class models).
    steps: iterations (Croce & Hein use 100); each costs one forward and one backward pass.
    target_classes: k > 0 runs APGD-T: with y the true labels, a targeted attack against each of
        the k classes the model ranks highest after y, in turn, each on the inputs still not
        fooled (AutoAttack uses k = 9 with the targeted DLR loss). Then success means
        misclassification, as for an untargeted attack.
    generator: the source of the random start.
    Returns x' with ‖x' − x‖ ≤ ε, clipped to `bounds`: per input the first point found that
    fools the model, or else the point of highest loss.
    """
    if target_classes:
        return top_k_targeted(model, x, y, eps=eps, loss=loss, steps=steps, norm=norm,
                              bounds=bounds, target_classes=target_classes, rho=rho,
                              generator=generator)
    return plan(model, x, y, eps=eps, loss=loss, steps=steps, norm=norm, bounds=bounds,
                targeted=targeted, rho=rho, generator=generator).final()


def top_k_plan(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor,
    loss: Loss = "dlr",
    steps: int = 100,
    norm: Norm = "linf",
    bounds: Bounds = (0.0, 1.0),
    target_classes: int = 9,
    rho: float = RHO,
    generator: torch.Generator | None = None,
) -> Iterates:
    """A validated APGD-T call (see `apgd` with `target_classes`): its iterates are those of
    each targeted run in turn, `steps` per target class, the inputs fooled so far held still.

    On a model with too few classes for the targeted loss the runs fall back to what exists:
    untargeted DLR on 3 classes, and the margin loss (DLR's numerator) on 2, where the one
    other class is the only target anyway.
    """
    if isinstance(target_classes, bool) or not isinstance(target_classes, int) \
            or target_classes < 1:
        raise ValueError(f"target_classes must be an integer >= 1, got {target_classes!r}")
    check_steps(steps)
    check_norm(norm)
    x, y = check_inputs(model, x, y, bounds, eps)
    clean = forward_logits(model, x)
    check_labels(y, clean.shape[1])
    n_classes = clean.shape[1]
    k = min(target_classes, n_classes - 1)
    if is_zero(eps):
        return Iterates(x, y, None, steps * k)
    eps_t = as_eps(eps, x)
    targeted = loss != "dlr" or n_classes >= 4
    run_loss: str = loss if loss != "dlr" or n_classes >= 3 else "margin"
    if not targeted:
        k = 1
    # The classes ranked 2nd, 3rd, ... by the clean logits, y excluded (y is usually the 1st).
    ranked = clean.index_put((torch.arange(len(y), device=y.device), y),
                             clean.new_tensor(-torch.inf)).argsort(1, descending=True)
    # One random start per target class, drawn for the whole batch so chunking changes nothing.
    with torch.no_grad():
        starts = torch.stack([_start(x, eps_t, norm, bounds, generator) for _ in range(k)], 1)

    def make(xc: Tensor, yc: Tensor, rc: Tensor, sc: Tensor, ec: Tensor) -> Iterator[Tensor]:
        current = xc.clone()
        done = torch.zeros(len(yc), dtype=torch.bool, device=xc.device)
        for j in range(k):
            # Each target class runs only on the inputs no earlier one has fooled.
            todo = (~done).nonzero().squeeze(1)
            if len(todo) == 0:
                return
            ei = ec[todo] if ec.dim() > 0 else ec
            goal = rc[todo, j] if targeted else yc[todo]
            part = xc[todo]
            for it in _iterates(model, part, goal, sc[todo, j], ei, steps=steps, loss=run_loss,
                                norm=norm, bounds=bounds, targeted=targeted, rho=rho):
                yield current.index_copy(0, todo, it)
            current = current.index_copy(0, todo, it)
            done[todo] = forward_logits(model, it).argmax(1) != yc[todo]

    return Iterates(x, y, make, steps * k, (ranked, starts, eps_t))


def top_k_targeted(model: nn.Module, x: Tensor, y: Tensor, **kwargs) -> Tensor:
    """APGD-T's output: see `apgd` with `target_classes`."""
    return top_k_plan(model, x, y, **kwargs).final()
