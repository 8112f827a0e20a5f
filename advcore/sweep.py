"""Sweeps: one attack at many ε, and the worst case at one ε, in cells of inputs.

Every accuracy-vs-ε figure of the house is drawn from here: the model cards
(`python -m advcore.train`), the robustness lab's live curves and worst case, the boundary
page's accuracy curve and a notebook's `epsilon_sweep`.

- `attacked`: the one call, one attack at one ε (ε = 0, or attack CLEAN, is the input itself).
- `correct`: how many inputs are still classified correctly after it; `accuracy_curve`: that
  share at each ε, over cells of `chunk` inputs (None: one call on all of them, which is what a
  card does; PGD's random start depends on the batch it is drawn for).
- `epsilon_sweep`: the same sweep keeping the adversarial inputs and per-input success flags.
- `cap`: a minimal attack's point capped at ε (advcore.attacks._geometry.cap: the one cap C&W
  and HopSkipJump apply, and the digits page applies to one uncapped run to serve every ε).
- Cells (`Cell`, `cells`): one model, one attack, one ε, one slice [start, stop) of the inputs,
  so a caller can cache each point and report progress between them.
- The worst case: `worst_case_count` runs advcore.evaluate.robust_accuracy's default ensemble on
  one cell and counts what it found (`WorstCount`); `combine_worst_case` adds cells up into one
  `WorstCase`, beside PGD's count on the same inputs.

Units: ε in the attack's norm, on the scale of the inputs (MNIST: [0, 1] pixels). Accuracies
are fractions in [0, 1]; counts are whole inputs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from advcore.attacks import APGD_TARGETS, get_attack
from advcore.attacks._geometry import Bounds, cap, check_eps
from advcore.cancel import ShouldStop, check, interruptible
from advcore.evaluate import (
    ENSEMBLE_QUERIES,
    ENSEMBLE_STEPS,
    ENSEMBLES,
    EvaluationWarning,
    clopper_pearson,
    predict,
    robust_accuracy,
)

__all__ = [
    "CHUNK",
    "CLEAN",
    "WORST",
    "Cell",
    "Sweep",
    "WorstCase",
    "WorstCount",
    "accuracy_curve",
    "attacked",
    "cap",
    "cells",
    "combine_worst_case",
    "correct",
    "epsilon_sweep",
    "spans",
    "worst_case_count",
]

CLEAN = "none"  # Cell.attack of clean accuracy: no attack
WORST = "worst-case"  # Cell.attack of a worst-case cell (the ensemble of advcore.evaluate)
CHUNK = 50  # inputs per worst-case cell (the cards and the robustness lab use the same cells)
SEED = 0  # every sweep's random starts and black-box draws: same call, same numbers

Progress = Callable[[float, str], None]


# --- one attack at one ε, then at many --------------------------------------------------------


def attacked(model: nn.Module, x: Tensor, y: Tensor, *, attack: str, eps: float | Tensor,
             steps: int = 10, targeted: bool = False, bounds: Bounds = (0.0, 1.0),
             seed: int = SEED, queries: int | None = None) -> Tensor:
    """The registered `attack` at `eps` on (x, y); x itself for attack CLEAN or ε = 0 (which
    every attack returns unchanged anyway, so no attack runs for it)."""
    if attack == CLEAN or (not isinstance(eps, Tensor) and eps == 0):
        return x
    return get_attack(attack)(model, x, y, eps=eps, steps=steps, targeted=targeted,
                              bounds=bounds, seed=seed, queries=queries)


def correct(model: nn.Module, x: Tensor, y: Tensor, *, attack: str, eps: float, steps: int = 10,
            bounds: Bounds = (0.0, 1.0), seed: int = SEED, queries: int | None = None,
            should_stop: ShouldStop | None = None) -> int:
    """How many of (x, y) the model still classifies correctly after `attack` at `eps`.

    attack CLEAN (or ε = 0) counts clean accuracy. should_stop: asked before each forward
    pass; True raises advcore.cancel.Cancelled.
    """
    model = interruptible(model, should_stop)
    x_adv = attacked(model, x, y, attack=attack, eps=eps, steps=steps, bounds=bounds, seed=seed,
                     queries=queries)
    return int((predict(model, x_adv) == y).sum())


def spans(n: int, chunk: int | None) -> list[tuple[int, int]]:
    """[start, stop) slices of n inputs, `chunk` at a time (None: one slice of all n)."""
    size = n if chunk is None else chunk
    if n < 1 or size < 1:
        raise ValueError(f"n and chunk must be >= 1, got n={n}, chunk={chunk}")
    return [(s, min(n, s + size)) for s in range(0, n, size)]


def accuracy_curve(model: nn.Module, x: Tensor, y: Tensor, *, attack: str,
                   epsilons: Sequence[float], steps: int = 10, bounds: Bounds = (0.0, 1.0),
                   seed: int = SEED, queries: int | None = None, chunk: int | None = None,
                   should_stop: ShouldStop | None = None) -> list[float]:
    """Accuracy of `model` on (x, y) under `attack` at each ε of `epsilons` (k/N fractions).

    chunk: inputs per attack call (None: all at once). The first point at ε = 0 is clean
    accuracy. should_stop: asked between cells and before each forward pass.
    """
    eps_list = [float(e) for e in epsilons]
    if not eps_list:
        raise ValueError("epsilons must not be empty")
    for e in eps_list:  # all of them before the first (possibly long) run
        check_eps(e)
    parts = spans(len(y), chunk)
    out = []
    for e in eps_list:
        k = 0
        for s, t in parts:
            check(should_stop)
            k += correct(model, x[s:t], y[s:t], attack=attack, eps=e, steps=steps,
                         bounds=bounds, seed=seed, queries=queries, should_stop=should_stop)
        out.append(k / len(y))
    return out


@dataclass(frozen=True)
class Sweep:
    """One attack run at several ε (Foolbox's idea): charts are all drawn from this.

    epsilons: (E,); adversarial: (E, N, ...); success: (E, N) bool; predictions: (E, N) int64.
    """

    epsilons: Tensor
    adversarial: Tensor
    success: Tensor
    predictions: Tensor

    @property
    def accuracy(self) -> Tensor:
        """(E,) fraction of inputs the attack did *not* succeed on (robust accuracy if y is true)."""
        return 1.0 - self.success.float().mean(1)


def epsilon_sweep(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    attack: str = "fgsm",
    epsilons: Sequence[float] | Tensor,
    **kwargs: Any,
) -> Sweep:
    """Run `attack` at each ε; return the adversarial inputs and a per-input success flag.

    kwargs go to the attack (steps, targeted, bounds, seed, queries). For an untargeted attack,
    success means "misclassified", so an input the model already gets wrong counts as a success
    at ε = 0.
    """
    get_attack(attack)
    eps_list = [float(e) for e in epsilons]
    if not eps_list:
        raise ValueError("epsilons must not be empty")
    for e in eps_list:
        check_eps(e)
    targeted = bool(kwargs.get("targeted", False))
    advs = [attacked(model, x, y, attack=attack, eps=e, **kwargs) for e in eps_list]
    with torch.no_grad():
        predictions = torch.stack([model(a).argmax(1) for a in advs])
    flags = predictions == y if targeted else predictions != y
    return Sweep(torch.tensor(eps_list), torch.stack(advs), flags, predictions)


# --- cells ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One point of a sweep: `model` attacked with `attack` at `eps`, on inputs [start, stop).
    attack CLEAN (ε = 0) is plain accuracy; WORST is the worst-case ensemble."""

    model: str
    attack: str
    eps: float
    start: int
    stop: int


def cells(models: Sequence[str], attack: str, epsilons: Sequence[float], *, n: int,
          chunk: int | None) -> list[Cell]:
    """Every cell of `attack` on the first n inputs of each model at each ε, model by model,
    ε by ε, slice by slice (a caller orders them for its progress bar)."""
    parts = spans(n, chunk)
    return [Cell(m, attack, float(e), s, t) for m in models for e in epsilons for s, t in parts]


# --- the worst case ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WorstCount:
    """What one call of advcore.evaluate.robust_accuracy found on a cell of inputs.

    n: inputs; clean: classified correctly; robust: correct and fooled by no attack;
    per_attack: (attack name, inputs still robust after it), in the order run;
    warnings: the sanity checks that fired (advcore.evaluate.EvaluationWarning).
    """

    n: int
    clean: int
    robust: int
    per_attack: tuple[tuple[str, int], ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class WorstCase:
    """"PGD says X%, the worst case says Y%" for one model at one ε, on the same inputs.

    n: the first n inputs; clean, robust, pgd: how many of them are classified correctly,
    survive every attack of the ensemble, survive PGD-`pgd_steps`. per_attack: (attack, still
    robust after it). source: "card" (measured by the training command) or "live".
    """

    model: str
    eps: float
    n: int
    clean: int
    robust: int
    pgd: int
    pgd_steps: int
    per_attack: tuple[tuple[str, int], ...] = ()
    warnings: tuple[str, ...] = ()
    source: str = "live"

    @property
    def accuracy(self) -> float:
        return self.robust / self.n

    @property
    def pgd_accuracy(self) -> float:
        return self.pgd / self.n

    @property
    def ci(self) -> tuple[float, float]:
        """95% Clopper-Pearson interval of the worst-case accuracy (exact binomial)."""
        return clopper_pearson(self.robust, self.n)

    @property
    def pgd_ci(self) -> tuple[float, float]:
        return clopper_pearson(self.pgd, self.n)

    @property
    def gap(self) -> float:
        """How much PGD overstates robustness here, as a fraction (≥ 0 when the ensemble is
        the stronger evaluation)."""
        return (self.pgd - self.robust) / self.n


def combine_worst_case(model: str, eps: float, parts: Sequence[WorstCount], *, pgd: int,
                       pgd_steps: int, source: str = "live") -> WorstCase:
    """One WorstCase from the counts of its cells (and PGD's count on the same inputs)."""
    if not parts:
        raise ValueError("no cells to combine")
    per: dict[str, int] = {}
    for part in parts:
        for name, k in part.per_attack:
            per[name] = per.get(name, 0) + k
    notes = tuple(dict.fromkeys(w for part in parts for w in part.warnings))
    return WorstCase(model, float(eps), sum(p.n for p in parts), sum(p.clean for p in parts),
                     sum(p.robust for p in parts), int(pgd), int(pgd_steps), tuple(per.items()),
                     notes, source)


class _Counted(nn.Module):
    """`model`, telling `tick(inputs, with_gradient)` about every forward pass. Held, not
    registered (like advcore.cancel.Interruptible): nothing can reach the shared model."""

    def __init__(self, model: nn.Module, tick: Callable[[int, bool], None]) -> None:
        super().__init__()
        object.__setattr__(self, "inner", model)
        self.tick = tick
        self.training = model.training

    def forward(self, x: Tensor) -> Tensor:
        self.tick(len(x), torch.is_grad_enabled())
        return self.inner(x)


class _EnsembleProgress:
    """A progress fraction for one robust_accuracy call, from the forward passes it makes.

    Work is counted in input-passes (a pass with a gradient counts 3: forward and backward).
    Each attack's cost is bounded by its budget on the inputs it runs on (APGD: steps + 1
    passes, APGD-T: that per target class, Square: its queries), so `done / (done + left)`
    only grows, and it jumps forward when an attack finishes early.
    """

    def __init__(self, n: int, attacks: Sequence[str], *, steps: int, queries: int,
                 report: Progress, what: str) -> None:
        self.per_digit = []
        for name in attacks:
            spec = get_attack(name)
            if spec.black_box:
                self.per_digit.append(float(queries))
            else:
                targets = APGD_TARGETS if name.startswith("apgd-t") else 1
                self.per_digit.append(3.0 * (steps + 1) * targets)
        self.checks = 3.0 * 23 * min(n, 100)  # the sanity checks' 20-step attack and gradients
        self.alive = n  # inputs the next attack runs on (an upper bound until it starts)
        self.index = 0
        self.done = self.done_here = 0.0
        self.report, self.what, self.names = report, what, list(attacks)

    def left(self) -> float:
        if self.index >= len(self.per_digit):
            return max(self.checks - self.done_here, 0.0)
        here = max(self.per_digit[self.index] * self.alive - self.done_here, 0.0)
        later = sum(self.per_digit[self.index + 1:]) * self.alive
        return here + later + self.checks

    def tick(self, digits: int, gradient: bool) -> None:
        units = digits * (3.0 if gradient else 1.0)
        self.done += units
        self.done_here += units
        name = self.names[self.index] if self.index < len(self.names) else "sanity checks"
        self.report(self.done / (self.done + self.left()), f"{self.what}: {name}")

    def attack_done(self, i: int, total: int, name: str, acc: float, n: int) -> None:
        self.index, self.done_here = i, 0.0
        self.alive = round(acc * n)


def worst_case_count(
    model: nn.Module, x: Tensor, y: Tensor, *, eps: float, seed: int = SEED,
    progress: Progress | None = None, should_stop: ShouldStop | None = None,
    what: str = "worst case",
) -> WorstCount:
    """robust_accuracy's default ensemble on (x, y) at L∞ `eps`, as counts.

    x: (N, ...) inside [0, 1]; y: (N,). progress(fraction, what) is called after every
    forward pass with a fraction that only grows, and with 1.0 at the end.
    should_stop: asked before each forward pass; True raises advcore.cancel.Cancelled.
    The counts are those of a direct `robust_accuracy(model, x, y, eps=eps, seed=seed)`: the
    wrappers only watch the forward passes.
    """
    n = len(y)
    watched = interruptible(model, should_stop)
    tracker = None
    if progress is not None:
        tracker = _EnsembleProgress(n, ENSEMBLES["linf"], steps=ENSEMBLE_STEPS,
                                    queries=ENSEMBLE_QUERIES, report=progress, what=what)
        watched = _Counted(watched, tracker.tick)
    with warnings.catch_warnings():  # the messages are kept in the result, not printed
        warnings.simplefilter("ignore", EvaluationWarning)
        res = robust_accuracy(
            watched, x, y, eps=eps, seed=seed,
            progress=None if tracker is None else
            (lambda i, t, name, acc: tracker.attack_done(i, t, name, acc, n)))
    if progress is not None:
        progress(1.0, f"{what}: done")
    return WorstCount(n, int(res.clean.sum()), int(res.robust.sum()),
                      tuple((k, round(v * n)) for k, v in res.per_attack.items()),
                      tuple(res.warnings))
