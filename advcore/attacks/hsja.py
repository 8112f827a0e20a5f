"""HopSkipJumpAttack in L2 (Chen, Jordan & Wainwright, "HopSkipJumpAttack: A Query-Efficient
Decision-Based Attack", IEEE S&P 2020).

Decision-based black-box: it sees only the predicted label, never a score or a gradient. From a
starting point that is already misclassified it walks along the decision boundary towards x:
bisect to the boundary between x and the current point, estimate the boundary's normal from
the labels of random points around it (a Monte Carlo gradient of the 0/1 success indicator),
jump along that normal with a step found by halving, and bisect back. It finds a small
perturbation, like C&W or DeepFool, so ε only caps the one it found.
"""

from __future__ import annotations

import math
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
    clip_to_bounds,
    flat_norm,
    forward_logits,
    is_zero,
    rand,
    randn,
)

DEFAULT_QUERIES = 1000
INIT_TRIES = 25  # random starting points tried per input before giving up on it
FIRST_SAMPLES = 100  # B_0: random points per boundary-normal estimate, growing as B_0·√t
MAX_SAMPLES = 10_000
THETA_MAX = 1e-3  # the bisection stops within θ·‖x' − x‖ of the boundary (θ ≤ d^{-3/2})


def _adversarial(model: nn.Module, x: Tensor, y: Tensor, targeted: bool) -> Tensor:
    """(N,) bool from the predicted labels only: the single fact a decision-based attack may
    learn from one query."""
    pred = forward_logits(model, x).argmax(1)
    return pred == y if targeted else pred != y


def _expand(v: Tensor, like: Tensor) -> Tensor:
    return v.reshape(-1, *([1] * (like.dim() - 1)))


