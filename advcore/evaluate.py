"""Evaluation: accuracy, worst-case robust accuracy over an ensemble of attacks with its sanity
checks, and the smallest ε that flips each prediction (the "how fragile is this digit" number).
Accuracy-vs-ε curves (one attack at many ε, or the worst case in cells) are advcore.sweep's."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from advcore.attacks import AttackSpec, get_attack
from advcore.attacks._geometry import Bounds, check_eps, loss_gradient

BATCH = 500


def predict(model: nn.Module, x: Tensor, batch: int = BATCH) -> Tensor:
    """(N,) predicted classes, in batches, without building a graph."""
    with torch.no_grad():
        return torch.cat([model(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)])


def probabilities(model: nn.Module, x: Tensor) -> Tensor:
    """(N, C) softmax probabilities."""
    with torch.no_grad():
        return torch.softmax(model(x), dim=1)


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Fraction of inputs classified correctly."""
    return float((predict(model, x) == y).float().mean())


class EvaluationWarning(UserWarning):
    """A sanity check of `robust_accuracy` failed: the figure is probably an overestimate.

    The checks follow AutoAttack's own and Carlini et al., "On Evaluating Adversarial
    Robustness" (2019). Filter them with `warnings.simplefilter("ignore", EvaluationWarning)`.
    """


# The default worst-case ensembles (Croce & Hein 2020's "standard" AutoAttack without FAB-T):
# APGD-CE, then APGD-T (targeted DLR over the top-9 classes), then Square, each run only on the
# inputs the ones before it left robust.
ENSEMBLES: dict[str, tuple[str, ...]] = {
    "linf": ("apgd-ce", "apgd-t", "square"),
    "l2": ("apgd-ce-l2", "apgd-t-l2", "square-l2"),
}
ENSEMBLE_STEPS = 100  # APGD iterations, as in AutoAttack
ENSEMBLE_QUERIES = 5000  # Square's budget, as in AutoAttack
CHECK_INPUTS = 100  # inputs the sanity checks look at
VANISHING = 1e-10  # an L1 input-gradient norm below this counts as zero (AutoAttack's threshold)
LARGE_EPS_ACCURACY = 0.1
BLACK_BOX_SHARE = 0.1  # warn when black-box attacks fool more of the white-box survivors  # at an ε that allows any input, accuracy should fall below this


