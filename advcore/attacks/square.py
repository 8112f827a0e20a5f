"""Square Attack in L∞ and L2 (Andriushchenko, Croce, Flammarion & Hein, "Square Attack: a
query-efficient black-box adversarial attack via random search", ECCV 2020).

Score-based black-box: it reads only the model's outputs (the logits) and never a gradient. Each
query proposes a change inside one random square window, at a vertex of the ε-ball (L∞) or as a
pair of opposite pseudo-Gaussian bumps that move mass between two windows (L2), and keeps it if
the margin z_y − max_{k≠y} z_k went down. The windows shrink on a fixed schedule. Because it
needs no gradient, a model whose gradients are masked (zero, noisy or wrong) does not slow it
down: a large gap between Square and a gradient attack is the classic sign of gradient masking.
"""

from __future__ import annotations

import math
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
    clip_to_bounds,
    flat_norm,
    forward_logits,
    is_zero,
    project,
    rand,
)

P_INIT = 0.8  # the first windows cover 80% of the input (Andriushchenko et al.'s p_init)
# p halves at these iterations of a 10,000-query run; shorter runs rescale the schedule.
SCHEDULE = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)
DEFAULT_QUERIES = 5000  # AutoAttack's budget


def p_selection(i: int, iterations: int, p_init: float = P_INIT) -> float:
    """The fraction of the input the i-th window covers (Andriushchenko et al. 2020, §A)."""
    it = int(i / max(iterations, 1) * 10000)
    return p_init / 2 ** sum(it > t for t in SCHEDULE)


def as_image(x: Tensor) -> Tensor:
    """x viewed as (N, C, H, W): images as they are, (N, H, W) with one channel, and feature
    vectors (N, D) as a 1 × D strip, so windows become runs of coordinates."""
    if x.dim() == 4:
        return x
    if x.dim() == 3:
        return x.unsqueeze(1)
    if x.dim() == 2:
        return x.reshape(x.shape[0], 1, 1, x.shape[1])
    raise ValueError(f"Square attacks inputs of shape (N, D), (N, H, W) or (N, C, H, W), "
                     f"got {tuple(x.shape)}")


def margin(logits: Tensor, y: Tensor, targeted: bool) -> Tensor:
    """(N,) how far from success: z_y − max_{k≠y} z_k (targeted: max_{k≠t} z_k − z_t); the
    attack has succeeded where it is negative."""
    rows = torch.arange(len(y), device=y.device)
    own = logits[rows, y]
    other = logits.index_put((rows, y), logits.new_tensor(-torch.inf)).amax(1)
    return other - own if targeted else own - other


def _signs(shape: tuple[int, ...], generator: torch.Generator | None, like: Tensor) -> Tensor:
    return torch.where(rand(shape, generator, like) < 0.5, -1.0, 1.0).to(like.dtype)


def _offsets(n: int, room: int, generator: torch.Generator | None, like: Tensor) -> Tensor:
    """(N,) int64 uniform in [0, room]: each input's own window position."""
    return (rand((n,), generator, like) * (room + 1)).long().clamp_max(room)


def _window_index(top: Tensor, left: Tensor, s: int) -> tuple[Tensor, Tensor, Tensor]:
    """Advanced indices selecting each input's s × s window of a channels-last (N, H, W, C)
    tensor: the result has shape (N, s, s, C)."""
    ar = torch.arange(s, device=top.device)
    rows = (top[:, None] + ar)[:, :, None]
    cols = (left[:, None] + ar)[:, None, :]
    return torch.arange(len(top), device=top.device)[:, None, None], rows, cols


def _get_window(t: Tensor, top: Tensor, left: Tensor, s: int) -> Tensor:
    """(N, C, s, s): each input's window of t (N, C, H, W)."""
    return t.permute(0, 2, 3, 1)[_window_index(top, left, s)].permute(0, 3, 1, 2)


def _set_window(t: Tensor, top: Tensor, left: Tensor, s: int, values: Tensor) -> Tensor:
    """A copy of t (N, C, H, W) with each input's window replaced by values (N, C, s, s)."""
    out = t.permute(0, 2, 3, 1).clone()
    out[_window_index(top, left, s)] = values.permute(0, 2, 3, 1)
    return out.permute(0, 3, 1, 2)


