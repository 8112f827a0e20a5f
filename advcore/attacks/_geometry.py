"""Shared geometry and validation for every attack.

One place for the things all attacks must agree on: what a valid call looks like, how the loss
gradient with respect to the *input* is taken, and how a perturbation is projected back onto the
ε-ball and into the valid input range. Attacks compose these; none re-implements them.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Bounds = tuple[float, float] | None
Norm = Literal["linf", "l2"]
NORMS: tuple[str, ...] = ("linf", "l2")

# Images are split into chunks of about this many input values before the forward/backward pass:
# 64 MNIST digits. The activations of such a chunk stay in cache; a 1,000-digit batch streams them
# through memory. Measured on the shipped mnist-cnn, forward+backward on one thread (as the app
# runs): 3,300-3,550 digits/s for chunks of 32-250 digits, flat within noise, against 2,000 for 500
# and 1,500 for one 1,000-digit batch (`python benchmarks/attacks.py --cpu-time --chunks`). 64 sits
# in the middle of the plateau, and leaves two threads enough work per operation. 2-D points are
# tiny, so thousands of them still make a single chunk.
CHUNK_VALUES = 64 * 784


def as_eps(eps: float | Tensor, x: Tensor) -> Tensor:
    """ε as a tensor that broadcasts over `x`: a scalar, or one value per input (shape (N,))."""
    if isinstance(eps, Tensor):
        if eps.dim() == 0:
            return eps.detach().to(x.device, x.dtype)
        return eps.detach().to(x.device, x.dtype).reshape(-1, *([1] * (x.dim() - 1)))
    return torch.tensor(float(eps), dtype=x.dtype, device=x.device)


def check_eps(eps: float | Tensor, name: str = "eps", n: int | None = None) -> None:
    """Raise ValueError unless ε is a finite number >= 0, or a tensor of such numbers: a scalar
    or, when `n` (the number of inputs) is given, one value per input of shape (n,)."""
    if isinstance(eps, Tensor):
        if eps.dim() > 1 or (n is not None and eps.dim() == 1 and eps.shape[0] != n):
            raise ValueError(
                f"{name} must be a number or a tensor of shape (N,) = ({n},), "
                f"got shape {tuple(eps.shape)}"
            )
        if eps.is_complex() or not torch.isfinite(eps).all() or (eps < 0).any():
            raise ValueError(f"{name} must be finite and >= 0, got {eps.tolist()}")
        return
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
        raise ValueError(f"{name} must be a number, got {eps!r}")
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {eps}")


def is_zero(eps: float | Tensor) -> bool:
    """True when ε is zero everywhere: the attack then returns its input unchanged."""
    return bool((eps == 0).all()) if isinstance(eps, Tensor) else eps == 0


def check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def check_steps(steps: int, name: str = "steps") -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {steps!r}")


def check_inputs(
    model: nn.Module, x: Tensor, y: Tensor, bounds: Bounds, eps: float | Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Validate an attack's model, inputs, labels, bounds and (if given) a per-input ε, and warn
    on a model in train mode.

    Returns x detached from any graph (never a copy: attacks must not write to it) and y as
    int64 (cross-entropy wants int64 class indices). Raises ValueError with a message saying what
    was wrong; never changes the model.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise ValueError("x must be a floating-point torch.Tensor of shape (N, ...)")
    if x.dim() < 2 or x.shape[0] == 0:
        raise ValueError(f"x must have shape (N, ...) with N >= 1, got {tuple(x.shape)}")
    if not isinstance(y, Tensor) or y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise ValueError("y must be an integer torch.Tensor of class indices, shape (N,)")
    if y.shape != (x.shape[0],):
        raise ValueError(f"y must have shape ({x.shape[0]},) to match x, got {tuple(y.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values")
    if bounds is not None:
        lo, hi = bounds
        if not lo < hi:
            raise ValueError(f"bounds must be (low, high) with low < high, got {bounds}")
        if x.min() < lo or x.max() > hi:
            raise ValueError(
                f"x lies outside bounds {bounds} (min {x.min().item():.3g}, max "
                f"{x.max().item():.3g}). Attack the raw [0, 1] input and normalise inside the "
                "model; clipping a normalised input to [0, 1] is a classic bug. Pass bounds=None "
                "for unbounded features."
            )
    if model.training:
        warnings.warn(
            "the model is in training mode (dropout and batch norm behave differently); "
            "call model.eval() before attacking. The attack does not change the mode for you.",
            stacklevel=3,
        )
    if eps is not None:
        check_eps(eps, n=x.shape[0])
    return x.detach(), y.detach().long()


def check_labels(y: Tensor, n_classes: int) -> None:
    if (y < 0).any() or (y >= n_classes).any():
        raise ValueError(
            f"labels must lie in [0, {n_classes - 1}] for a model with {n_classes} classes, "
            f"got values in [{int(y.min())}, {int(y.max())}]"
        )


def logits_of(model: nn.Module, x: Tensor) -> Tensor:
    """The model's logits, checked to have shape (N, C)."""
    out = model(x)
    if out.dim() != 2 or out.shape[0] != x.shape[0]:
        raise ValueError(
            f"the model must return logits of shape (N, C), got {tuple(out.shape)} "
            f"for {x.shape[0]} inputs"
        )
    if out.shape[1] < 2:
        raise ValueError(
            "the model returns a single logit; return two logits (N, 2) for a binary classifier"
        )
    return out