class RobustAccuracy(float):
    """Robust accuracy: a float (the fraction of inputs no attack fooled), with its evidence.

    It is a float so that code written for the single-attack figure keeps working unchanged.
    accuracy: that same fraction, as a plain float.
    robust: (N,) bool, True where the input was classified correctly and no attack fooled it.
    clean: (N,) bool, True where the clean input was classified correctly.
    per_attack: attack name -> accuracy after that attack (cumulative, in the order run).
    x_adv: (N, ...) per input the first adversarial input found, or x where robust.
    fooled_by: per input the name of the attack that fooled it first, "clean" for inputs the
        model already gets wrong, or None where robust.
    queries: black-box attack name -> (N,) int64 queries it spent per input (0 where it did
        not run).
    ci: the 95% Clopper-Pearson interval of the accuracy (exact binomial).
    warnings: the messages of the sanity checks that fired (also issued as EvaluationWarning).
    """

    accuracy: float
    robust: Tensor
    clean: Tensor
    per_attack: dict[str, float]
    x_adv: Tensor
    fooled_by: list[str | None]
    queries: dict[str, Tensor]
    ci: tuple[float, float]
    warnings: tuple[str, ...]

    def __new__(cls, accuracy: float, **fields: Any) -> RobustAccuracy:
        obj = super().__new__(cls, accuracy)
        obj.accuracy = float(accuracy)
        for name, value in fields.items():
            setattr(obj, name, value)
        return obj

    def __repr__(self) -> str:
        lo, hi = self.ci
        steps = ", ".join(f"{k} {v:.2%}" for k, v in self.per_attack.items())
        return f"RobustAccuracy({self.accuracy:.2%}, 95% CI [{lo:.2%}, {hi:.2%}]; {steps})"


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) confidence interval of a proportion k / n."""
    if n == 0:
        return (0.0, 1.0)
    alpha = 1 - level
    from scipy import stats  # here, not at the top: scipy.stats costs ~1 s at import, and
    # every page imports this module (advcore.playground.digits does) while only this function needs it

    lo = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


Progress = Callable[[int, int, str, float], None]


def robust_accuracy(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor,
    norm: str = "linf",
    attacks: Sequence[str] | None = None,
    attack: str | None = None,
    steps: int | None = None,
    queries: int = ENSEMBLE_QUERIES,
    bounds: Bounds = (0.0, 1.0),
    seed: int = 0,
    progress: Progress | None = None,
    checks: bool = True,
) -> RobustAccuracy:
    """The accuracy that survives the worst of several attacks (Croce & Hein 2020's protocol).

    x: (N, ...) inputs inside `bounds`; y: (N,) true labels. eps: the ε-ball's radius in `norm`
    on the input scale (MNIST at L∞ ε = 0.3 is 76.5/255), a float or one value per input.
    attacks: registered attack names run in turn, each on the inputs still robust; an input
        counts as robust only if it is classified correctly and every attack fails on it.
        Default: ENSEMBLES[norm], i.e. APGD-CE, APGD-T (targeted DLR over the top-9 classes;
        on 2- and 3-class models it falls back to the margin or untargeted DLR) and Square.
    steps: iterations of the gradient attacks (default ENSEMBLE_STEPS = 100).
    queries: the black-box attacks' budget per input (default 5,000, as AutoAttack).
    progress: called as progress(done, total, attack name, accuracy so far) after each attack.
    checks: run the sanity checks, which warn (EvaluationWarning) when the outputs are random or
        look like probabilities, the gradients vanish on more than a tenth of the inputs, a
        black-box attack fools more than a tenth of the inputs the gradient attacks left, or an
        ε that allows any input leaves accuracy above 10%. Each is a sign of gradient masking:
        the figure is then an overestimate.

    `attack="name"` keeps the single-attack figure of old: that attack alone, run on every input,
    and the accuracy on its outputs (steps default 10; no checks). advcore.sweep.accuracy_curve
    gives the same figure at many ε.
    """
    if attack is not None:
        if attacks is not None:
            raise ValueError("give either attack (one attack) or attacks (an ensemble), not both")
        return _single_attack(model, x, y, attack=attack, eps=eps, steps=10 if steps is None
                              else steps, bounds=bounds, seed=seed)
    if norm not in ENSEMBLES:
        raise ValueError(f"norm must be one of {tuple(ENSEMBLES)}, got {norm!r}")
    names = ENSEMBLES[norm] if attacks is None else tuple(attacks)
    if not names:
        raise ValueError("attacks must name at least one registered attack")
    specs = [get_attack(name) for name in names]
    for spec in specs:
        if spec.norm != norm:
            raise ValueError(f"{spec.name} measures ε in {spec.norm}, not {norm}")
    check_eps(eps, n=len(x))
    steps = ENSEMBLE_STEPS if steps is None else steps
    x, y = x.detach(), y.detach().long()
    pred = predict(model, x)
    clean = pred == y
    robust = clean.clone()
    x_adv = x.clone()
    fooled_by: list[str | None] = ["clean" if not ok else None for ok in clean.tolist()]
    per_attack: dict[str, float] = {}
    spent: dict[str, Tensor] = {}
    white_robust = robust
    for i, spec in enumerate(specs, start=1):
        idx = robust.nonzero().squeeze(1)
        if spec.black_box:
            spent[spec.name] = torch.zeros(len(y), dtype=torch.int64, device=x.device)
        if len(idx):
            e = eps[idx] if isinstance(eps, Tensor) and eps.dim() == 1 else eps
            res = spec.run(model, x[idx], y[idx], eps=e, steps=steps, bounds=bounds, seed=seed,
                           queries=queries if spec.black_box else None)
            fooled = predict(model, res.x_adv) != y[idx]
            hit = idx[fooled]
            robust[hit] = False
            x_adv[hit] = res.x_adv[fooled]
            for j in hit.tolist():
                fooled_by[j] = spec.name
            if res.queries is not None:
                spent[spec.name][idx] = res.queries
        if not spec.black_box:
            white_robust = robust.clone()
        per_attack[spec.name] = int(robust.sum()) / len(y)
        if progress is not None:
            progress(i, len(specs), spec.name, per_attack[spec.name])
    k, n = int(robust.sum()), len(y)
    messages: list[str] = []
    if checks:
        messages = _sanity_checks(model, x, y, clean=clean, white_robust=white_robust,
                                  robust=robust, specs=specs, eps=eps, norm=norm, bounds=bounds,
                                  seed=seed)
        for message in messages:
            warnings.warn(message, EvaluationWarning, stacklevel=2)
    return RobustAccuracy(k / n, robust=robust, clean=clean, per_attack=per_attack, x_adv=x_adv,
                          fooled_by=fooled_by, queries=spent, ci=clopper_pearson(k, n),
                          warnings=tuple(messages))


def _single_attack(model: nn.Module, x: Tensor, y: Tensor, *, attack: str, eps: float | Tensor,
                   steps: int, bounds: Bounds, seed: int) -> RobustAccuracy:
    """Accuracy on the outputs of one attack run on every input (the figure of old)."""
    res = get_attack(attack).run(model, x, y, eps=eps, steps=steps, bounds=bounds, seed=seed)
    pred = predict(model, res.x_adv)
    clean = predict(model, x) == y
    robust = pred == y
    k, n = int(robust.sum()), len(y)
    fooled_by = [None if ok else attack for ok in robust.tolist()]
    queries = {} if res.queries is None else {attack: res.queries}
    return RobustAccuracy(float((pred == y).float().mean()), robust=robust, clean=clean,
                          per_attack={attack: k / n}, x_adv=res.x_adv, fooled_by=fooled_by,
                          queries=queries, ci=clopper_pearson(k, n), warnings=())


def _sanity_checks(model: nn.Module, x: Tensor, y: Tensor, *, clean: Tensor, white_robust: Tensor,
                   robust: Tensor, specs: Sequence[AttackSpec], eps: float | Tensor, norm: str,
                   bounds: Bounds, seed: int) -> list[str]:
    """The messages of the checks that fail (see robust_accuracy). Looks at up to CHECK_INPUTS
    correctly classified inputs; costs a few forward passes and one short attack."""
    messages = []
    sample = clean.nonzero().squeeze(1)[:CHECK_INPUTS]
    xs, ys = (x[sample], y[sample]) if len(sample) else (x[:CHECK_INPUTS], y[:CHECK_INPUTS])
    with torch.no_grad():
        first, second = model(xs), model(xs)
    if not torch.equal(first, second):
        messages.append(
            "the model's outputs are random: two calls on the same inputs differ. Gradient "
            "attacks then follow one random draw; average the gradient over the randomness "
            "(EOT, advcore.defences.EOT) and check with a black-box attack.")
    rows = first.sum(1)
    if bool(((first >= 0) & (first <= 1)).all()) and bool(((rows - 1).abs() < 1e-3).all()):
        messages.append(
            "the model's outputs look like probabilities (in [0, 1], rows sum to 1), not logits: "
            "cross-entropy on them saturates and its gradient vanishes. Attack the logits.")
    grad, _ = loss_gradient(model, xs, ys)
    vanished = grad.flatten(1).abs().sum(1) < VANISHING
    if float(vanished.float().mean()) > 0.1:
        messages.append(
            f"the loss gradient is zero or vanishing on {int(vanished.sum())} of {len(ys)} "
            "inputs checked: gradient attacks cannot move there (a non-differentiable step, or a "
            "saturated output). Use BPDA (advcore.defences.BPDA) or a black-box attack.")
    black = [s for s in specs if s.black_box]
    if black and len(black) < len(specs):
        extra, left = int((white_robust & ~robust).sum()), int(white_robust.sum())
        # A black-box attack finds the odd input a gradient attack missed on any model; on a
        # masked one it breaks much of what the gradient attacks left.
        if extra > BLACK_BOX_SHARE * left:
            messages.append(
                f"the black-box attack{'s' if len(black) > 1 else ''} "
                f"({', '.join(s.name for s in black)}) fooled {extra} input(s) the gradient "
                "attacks could not: the gradients are masked, so gradient-based figures "
                "overestimate robustness.")
    white = next((s for s in specs if not s.black_box), None)
    if white is not None:
        large = _large_eps(x, eps, norm, bounds)
        res = white.run(model, xs, ys, eps=large, steps=20, bounds=bounds, seed=seed)
        acc = float((predict(model, res.x_adv) == ys).float().mean())
        if acc > LARGE_EPS_ACCURACY:
            messages.append(
                f"at ε = {large:.3g}, where any input is reachable, {white.name} still leaves "
                f"{acc:.0%} accuracy (it should be ~0%): the attack is not working on this "
                "model, so its robust accuracy at smaller ε means little.")
    return messages


def _large_eps(x: Tensor, eps: float | Tensor, norm: str, bounds: Bounds) -> float:
    """An ε whose ball contains the whole box (unbounded inputs: 10 × the largest ε asked)."""
    if bounds is None:
        return 10 * float(eps.max() if isinstance(eps, Tensor) else eps)
    span = bounds[1] - bounds[0]
    return span if norm == "linf" else span * math.sqrt(x[0].numel())


def smallest_flipping_eps(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    attack: str = "fgsm",
    eps_max: float = 0.5,
    steps: int = 10,
    tol: float = 1e-3,
    bounds: Bounds = (0.0, 1.0),
    seed: int = 0,
) -> Tensor:
    """(N,) the smallest ε at which `attack` changes each prediction, found by bisection.

    Inputs already misclassified get 0; inputs the attack cannot flip within `eps_max` get inf.
    Precision is `tol` in ε units (about log2(eps_max / tol) attack runs). For FGSM on a linear
    model this is exact up to `tol`: the margin shrinks linearly in ε.
    """
    check_eps(eps_max, "eps_max")
    if not (isinstance(tol, int | float) and tol > 0):  # NaN and 0 would never converge
        raise ValueError(f"tol must be a number > 0, got {tol!r}")
    spec = get_attack(attack)
    x = x.detach()
    n = len(x)

    def flipped(eps: Tensor) -> Tensor:
        x_adv = spec(model, x, y, eps=eps, steps=steps, bounds=bounds, seed=seed)
        return predict(model, x_adv) != y

    result = torch.full((n,), float("inf"), device=x.device)
    wrong = predict(model, x) != y
    result[wrong] = 0.0
    hi = torch.full((n,), float(eps_max), device=x.device)
    reachable = flipped(hi) & ~wrong
    lo = torch.zeros(n, device=x.device)
    # A fixed number of halvings: a `while hi - lo > tol` loop never ends once tol is below the
    # float32 spacing of ε (the midpoint stops moving).
    halvings = min(40, max(0, math.ceil(math.log2(eps_max / tol)))) if eps_max > 0 else 0
    for _ in range(halvings):
        mid = (lo + hi) / 2
        f = flipped(mid)
        hi = torch.where(f, mid, hi)
        lo = torch.where(f, lo, mid)
    result[reachable] = hi[reachable]
    return result