def _initial(model: nn.Module, x: Tensor, y: Tensor, targeted: bool, bounds: Bounds,
             queries: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """A misclassified starting point per input, and whether one was found.

    First the nearest other input of the batch whose predicted label already counts as success
    for this one (one query per input: its own label), as Foolbox and the HSJA authors start a
    targeted attack from an image of the target class; then, for inputs with none, uniform noise
    in the box (unbounded features: Gaussian noise of growing scale), up to INIT_TRIES queries.
    """
    logits = forward_logits(model, x)
    check_labels(y, logits.shape[1])  # on the first query: validation costs no extra call
    pred = logits.argmax(1)
    queries += 1
    ok = (pred[None, :] == y[:, None]) if targeted else (pred[None, :] != y[:, None])
    dist = torch.cdist(x.flatten(1), x.flatten(1)).masked_fill(~ok, torch.inf)
    nearest = dist.argmin(1)
    found = torch.isfinite(dist.min(1).values)
    start = torch.where(_expand(found, x), x[nearest], x)
    scale = flat_norm(x, "linf").clamp_min(1.0)
    for k in range(INIT_TRIES):
        todo = (~found).nonzero().squeeze(1)
        if len(todo) == 0:
            break
        if bounds is not None:
            lo, hi = bounds
            noise = lo + (hi - lo) * rand(tuple(x.shape), generator, x)
        else:
            noise = x + scale * 2.0 ** (k // 5) * randn(tuple(x.shape), generator, x)
        hit = _adversarial(model, noise[todo], y[todo], targeted)
        queries[todo] += 1
        start[todo[hit]] = noise[todo[hit]]
        found[todo[hit]] = True
    return start, found


def _bisect(model: nn.Module, x: Tensor, x_adv: Tensor, y: Tensor, targeted: bool,
            steps: int, queries: Tensor, active: Tensor) -> Tensor:
    """The point on the segment x → x_adv closest to x that is still adversarial, to within
    2^-steps of the segment (HSJA's binary search). Rows outside `active` are returned as is."""
    low = torch.zeros(len(y), dtype=x.dtype, device=x.device)
    high = torch.ones_like(low)
    idx = active.nonzero().squeeze(1)
    for _ in range(steps if len(idx) else 0):
        mid = (low[idx] + high[idx]) / 2
        blend = x[idx] + _expand(mid, x) * (x_adv[idx] - x[idx])
        adv = _adversarial(model, blend, y[idx], targeted)
        queries[idx] += 1
        high[idx] = torch.where(adv, mid, high[idx])
        low[idx] = torch.where(adv, low[idx], mid)
    return torch.where(_expand(active, x), x + _expand(high, x) * (x_adv - x), x_adv)


def _normal(model: nn.Module, boundary: Tensor, y: Tensor, targeted: bool, delta: Tensor,
            samples: int, bounds: Bounds, queries: Tensor, idx: Tensor,
            generator: torch.Generator | None) -> Tensor:
    """HSJA's Monte Carlo estimate of the boundary's normal at `boundary[idx]`, pointing to the
    adversarial side, unit L2 norm: the mean of random unit directions weighted by whether the
    point `delta` along them is adversarial, with the mean label as a baseline."""
    b = boundary[idx]
    m = len(idx)
    u = randn((m, samples, *b.shape[1:]), generator, b)
    u = u / u.flatten(2).norm(dim=2).reshape(m, samples, *([1] * (b.dim() - 1))).clamp_min(1e-12)
    d = delta[idx].reshape(m, 1, *([1] * (b.dim() - 1)))
    probes = clip_to_bounds(b.unsqueeze(1) + d * u, bounds)
    u = (probes - b.unsqueeze(1)) / d  # the directions actually probed, after clipping
    phi = _adversarial(model, probes.flatten(0, 1), y[idx].repeat_interleave(samples), targeted)
    queries[idx] += samples
    phi = phi.reshape(m, samples).to(b.dtype) * 2 - 1
    mean = phi.mean(1, keepdim=True)
    # All probes on one side: the baseline would cancel everything, so use φ itself.
    weight = torch.where(mean.abs() == 1, phi, phi - mean)
    v = (weight.reshape(m, samples, *([1] * (b.dim() - 1))) * u).mean(1)
    return v / flat_norm(v, "l2").clamp_min(1e-12)


def _iterations(budget: int, d: int, bisect_steps: int) -> int:
    """How many HSJA iterations `budget` queries allow, at the least each can cost (one probe
    batch, one step query, one bisection), after a typical start."""
    spent, t = 1 + bisect_steps, 0
    while True:
        cost = min(int(FIRST_SAMPLES * math.sqrt(t + 1)), MAX_SAMPLES) + 1 + bisect_steps
        if spent + cost > budget:
            return max(t, 1)
        spent, t = spent + cost, t + 1


def _iterates(
    model: nn.Module, x: Tensor, y: Tensor, eps: Tensor | None, queries: Tensor, *, budget: int,
    bounds: Bounds, targeted: bool, generator: torch.Generator | None,
) -> Iterator[Tensor]:
    """Yield, after the start and after each iteration, the boundary point found per input,
    capped at ε (inputs with no misclassified start stay at x). Adds each input's model calls
    to `queries` in place; an input stops once its next iteration would exceed `budget`."""
    d = x[0].numel()
    theta = min(d ** -1.5, THETA_MAX)
    bisect_steps = math.ceil(math.log2(1 / theta))

    def capped(point: Tensor) -> Tensor:
        return point if eps is None else cap(x, point, eps, "l2", bounds)

    start, alive = _initial(model, x, y, targeted, bounds, queries, generator)
    alive &= queries + bisect_steps <= budget
    point = _bisect(model, x, start, y, targeted, bisect_steps, queries, alive)
    point = torch.where(_expand(alive, x), point, x)
    yield capped(point)
    t = 0
    while True:
        t += 1
        samples = min(int(FIRST_SAMPLES * math.sqrt(t)), MAX_SAMPLES)
        alive &= queries + samples + 1 + bisect_steps <= budget
        idx = alive.nonzero().squeeze(1)
        if len(idx) == 0:
            return
        dist = flat_norm(point - x, "l2").reshape(-1)
        if bounds is None:
            first = 0.1 * dist
        else:
            first = torch.full_like(dist, 0.1 * (bounds[1] - bounds[0]))
        delta = first if t == 1 else math.sqrt(d) * theta * dist
        v = _normal(model, point, y, targeted, delta.clamp_min(1e-12), samples, bounds, queries,
                    idx, generator)
        # Geometric step search: from ‖x' − x‖/√t, halve until the jump is adversarial.
        size = dist[idx] / math.sqrt(t)
        moved = point[idx].clone()
        pending = torch.ones(len(idx), dtype=torch.bool, device=x.device)
        while bool(pending.any()):
            p = pending.nonzero().squeeze(1)
            trial = clip_to_bounds(point[idx[p]] + _expand(size[p], x) * v[p], bounds)
            ok = _adversarial(model, trial, y[idx[p]], targeted)
            queries[idx[p]] += 1
            moved[p[ok]] = trial[ok]
            pending[p[ok]] = False
            size[p] = size[p] / 2
            # An input that cannot afford another halving keeps its boundary point.
            pending &= queries[idx] + bisect_steps < budget
        jumped = point.clone()
        jumped[idx] = moved
        mask = torch.zeros_like(alive)
        mask[idx] = True
        point = _bisect(model, x, jumped, y, targeted, bisect_steps, queries, mask)
        yield capped(point)


def plan(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor | None = None,
    queries: int = DEFAULT_QUERIES,
    bounds: Bounds = (0.0, 1.0),
    targeted: bool = False,
    generator: torch.Generator | None = None,
) -> Iterates:
    """A validated HopSkipJump call (arguments as in `hsja`): one iterate per iteration."""
    if isinstance(queries, bool) or not isinstance(queries, int) or queries < 1:
        raise ValueError(f"queries must be an integer >= 1, got {queries!r}")
    x, y = check_inputs(model, x, y, bounds, eps)
    counter = torch.zeros(len(y), dtype=torch.int64, device=x.device)
    d = x[0].numel()
    steps = math.ceil(math.log2(1 / min(d ** -1.5, THETA_MAX)))
    length = _iterations(queries, d, steps) + 1
    if eps is not None and is_zero(eps):
        return Iterates(x, y, None, length, chunk=False, queries=counter)

    def make(xc: Tensor, yc: Tensor, ec: Tensor | None) -> Iterator[Tensor]:
        return _iterates(model, xc, yc, ec, counter, budget=queries, bounds=bounds,
                         targeted=targeted, generator=generator)

    return Iterates(x, y, make, length, (None if eps is None else as_eps(eps, x),), chunk=False,
                    queries=counter)


def hsja(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor | None = None,
    queries: int = DEFAULT_QUERIES,
    bounds: Bounds = (0.0, 1.0),
    targeted: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """HopSkipJumpAttack (L2): a small misclassified x' from the model's predicted labels alone.

    x: (N, ...) inputs inside `bounds`; y: (N,) labels, or targets when `targeted` (the start is
        random noise that the model puts in the target class, which may not exist: such inputs
        come back unchanged).
    eps: optional L2 cap, as for C&W: the perturbation found is projected onto the ε-ball.
    queries: the budget of model calls per input; `AttackSpec.run` returns the count per input.
    generator: the source of every random draw.
    Returns x' clipped to `bounds`. Reads only the argmax of the model's outputs, under
    torch.no_grad.
    """
    return plan(model, x, y, eps=eps, queries=queries, bounds=bounds, targeted=targeted,
                generator=generator).final()