# Where 1 − p_y < 2^-12, float32 keeps fewer than 12 bits of cross-entropy's true-class term.
SATURATION_LOG_ODDS = -12 * math.log(2)


def loss_gradient(
    model: nn.Module, x: Tensor, y: Tensor, *, targeted: bool = False
) -> tuple[Tensor, Tensor]:
    """Gradient of the cross-entropy with respect to the *input* x (up to a positive factor per
    input), and the logits. x: (N, ...); y: (N,) int64; returns ((N, ...), (N, C)).

    Summed (not averaged) over the batch, so each input's gradient is independent of the batch
    size. For a targeted attack the gradient is negated, so that every attack simply *ascends*.
    Uses torch.autograd.grad: parameter `.grad` fields are never touched.

    On confidently classified inputs float32 softmax saturates: p_y rounds to 1, the true-class
    term (p_y − 1)·∇z_y of the gradient vanishes, and what is left points the wrong way (or is 0
    beyond a margin of ~100). Those inputs take the gradient of the log-sum-exp margin
    logsumexp_{k≠y} z_k − z_y instead. Cross-entropy is softplus of that margin, so in exact
    arithmetic the two gradients differ by the factor sigmoid(margin) > 0: every attack here uses
    only the direction (sign, or a per-input normalisation), which the switch leaves unchanged.
    Unsaturated inputs get exactly PyTorch's cross-entropy gradient, bit for bit.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = logits_of(model, x)
        check_labels(y, logits.shape[1])
        loss = F.cross_entropy(logits, y, reduction="sum")
        (logit_grad,) = torch.autograd.grad(loss, logits, retain_graph=True)
        logit_grad = _desaturated(logit_grad, logits.detach(), y)
        (grad,) = torch.autograd.grad(logits, x, grad_outputs=logit_grad)
    return (-grad if targeted else grad), logits.detach()


def _desaturated(logit_grad: Tensor, logits: Tensor, y: Tensor) -> Tensor:
    """Cross-entropy's gradient w.r.t. the logits (N, C), with the rows whose softmax saturates
    replaced by the gradient of the log-sum-exp margin (see loss_gradient)."""
    rows = torch.arange(len(y), device=logits.device)
    others = logits.index_put((rows, y), logits.new_tensor(-torch.inf))
    log_odds = others.logsumexp(1) - logits[rows, y]  # log((1 − p_y) / p_y)
    saturated = log_odds < SATURATION_LOG_ODDS
    if not bool(saturated.any()):
        return logit_grad
    margin_grad = torch.softmax(others, 1).index_put((rows, y), logits.new_tensor(-1.0))
    return torch.where(saturated.unsqueeze(1), margin_grad, logit_grad)


def clip_to_bounds(x: Tensor, bounds: Bounds) -> Tensor:
    return x if bounds is None else x.clamp(bounds[0], bounds[1])


def flat_norm(v: Tensor, norm: Norm) -> Tensor:
    """Per-input norm of v (N, ...), shaped to broadcast back over v."""
    flat = v.flatten(1)
    n = flat.abs().amax(dim=1) if norm == "linf" else flat.norm(dim=1)
    return n.reshape(-1, *([1] * (v.dim() - 1)))


def normalized_step(grad: Tensor, norm: Norm) -> Tensor:
    """The steepest-ascent direction of unit size under `norm`.

    Under L∞ that is sign(grad) (the reason FGSM uses the sign); under L2 it is grad / ‖grad‖₂.
    """
    if norm == "linf":
        return grad.sign()
    return grad / flat_norm(grad, "l2").clamp_min(1e-12)


def project(delta: Tensor, eps: Tensor, norm: Norm) -> Tensor:
    """Project a perturbation onto the ε-ball of `norm` (per input)."""
    if norm == "linf":
        return torch.maximum(torch.minimum(delta, eps), -eps)
    scale = (eps / flat_norm(delta, "l2").clamp_min(1e-12)).clamp(max=1.0)
    return delta * scale


def cap(x: Tensor, x_adv: Tensor, eps: float | Tensor, norm: Norm = "l2",
        bounds: Bounds = (0.0, 1.0)) -> Tensor:
    """x + the projection of (x_adv − x) onto the ε-ball of `norm`, inside `bounds`: a minimal
    attack's point capped at ε (per input if eps is (N,)). Where ‖x_adv − x‖ ≤ ε it is x_adv.

    The one cap of the house: C&W and HopSkipJump cap their result with it, and a page that
    keeps one uncapped run serves every ε by capping it (advcore.sweep re-exports it).
    """
    return clip_to_bounds(x + project(x_adv - x, as_eps(eps, x), norm), bounds)


def _draw(fn: Callable[..., Tensor], shape: tuple[int, ...], generator: torch.Generator | None,
          like: Tensor) -> Tensor:
    """Draw on the generator's device (a CPU generator cannot fill a GPU tensor), then move the
    numbers to `like`'s device and dtype: the same seed gives the same numbers on any device."""
    device = generator.device if generator is not None else like.device
    return fn(shape, generator=generator, dtype=like.dtype, device=device).to(like.device)


