"""Detectors for the four mistakes that silently break adversarial-example experiments.

Each check looks at what a caller is about to use (a model, its inputs, its outputs, an ε) and
returns a `Check`: passed or not, and in words what was seen and how to fix it. None of them
changes what it is given: a model in training mode is reported, never switched, and is not even
run (a forward pass in training mode would update batch-norm statistics).

1. The model left in training mode: dropout makes every forward pass different, so the attack
   aims at a moving target (Foolbox warns about this too).
2. Inputs normalised and *then* clipped to [0, 1]: the values look valid but most of the ink is
   pinned at 1 and faint strokes vanish. Normalise inside the model instead, and clip the raw
   [0, 1] image.
3. Softmax outputs fed where logits belong: cross-entropy applies a softmax of its own, so the
   loss is squashed into a narrow band and its gradient shrinks.
4. ε quoted in the wrong units: 8 (out of 255) and 0.031 are the same budget; 0.3 and 8/255 are
   not. On the [0, 1] pixel scale an ε above 1 allows any image at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

Bounds = tuple[float, float] | None

# A batch of real MNIST digits has ~4% of its ink at exactly 1.0; normalising with MNIST's mean and
# std (0.1307, 0.3081) and then clipping to [0, 1] pins ~80% of it there (measured on the 1,000
# test digits). A single digit varies more (a few real digits are nearly binary), so a lone image
# needs stronger evidence before the check complains.
SATURATION_BATCH = 0.5
SATURATION_SINGLE = 0.75
SATURATION_MIN_BATCH = 8
# Rows of softmax probabilities sum to 1 up to float32 rounding.
SUM_TOLERANCE = 1e-4
# Common ε values and where they come from, for the units table.
EPS_CONVENTIONS: tuple[tuple[str, float], ...] = (
    ("MNIST, Madry et al. 2018", 0.3),
    ("MNIST, Goodfellow et al. 2015", 0.25),
    ("CIFAR-10 / ImageNet, 8/255", 8 / 255),
    ("ImageNet, 4/255", 4 / 255),
)


@dataclass(frozen=True)
class Check:
    """The outcome of one check.

    key: a short stable name ("eval", "range", "logits", "eps"); label: the badge text;
    ok: True when nothing looks wrong; detail: what was seen, in words, with the fix if not ok.
    """

    key: str
    label: str
    ok: bool
    detail: str


# --- 1. training mode --------------------------------------------------------------------------


def modules_in_training(model: nn.Module) -> list[str]:
    """Names of the modules of `model` (itself included, as "model") that are in training mode."""
    return [name or "model" for name, m in model.named_modules() if m.training]


def check_eval_mode(model: nn.Module, x: Tensor | None = None) -> Check:
    """Is the model in eval mode, and does it give the same output twice?

    The mode flags are read first: if any module trains, the check fails without running the
    model. Otherwise, given inputs x, the model is run twice; different outputs reveal randomness
    that eval() does not switch off (the classic case: `F.dropout(h, p)`, whose `training`
    argument defaults to True).
    """
    training = modules_in_training(model)
    if training:
        if model.training:
            where = "model.training is True"
        else:
            kinds = dict(model.named_modules())
            shown = [f"{n} ({type(kinds[n]).__name__})" for n in training[:3]]
            where = "eval() was called, but these modules train: " + ", ".join(shown) + (
                " …" if len(training) > 3 else "")
        return Check(
            "eval", "in training mode", False,
            f"{where}. Dropout and batch norm then change every output; call model.eval() "
            "before attacking or evaluating.",
        )
    if x is not None:
        with torch.no_grad():
            first, second = model(x), model(x)
        if not torch.equal(first, second):
            diff = (first - second).abs().max().item()
            return Check(
                "eval", "random outputs", False,
                f"eval mode is set, but two forward passes on the same input differ (by up to "
                f"{diff:.3g}): something random is still on, such as F.dropout(h, p) without "
                "training=self.training.",
            )
        return Check("eval", "eval mode", True, "eval mode; two forward passes agree exactly.")
    return Check("eval", "eval mode", True, "every module is in eval mode.")


# --- 2. normalised, then clipped ---------------------------------------------------------------


def saturation(x: Tensor, bounds: tuple[float, float] = (0.0, 1.0)) -> float:
    """The fraction of the non-background values of x that sit exactly on the upper bound.

    About 0.04 for a batch of real MNIST digits, about 0.8 once they have been normalised and
    clipped. 0 when there is no ink at all.
    """
    lo, hi = bounds
    ink = x > lo
    n_ink = int(ink.sum())
    return float((x >= hi).sum()) / n_ink if n_ink else 0.0


def check_input_range(x: Tensor, bounds: Bounds = (0.0, 1.0)) -> Check:
    """Do the inputs lie inside `bounds`, and do they look like raw pixels rather than normalised
    ones clipped back into range?

    x: (N, ...) inputs. bounds: the valid range, or None for unbounded features (always passes).
    Fails if any value lies outside bounds (a normalised input: attack the raw image and
    normalise inside the model). Warns when an unusually large share of the ink sits exactly on
    the upper bound, the fingerprint of "normalise, then clip to [0, 1]" (see SATURATION_*).
    """
    if bounds is None:
        return Check("range", "inputs in range", True, "unbounded features: no range to check.")
    lo, hi = bounds
    x = x.detach()
    x_min, x_max = float(x.min()), float(x.max())
    if x_min < lo or x_max > hi:
        return Check(
            "range", f"inputs in [{lo:g}, {hi:g}]", False,
            f"values run from {x_min:.3g} to {x_max:.3g}, outside [{lo:g}, {hi:g}]: these look "
            "normalised. Attack the raw image and normalise inside the model; clipping a "
            "normalised input to [0, 1] is the classic bug.",
        )
    n = x.shape[0] if x.dim() > 1 else 1
    limit = SATURATION_BATCH if n >= SATURATION_MIN_BATCH else SATURATION_SINGLE
    share = saturation(x, bounds)
    if share > limit:
        return Check(
            "range", f"inputs in [{lo:g}, {hi:g}]", False,
            f"{share:.0%} of the ink sits exactly at {hi:g} (real digits: about 4%): this looks "
            "like an input that was normalised and then clipped to the range. Faint strokes "
            "are gone and the rest is saturated.",
        )
    return Check(
        "range", f"inputs in [{lo:g}, {hi:g}]", True,
        f"values in [{x_min:.3g}, {x_max:.3g}]; {share:.0%} of the ink at {hi:g}.",
    )


# --- 3. softmax where logits belong ------------------------------------------------------------


def looks_like_probabilities(out: Tensor) -> bool:
    """True when every value is in [0, 1] and every row sums to 1: softmax output, not logits."""
    out = out.detach()
    if out.dim() != 2 or out.shape[1] < 2:
        return False
    in_unit = bool(((out >= 0) & (out <= 1)).all())
    sums_to_one = bool(((out.sum(1) - 1).abs() <= SUM_TOLERANCE).all())
    return in_unit and sums_to_one


def check_logits(out: Tensor) -> Check:
    """Are these model outputs logits (as cross-entropy and every attack here expect)?

    out: (N, C). Fails on probabilities (softmax applied twice squashes the loss and shrinks its
    gradient) and on a single output column (a one-logit binary head).
    """
    if out.dim() != 2:
        return Check("logits", "logits", False,
                     f"outputs have shape {tuple(out.shape)}; expected logits of shape (N, C).")
    if out.shape[1] < 2:
        return Check("logits", "logits", False,
                     "a single output per input: return two logits (N, 2) for a binary model.")
    if looks_like_probabilities(out):
        return Check(
            "logits", "logits, not probabilities", False,
            "every row lies in [0, 1] and sums to 1: these are softmax probabilities. "
            "Cross-entropy applies its own softmax, so feed it the logits (drop the final "
            "softmax layer).",
        )
    lo, hi = float(out.min()), float(out.max())
    return Check("logits", "logits, not probabilities", True,
                 f"raw scores from {lo:.3g} to {hi:.3g}; rows do not sum to 1.")


# --- 4. ε units ---------------------------------------------------------------------------------


def eps_in_units(eps: float, bounds: tuple[float, float] = (0.0, 1.0)) -> dict[str, float]:
    """ε on the [lo, hi] scale expressed as the same change in 0–255 grey levels and as a
    fraction of the range. For [0, 1] pixels: 0.1 -> 25.5 grey levels -> 10% of the range."""
    lo, hi = bounds
    span = hi - lo
    return {"scale": eps, "grey_levels": eps / span * 255, "fraction": eps / span}


def check_eps_units(
    eps: float, bounds: Bounds = (0.0, 1.0), *, norm: str = "linf"
) -> Check:
    """Is ε plausible on the scale of the inputs?

    An L∞ ε at or above the width of the range allows any input at all; an ε above 1 on a [0, 1]
    scale is almost always a budget quoted in 0–255 grey levels (8 meaning 8/255). L2 radii sum
    over all pixels and may exceed 1, and unbounded features have no scale to check.
    """
    label = "ε units"
    if norm != "linf" or bounds is None:
        return Check("eps", label, True, f"ε = {eps:g} ({norm}); no per-pixel scale to check.")
    lo, hi = bounds
    span = hi - lo
    units = eps_in_units(eps, bounds)
    if eps >= span:
        guess = eps / 255 * span
        return Check(
            "eps", label, False,
            f"ε = {eps:g} is at least the whole range [{lo:g}, {hi:g}]: every image is allowed. "
            f"If it is in grey levels, use ε = {eps:g}/255 = {guess:.4g}.",
        )
    if eps > 0.5 * span:
        return Check(
            "eps", label, False,
            f"ε = {eps:g} lets each pixel move by {units['fraction']:.0%} of its range "
            f"({units['grey_levels']:.0f} grey levels): the digit itself can be erased.",
        )
    return Check(
        "eps", label, True,
        f"ε = {eps:.4g} on [{lo:g}, {hi:g}] = {units['grey_levels']:.1f}/255 per pixel.",
    )


# --- all together -------------------------------------------------------------------------------


def run_checks(
    model: nn.Module | None = None,
    x: Tensor | None = None,
    logits: Tensor | None = None,
    *,
    eps: float | None = None,
    bounds: Bounds = (0.0, 1.0),
    norm: str = "linf",
) -> list[Check]:
    """Every check that the given arguments allow, in the order: eval, range, logits, eps.

    model: run twice on x (if given) to catch hidden randomness; never switched or trained.
    x: (N, ...) inputs as the model receives them. logits: (N, C) outputs of the model on x
    (computed from model and x when omitted and the model is in eval mode).
    """
    checks: list[Check] = []
    if model is not None:
        checks.append(check_eval_mode(model, x))
    if x is not None:
        checks.append(check_input_range(x, bounds))
    if logits is None and model is not None and x is not None and checks[0].ok:
        with torch.no_grad():
            logits = model(x)
    if logits is not None:
        checks.append(check_logits(logits))
    if eps is not None:
        checks.append(check_eps_units(eps, bounds, norm=norm))
    return checks


def all_ok(checks: Sequence[Check]) -> bool:
    """True when every check passed."""
    return all(c.ok for c in checks)