def _rectangle_bump(rows: int, cols: int, like: Tensor) -> Tensor:
    """A (rows, cols) pattern of nested rectangles weighted 1/k², unit L2 norm: the discrete
    stand-in for a Gaussian bump (Andriushchenko et al.'s eta_rectangles)."""
    bump = like.new_zeros(rows, cols)
    r0, c0 = rows // 2, cols // 2
    for k in range(max(rows // 2 + 1, cols // 2 + 1)):
        bump[max(r0 - k, 0):min(r0 - k + 2 * k + 1, rows),
             max(c0 - k, 0):min(c0 - k + 2 * k + 1, cols)] += 1.0 / (k + 1) ** 2
    return bump / bump.norm().clamp_min(1e-12)


def _bump_pair(s: int, like: Tensor) -> Tensor:
    """(s, s): a positive bump over the top half, a negative one over the bottom, unit norm."""
    pair = torch.cat([_rectangle_bump(s // 2, s, like), -_rectangle_bump(s - s // 2, s, like)])
    return pair / pair.norm().clamp_min(1e-12)


def _init_linf(x: Tensor, eps: Tensor, bounds: Bounds, gen: torch.Generator | None) -> Tensor:
    """Vertical stripes of ±ε, one sign per channel and column (Andriushchenko et al.)."""
    n, c, _, w = x.shape
    return clip_to_bounds(x + eps * _signs((n, c, 1, w), gen, x), bounds)


def _init_l2(x: Tensor, eps: Tensor, bounds: Bounds, gen: torch.Generator | None) -> Tensor:
    """A grid of 5 × 5 bump pairs of random sign, scaled to ‖δ‖₂ = ε; inputs too small for a
    grid (2-D features) start from a random sign vector instead."""
    n, c, h, w = x.shape
    s = min(h, w) // 5
    if s == 0:
        delta = _signs(tuple(x.shape), gen, x)
    else:
        delta = torch.zeros_like(x)
        start_h, start_w = (h - 5 * s) // 2, (w - 5 * s) // 2
        for i in range(h // s):
            for j in range(w // s):
                top, left = start_h + i * s, start_w + j * s
                if top + s > h or left + s > w:
                    continue
                delta[:, :, top:top + s, left:left + s] += (
                    _bump_pair(s, x) * _signs((n, c, 1, 1), gen, x))
    delta = delta / flat_norm(delta, "l2").clamp_min(1e-12)
    return clip_to_bounds(x + eps * delta, bounds)


def _propose_linf(x: Tensor, best: Tensor, eps: Tensor, s: int, bounds: Bounds,
                  draws: dict[str, Tensor]) -> Tensor:
    """best with one window moved to the vertex x ± ε (one sign per channel)."""
    vertex = x + eps * draws["signs"]
    proposal = torch.where(draws["mask1"], vertex, best)
    return clip_to_bounds(x + project(proposal - x, eps, "linf"), bounds)


def _propose_l2(x: Tensor, best: Tensor, eps: Tensor, s: int, bounds: Bounds,
                draws: dict[str, Tensor]) -> Tensor:
    """best with the mass of two windows re-spread as a new bump pair in the first (the second
    emptied), keeping ‖δ‖₂ ≤ ε (Andriushchenko et al.'s L2 update)."""
    top, left = draws["top"], draws["left"]
    delta = best - x
    c = x.shape[1]
    window = _get_window(delta, top, left, s)
    window_norm = window.flatten(2).norm(dim=2)[:, :, None, None]
    mask = draws["mask1"] | draws["mask2"]
    both = flat_norm(delta * mask, "l2")  # (N, 1, 1, 1)
    room = (eps**2 - flat_norm(delta, "l2") ** 2).clamp_min(0)
    pair = draws["pair"]
    pair = torch.where(draws["transpose"][:, None, None, None], pair.T, pair)
    new = pair * draws["signs_c"] + window / (window_norm + 1e-12)
    new = new / (new.flatten(2).norm(dim=2)[:, :, None, None] + 1e-12)
    new = new * (room / c + both**2).sqrt()
    delta = torch.where(draws["mask2"], torch.zeros_like(delta), delta)
    delta = _set_window(delta, top, left, s, new)
    delta = delta / flat_norm(delta, "l2").clamp_min(1e-12) * eps
    return clip_to_bounds(x + delta, bounds)


def _mask(shape: tuple[int, ...], top: Tensor, left: Tensor, s: int) -> Tensor:
    """(N, 1, H, W) bool: each input's s × s window."""
    _, _, h, w = shape
    rows = torch.arange(h, device=top.device)[None, :, None]
    cols = torch.arange(w, device=top.device)[None, None, :]
    inside = ((rows >= top[:, None, None]) & (rows < top[:, None, None] + s)
              & (cols >= left[:, None, None]) & (cols < left[:, None, None] + s))
    return inside.unsqueeze(1)


def _draws(x: Tensor, s: int, norm: Norm, gen: torch.Generator | None) -> dict[str, Tensor]:
    """Every random number one iteration needs, for the whole batch at once, so an input's
    draws do not depend on which other inputs are still being attacked."""
    n, c, h, w = x.shape
    top, left = _offsets(n, h - s, gen, x), _offsets(n, w - s, gen, x)
    draws = {"top": top, "left": left, "mask1": _mask(tuple(x.shape), top, left, s)}
    if norm == "linf":
        draws["signs"] = _signs((n, c, 1, 1), gen, x)
    else:
        top2, left2 = _offsets(n, h - s, gen, x), _offsets(n, w - s, gen, x)
        draws.update(mask2=_mask(tuple(x.shape), top2, left2, s),
                     signs_c=_signs((n, c, 1, 1), gen, x),
                     transpose=rand((n,), gen, x) < 0.5)
    return draws


def _window_side(i: int, iterations: int, x: Tensor, norm: Norm, p_init: float) -> int:
    _, c, h, w = x.shape
    s = int(round(math.sqrt(p_selection(i, iterations, p_init) * c * h * w / c)))
    if norm == "l2":
        s = max(s, 3)
        s += 1 - s % 2  # odd, so the bump pair has a centre row
    return max(1, min(s, h, w))


def _iterates(
    model: nn.Module, x: Tensor, y: Tensor, eps: Tensor, queries: Tensor, *, budget: int,
    norm: Norm, bounds: Bounds, targeted: bool, p_init: float,
    generator: torch.Generator | None,
) -> Iterator[Tensor]:
    """Yield the best point per input after the first query and after each later one, until
    the budget is spent or every input is fooled. Adds each input's model calls to `queries`
    in place (no validation)."""
    shape = x.shape
    img = as_image(x)
    eps_i = eps.reshape(-1, 1, 1, 1) if eps.dim() > 0 else eps
    init = _init_linf if norm == "linf" else _init_l2
    propose = _propose_linf if norm == "linf" else _propose_l2
    pairs: dict[int, Tensor] = {}  # the L2 bump pair of each window side, built once
    best = init(img, eps_i, bounds, generator)
    logits = forward_logits(model, best.reshape(shape))
    check_labels(y, logits.shape[1])  # on the first query: validation costs no extra call
    loss = margin(logits, y, targeted)
    queries += 1
    yield best.reshape(shape)
    iterations = budget - 1
    for i in range(iterations):
        active = (loss >= 0).nonzero().squeeze(1)
        if len(active) == 0:
            return
        s = _window_side(i, iterations, img, norm, p_init)
        draws = {k: v[active] for k, v in _draws(img, s, norm, generator).items()}
        if norm == "l2":
            if s not in pairs:
                pairs[s] = _bump_pair(s, img)
            draws["pair"] = pairs[s]
        e = eps_i[active] if eps_i.dim() > 0 else eps_i
        proposal = propose(img[active], best[active], e, s, bounds, draws)
        new_loss = margin(forward_logits(model, proposal.reshape(-1, *shape[1:])), y[active],
                          targeted)
        queries[active] += 1
        better = new_loss < loss[active]
        keep = active[better]
        best = best.index_copy(0, keep, proposal[better])
        loss = loss.index_copy(0, keep, new_loss[better])
        yield best.reshape(shape)


def plan(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor,
    norm: Norm = "linf",
    queries: int = DEFAULT_QUERIES,
    p_init: float = P_INIT,
    bounds: Bounds = (0.0, 1.0),
    targeted: bool = False,
    generator: torch.Generator | None = None,
) -> Iterates:
    """A validated Square call (arguments as in `square`): one iterate per query."""
    check_norm(norm)
    if isinstance(queries, bool) or not isinstance(queries, int) or queries < 1:
        raise ValueError(f"queries must be an integer >= 1, got {queries!r}")
    if not 0 < p_init <= 1:
        raise ValueError(f"p_init must lie in (0, 1], got {p_init}")
    x, y = check_inputs(model, x, y, bounds, eps)
    as_image(x)  # refuse shapes it has no windows for, before any query
    counter = torch.zeros(len(y), dtype=torch.int64, device=x.device)
    if is_zero(eps):
        return Iterates(x, y, None, queries, chunk=False, queries=counter)

    def make(xc: Tensor, yc: Tensor, ec: Tensor) -> Iterator[Tensor]:
        return _iterates(model, xc, yc, ec, counter, budget=queries, norm=norm, bounds=bounds,
                         targeted=targeted, p_init=p_init, generator=generator)

    return Iterates(x, y, make, queries, (as_eps(eps, x),), chunk=False,
                    queries=counter)


def square(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor,
    norm: Norm = "linf",
    queries: int = DEFAULT_QUERIES,
    p_init: float = P_INIT,
    bounds: Bounds = (0.0, 1.0),
    targeted: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Square Attack: random search over square windows, reading only the model's logits.

    x: (N, ...) inputs inside `bounds`: images (N, C, H, W) or (N, H, W), or feature vectors
        (N, D), whose windows are runs of coordinates. y: (N,) labels, or targets when
        `targeted`.
    eps: ε-ball radius on the input scale (L∞: per pixel; L2: over the whole input); a float or
        one value per input, shape (N,).
    queries: the budget of model calls per input, the first one included; an input stops
        costing queries once it is fooled. `AttackSpec.run` returns the count per input.
    p_init: the fraction of the input the first windows cover.
    generator: the source of every random draw, for reproducible results.
    Returns x' with ‖x' − x‖ ≤ ε, clipped to `bounds`. Uses no gradient: it runs under
    torch.no_grad and would work on a model whose backward pass raises.
    """
    return plan(model, x, y, eps=eps, norm=norm, queries=queries, p_init=p_init, bounds=bounds,
                targeted=targeted, generator=generator).final()