def rand(shape: tuple[int, ...], generator: torch.Generator | None, like: Tensor) -> Tensor:
    """Uniform [0, 1) numbers of `shape`, from `generator`, on `like`'s device."""
    return _draw(torch.rand, tuple(shape), generator, like)


def randn(shape: tuple[int, ...], generator: torch.Generator | None, like: Tensor) -> Tensor:
    """Standard normal numbers of `shape`, from `generator`, on `like`'s device."""
    return _draw(torch.randn, tuple(shape), generator, like)


def random_in_ball(
    x: Tensor, eps: Tensor, norm: Norm, generator: torch.Generator | None
) -> Tensor:
    """A point drawn uniformly from the ε-ball around each input."""
    if norm == "linf":
        u = rand(x.shape, generator, x)
        return (2 * u - 1) * eps
    d = x[0].numel()
    direction = randn(x.shape, generator, x)
    direction = direction / flat_norm(direction, "l2").clamp_min(1e-12)
    radius = rand((x.shape[0],), generator, x) ** (1.0 / d)
    return direction * radius.reshape(-1, *([1] * (x.dim() - 1))) * eps


def chunks(n: int, x: Tensor) -> Iterator[slice]:
    """Slices that split n inputs into cache-sized chunks (see CHUNK_VALUES)."""
    per = max(1, CHUNK_VALUES // max(1, x[0].numel()))
    for start in range(0, n, per):
        yield slice(start, min(n, start + per))


def chunked(
    fn: Callable[..., Tensor], x: Tensor, y: Tensor, *per_input: Tensor | None, dim: int = 0
) -> Tensor:
    """Run `fn(x, y, *per_input)` chunk by chunk and concatenate the results along `dim`.

    Each extra argument is split alongside x when it has a leading dimension (a per-input ε of
    shape (N, 1, ...), a random start of x's shape) and passed whole when it is a 0-dim tensor or
    None. Inputs are independent, so chunking changes nothing but speed.
    """
    if x.shape[0] * x[0].numel() <= CHUNK_VALUES:
        return fn(x, y, *per_input)

    def part(t: Tensor | None, s: slice) -> Tensor | None:
        return t[s] if t is not None and t.dim() > 0 else t

    parts = [fn(x[s], y[s], *(part(t, s) for t in per_input)) for s in chunks(x.shape[0], x)]
    return torch.cat(parts, dim=dim)


def last(iterates: Iterator[Tensor], start: Tensor) -> Tensor:
    """The final iterate of an iterative attack (or `start` if there is none), without keeping
    the others alive."""
    final = deque(iterates, maxlen=1)
    return final[0] if final else start


def frames(iterates: Iterator[Tensor], start: Tensor, steps: int) -> Tensor:
    """(steps + 1, N, ...): `start`, then each iterate; an attack that stops early repeats its
    last point, so every trajectory has the same length."""
    out = [start, *iterates]
    out += [out[-1]] * (steps + 1 - len(out))
    return torch.stack(out)


def forward_logits(model: nn.Module, x: Tensor) -> Tensor:
    """(N, C) logits without a graph, chunk by chunk (see CHUNK_VALUES): the forward pass of
    the score- and decision-based attacks, which never need a gradient."""
    with torch.no_grad():
        if x.shape[0] * x[0].numel() <= CHUNK_VALUES:
            return logits_of(model, x)
        return torch.cat([logits_of(model, x[s]) for s in chunks(x.shape[0], x)])


@dataclass(frozen=True)
class Iterates:
    """One validated attack call, ready to run: the iterates of its family's iterator.

    Every attack family has a single generator of iterates; its public function returns the last
    one (`final`) and an animation takes them all (`frames`), so there is no second copy of the
    loop. `make(x_chunk, y_chunk, *per_input_chunks)` starts the iterator on one chunk; `make`
    is None when the call is the identity (ε = 0). `length` is how many iterates the iterator
    yields at most. `chunk=False` runs the whole batch at once (attacks whose random draws span
    the batch, and which chunk their own forward passes). `queries` is the (N,) int64 counter a
    black-box attack adds its model calls to, or None for a gradient attack. Run it once
    (`final` or `frames`): a second run would add to the same counter.
    """

    x: Tensor
    y: Tensor
    make: Callable[..., Iterator[Tensor]] | None
    length: int
    per_input: tuple[Tensor | None, ...] = ()
    chunk: bool = True
    queries: Tensor | None = None

    def _run(self, fn: Callable[..., Tensor], dim: int) -> Tensor:
        with torch.no_grad():
            if not self.chunk:
                return fn(self.x, self.y, *self.per_input)
            return chunked(fn, self.x, self.y, *self.per_input, dim=dim)

    def final(self) -> Tensor:
        """The attack's output: its last iterate, (N, ...). A fresh tensor, never x itself."""
        if self.make is None:
            return self.x.clone()

        def run(xc: Tensor, yc: Tensor, *rest: Tensor | None) -> Tensor:
            out = last(self.make(xc, yc, *rest), xc)
            return out.clone() if out is xc else out

        return self._run(run, 0)

    def frames(self, steps: int) -> Tensor:
        """(steps + 1, N, ...): x, then `steps` iterates evenly spaced over the attack's
        `length` (every one when length == steps); the last frame is always `final()`."""
        check_steps(steps)
        if self.make is None:
            return self.x.unsqueeze(0).repeat(steps + 1, *([1] * self.x.dim()))
        keep = {math.ceil(k * self.length / steps) for k in range(1, steps + 1)}

        def run(xc: Tensor, yc: Tensor, *rest: Tensor | None) -> Tensor:
            picked, final = [], xc
            for i, it in enumerate(self.make(xc, yc, *rest), start=1):
                final = it
                if i in keep:
                    picked.append(it)
            if not picked or picked[-1] is not final:
                picked.append(final)
            return frames(iter(picked[-steps:]), xc, steps)

        return self._run(run, 1)
