"""Fake defences for the gradient-masking lab, and the two tools that see through them.

These are teaching objects, NOT defences. Each wraps a classifier in something that makes
gradient attacks fail without making the model any harder to fool: it breaks, hides or randomises
the gradient (Athalye, Carlini & Wagner, "Obfuscated Gradients Give a False Sense of Security",
ICML 2018). Under PGD each looks robust; the right attack shows it is not:

| fake defence        | what PGD sees                   | the sanity check that fires          | what breaks it            |
| ------------------- | ------------------------------- | ------------------------------------ | ------------------------- |
| `Quantized`         | zero gradient (a step function) | gradients vanish; large ε fails      | BPDA-PGD, Square          |
| `SaturatedSoftmax`  | zero gradient (one-hot outputs) | probabilities; gradients vanish      | HopSkipJump (labels only) |
| `NoisyInput`        | a different gradient every call | outputs are random                   | EOT-PGD                   |

`BPDA` (Backward Pass Differentiable Approximation) runs a wrapper's forward pass unchanged but
differentiates its preprocessing as the identity. `EOT` (Expectation over Transformation, Athalye
et al. 2018) averages the gradient over the wrapper's randomness. Both are models, so every attack
in `advcore.attacks` can use them unchanged: `pgd(BPDA(fake), x, y, eps=0.3)`.

All wrappers are `nn.Module`s that keep the wrapped model as `.model`, never change it, and
inherit its mode through the usual `nn.Module` machinery.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["BPDA", "EOT", "NoisyInput", "Quantized", "SaturatedSoftmax"]


class Quantized(nn.Module):
    """Rounds every input value to one of `levels` evenly spaced values in [lo, hi], then
    classifies: a non-differentiable step, so the input gradient is exactly zero everywhere.

    Teaching object, not a defence: the rounded model is as easy to fool as the original, by an
    attack that differentiates through the rounding as if it were the identity (`BPDA`), or by
    one that needs no gradient at all (Square).
    """

    def __init__(self, model: nn.Module, levels: int = 4, bounds: tuple[float, float] = (0.0, 1.0)):
        super().__init__()
        if levels < 2:
            raise ValueError(f"levels must be >= 2, got {levels}")
        self.model, self.levels, self.bounds = model, levels, bounds
        self.train(model.training)  # the wrapped model's mode, unchanged

    def preprocess(self, x: Tensor) -> Tensor:
        """x rounded to the nearest of the `levels` values (gradient: zero)."""
        lo, hi = self.bounds
        steps = self.levels - 1
        return lo + torch.round((x - lo) / (hi - lo) * steps) / steps * (hi - lo)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(self.preprocess(x))


class SaturatedSoftmax(nn.Module):
    """Returns softmax(T·z) at a huge temperature factor T instead of the logits z.

    In float32 the outputs are exactly one-hot on nearly every input, so their gradient is
    exactly zero, and so is the gradient of any loss computed on them: gradient attacks cannot
    move. The scores carry no more than the label either (a score-based attack such as Square
    sees a flat landscape). Teaching object, not a defence: its decisions are the original
    model's, so a decision-based attack (HopSkipJump) fools it as easily as the original.
    """

    def __init__(self, model: nn.Module, temperature: float = 1e3):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.model, self.temperature = model, temperature
        self.train(model.training)  # the wrapped model's mode, unchanged

    def forward(self, x: Tensor) -> Tensor:
        return torch.softmax(self.temperature * self.model(x), dim=1)


class NoisyInput(nn.Module):
    """Adds fresh Gaussian noise of standard deviation `sigma` to the input on every call.

    Each gradient a white-box attack takes is the gradient at one random point, which points
    somewhere different at every step, so PGD wanders. Teaching object, not a defence: averaging
    the gradient over the noise (`EOT`) recovers the direction that fools the model on average.
    The noise comes from the module's own seeded generator, so a run is reproducible; the
    outputs are random by design (two calls differ), which is what the sanity check detects.
    """

    def __init__(self, model: nn.Module, sigma: float = 0.3, bounds: tuple[float, float] | None
                 = (0.0, 1.0), seed: int = 0):
        super().__init__()
        if not sigma >= 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}")
        self.model, self.sigma, self.bounds = model, sigma, bounds
        self.train(model.training)  # the wrapped model's mode, unchanged
        self.generator = torch.Generator().manual_seed(seed)

    def preprocess(self, x: Tensor) -> Tensor:
        """x plus one draw of the noise (clipped back into the bounds)."""
        noise = torch.randn(x.shape, generator=self.generator, dtype=x.dtype).to(x.device)
        noisy = x + self.sigma * noise
        return noisy if self.bounds is None else noisy.clamp(*self.bounds)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(self.preprocess(x))


class _StraightThrough(torch.autograd.Function):
    """Forward: the preprocessed input; backward: the incoming gradient unchanged."""

    @staticmethod
    def forward(ctx: object, x: Tensor, processed: Tensor) -> Tensor:
        return processed

    @staticmethod
    def backward(ctx: object, grad: Tensor) -> tuple[Tensor, None]:
        return grad, None


class BPDA(nn.Module):
    """A wrapper's forward pass, with its preprocessing differentiated as the identity
    (Athalye, Carlini & Wagner 2018's BPDA with g(x) = x).

    `wrapped` must have `.model` and `.preprocess(x)` (as `Quantized` and `NoisyInput` do). The
    outputs are exactly the wrapper's; only the backward pass differs, so an attack on
    `BPDA(wrapped)` finds inputs that fool `wrapped` itself.
    """

    def __init__(self, wrapped: nn.Module):
        super().__init__()
        if not (hasattr(wrapped, "preprocess") and hasattr(wrapped, "model")):
            raise ValueError("BPDA needs a wrapper with .model and .preprocess(x)")
        self.wrapped = wrapped
        self.train(wrapped.training)  # the wrapped model's mode, unchanged

    def forward(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            processed = self.wrapped.preprocess(x)
        return self.wrapped.model(_StraightThrough.apply(x, processed))


class EOT(nn.Module):
    """The mean of `samples` calls of a random model: its gradient is the gradient averaged over
    the randomness (Expectation over Transformation, Athalye et al. 2018).

    Returns the mean of the logits over the draws: one attack step then costs `samples` forward
    and backward passes of the wrapped model. With a deterministic model it changes nothing.
    """

    def __init__(self, model: nn.Module, samples: int = 16):
        super().__init__()
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        self.model, self.samples = model, samples
        self.train(model.training)  # the wrapped model's mode, unchanged

    def forward(self, x: Tensor) -> Tensor:
        # One batch of all the draws: the same maths as a loop, in one pass.
        out = self.model(x.repeat(self.samples, *([1] * (x.dim() - 1))))
        return out.reshape(self.samples, x.shape[0], *out.shape[1:]).mean(0)
