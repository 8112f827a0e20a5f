"""What the robustness lab computes, as plain functions of models and data (no Streamlit).

- Accuracy-vs-ε curves for the shipped MNIST models under FGSM and PGD: read from the model cards
  (computed by `python -m advcore.train`) or recomputed live, one small cell at a time so a page
  can show progress and cache each cell.
- The published numbers those curves are compared with (`REFERENCES`), and the "our model vs the
  paper" table.
- The worst case beside PGD: robust accuracy under advcore.evaluate.robust_accuracy's ensemble
  (APGD-CE, APGD-T, Square; "our AutoAttack-grade ensemble"), in advcore.sweep's cells of
  `sweep.CHUNK` digits with a fine-grained progress report, read from the cards or computed
  live; which figure to state and draw, and what each cell costs for the progress bar.
- Standard vs adversarially trained MNIST at one ε (`mnist_comparison`): from the cards where
  they hold that number, else counted in cells.

The sweeps themselves (one attack at many ε, the worst case on a cell) are the library's,
advcore.sweep; this module orders their cells for a page and turns counts into curves.
- Transferability: adversarial digits crafted on one model, evaluated on every model.
- Adversarial training as data augmentation on 2-D data (Goodfellow et al. 2015; Madry et al.
  2018): the same network trained without and with adversarial examples, before and after.

Units: MNIST ε is an L∞ radius on the [0, 1] pixel scale (0.25 = 63.75/255); 2-D ε is in
standardised feature units. Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from advcore import sweep
from advcore.attacks import get_attack
from advcore.cancel import ShouldStop, check, interruptible
from advcore.data import toy_dataset
from advcore.evaluate import accuracy, predict
from advcore.models import REBUILD, REMEASURE, toy_model, worst_case_of
from advcore.playground.boundary import Attacked, Grid, attack_points, decision_grid

# The cells and the worst case are the library's (advcore.sweep); the page speaks of them here.
from advcore.sweep import CLEAN, WORST, Cell, WorstCase
from advcore.train import train_toy

Progress = Callable[[float, str], None]

# The attacks of the lab, with the step count of an FGSM run (always one step).
CURVE_ATTACKS: tuple[str, ...] = ("fgsm", "pgd")
MODEL_ORDER: tuple[str, ...] = ("mnist-linear", "mnist-cnn", "mnist-cnn-robust")
SEED = sweep.SEED  # PGD's random start: part of the picture, so fixed (same URL, same numbers)
CARD_EPS_TOL = 1e-9


def eps_255(eps: float) -> str:
    """ε on the [0, 1] scale in 0-255 grey levels, as a reader says it: 0.25 -> "63.75/255"."""
    return f"{eps * 255:.4g}/255"


# --- published reference points ---------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """One published accuracy on MNIST under an L∞ attack, with what to compare it with.

    accuracy is a fraction; `reported` says how the paper states it (Goodfellow et al. give error
    rates: accuracy = 1 − error). `ours` names the shipped model that plays the same role.
    """

    source: str
    model: str
    attack: str
    eps: float
    accuracy: float
    reported: str
    setting: str
    ours: str
    group: str  # one legend entry per group on the curves figure


_GOODFELLOW = "Goodfellow et al. 2015"
_MADRY = "Madry et al. 2018"
_TUTORIAL = "PyTorch FGSM tutorial"
_CROCE = "Croce & Hein 2020"
_TUTORIAL_EPS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
_TUTORIAL_ACC = (0.943, 0.851, 0.683, 0.430, 0.208, 0.087)

REFERENCES: tuple[Reference, ...] = (
    Reference(_GOODFELLOW, "shallow softmax", "fgsm", 0.25, 1 - 0.999, "99.9% error",
              "MNIST test set (10,000 digits)", "mnist-linear", "Goodfellow 2015: softmax"),
    Reference(_GOODFELLOW, "maxout network", "fgsm", 0.25, 1 - 0.894, "89.4% error",
              "MNIST test set (10,000 digits)", "mnist-cnn", "Goodfellow 2015: maxout"),
    Reference(_GOODFELLOW, "maxout, FGSM-trained", "fgsm", 0.25, 1 - 0.179,
              "17.9% error", "MNIST test set (10,000 digits)", "mnist-cnn-robust",
              "Goodfellow 2015: maxout, adv. trained"),
    Reference(_MADRY, "PGD-trained CNN", "pgd", 0.3, 0.89, "89% accuracy",
              "MNIST test set; their strongest white-box PGD (many steps, random restarts)",
              "mnist-cnn-robust", "Madry 2018: PGD-trained CNN"),
    # Their model and their figure, not ours: AutoAttack's table lists Madry et al.'s MNIST
    # model at 89.6% by the PGD its authors report and 88.4% by AutoAttack (ε = 0.3).
    Reference(_CROCE, "Madry et al.'s PGD-trained CNN", WORST, 0.3, 0.884,
              "88.4% accuracy by AutoAttack (89.6% by PGD)",
              "Madry et al.'s own model on the MNIST test set, attacked with AutoAttack",
              "mnist-cnn-robust", "AutoAttack on Madry 2018's model"),
    *(
        Reference(_TUTORIAL, "LeNet", "fgsm", e, a, f"{a:.1%} accuracy",
                  "MNIST test set (10,000 digits)", "mnist-cnn", "PyTorch tutorial: LeNet")
        for e, a in zip(_TUTORIAL_EPS, _TUTORIAL_ACC, strict=True)
    ),
)


# --- curves -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Curve:
    """Accuracy of one model under one attack at each ε.

    epsilons, accuracy: equal-length tuples (ε on [0, 1] pixels; accuracy as a fraction).
    steps: PGD iterations (1 for FGSM). n: test digits used. source: "card" or "live".
    """

    model: str
    attack: str
    epsilons: tuple[float, ...]
    accuracy: tuple[float, ...]
    steps: int
    n: int
    source: str

    def at(self, eps: float) -> float | None:
        """The accuracy at exactly `eps`, or None if the curve has no point there."""
        for e, a in zip(self.epsilons, self.accuracy, strict=True):
            if abs(e - eps) <= CARD_EPS_TOL:
                return a
        return None


def exact_linear_curve(model: nn.Module, x: Tensor, y: Tensor, epsilons: Sequence[float], *,
                       name: str = "mnist-linear") -> Curve:
    """The exact robust-accuracy curve of a softmax-regression model under L∞ in [0, 1].

    Each digit's smallest flipping ε has a closed form (advcore.exact.linear_minimal_linf), so
    the accuracy at ε is the share of digits whose ε* exceeds ε: every attack's curve lies on
    or above this one. x (N, 1, 28, 28) in [0, 1], y (N,); attack "exact", source "exact".
    """
    from advcore import exact

    star = exact.linear_minimal_linf(model, x, y).numpy()
    grid = np.asarray(epsilons, dtype=np.float64)
    acc = exact.exact_robust_accuracy(star, grid)
    return Curve(name, "exact", tuple(float(e) for e in grid), tuple(float(a) for a in acc),
                 steps=0, n=len(y), source="exact")


def card_curves(name: str, card: Mapping[str, Any], n: int) -> list[Curve]:
    """The FGSM and PGD curves a model card records (see advcore.train.evaluate_card).

    n: how many test digits the card was evaluated on (the whole test split).
    Raises ValueError naming the missing field if the card has no curves.
    """
    try:
        curves = card["curves"]
        epsilons = tuple(float(e) for e in curves["epsilons"])
        steps = int(curves.get("pgd_steps", 20))
        out = [
            Curve(name, attack, epsilons, tuple(float(a) for a in curves[attack]),
                  1 if attack == "fgsm" else steps, n, "card")
            for attack in CURVE_ATTACKS
        ]
    except KeyError as exc:
        raise ValueError(f"the model card of {name} has no accuracy curves (its field "
                         f"“{exc.args[0]}” is missing); rebuild it with `{REBUILD}`") from None
    except (TypeError, ValueError):
        raise ValueError(f"the model card of {name} has accuracy curves that are not lists of "
                         f"numbers; rebuild it with `{REBUILD}`") from None
    for c in out:
        if len(c.accuracy) != len(c.epsilons):
            raise ValueError(f"the card of {name} has {len(c.accuracy)} {c.attack} accuracies "
                             f"for {len(c.epsilons)} epsilons")
    return out


def curve_cells(
    models: Sequence[str],
    epsilons: Sequence[float],
    *,
    n: int,
    chunk: int,
    attacks: Sequence[str] = CURVE_ATTACKS,
) -> list[Cell]:
    """Every cell of the live curves, cheapest first (so a progress bar starts moving at once).

    Clean accuracy (ε = 0) is one cell per model and chunk, shared by both attacks.
    chunk: digits per cell; with chunk >= n each point is one attack call on all n digits, which
    reproduces a card exactly (PGD's random start depends on the batch it is drawn for).
    """
    every = sweep.cells(models, CLEAN, [0.0], n=n, chunk=chunk)
    every += [c for a in attacks for c in sweep.cells(models, a, [e for e in epsilons if e > 0],
                                                       n=n, chunk=chunk)]
    return sorted(every, key=lambda c: cell_cost(c, steps=20))


def cell_cost(cell: Cell, *, steps: int) -> float:
    """Relative work of a cell (one forward+backward pass of the CNN on one digit = 1).

    Used to weight a progress bar, not to promise a time. The linear model is ~100× cheaper.
    """
    passes = 0.5 if cell.attack == "none" else (1 if cell.attack == "fgsm" else steps + 1)
    per_digit = 0.01 if cell.model == "mnist-linear" else 1.0
    return passes * per_digit * (cell.stop - cell.start)


def curves_from_cells(
    counts: Mapping[Cell, int], *, steps: int, n: int, attacks: Sequence[str] = CURVE_ATTACKS,
) -> list[Curve]:
    """Assemble live curves from per-cell correct counts (see `curve_cells`)."""
    models = list(dict.fromkeys(c.model for c in counts))
    out = []
    for m in models:
        clean = sum(v for c, v in counts.items() if c.model == m and c.attack == CLEAN) / n
        for a in attacks:
            by_eps: dict[float, int] = {}
            for c, v in counts.items():
                if c.model == m and c.attack == a:
                    by_eps[c.eps] = by_eps.get(c.eps, 0) + v
            eps = (0.0, *sorted(by_eps))
            acc = (clean, *(by_eps[e] / n for e in sorted(by_eps)))
            out.append(Curve(m, a, eps, acc, 1 if a == "fgsm" else steps, n, "live"))
    return out


def live_curves(
    models: Mapping[str, nn.Module],
    x: Tensor,
    y: Tensor,
    *,
    epsilons: Sequence[float],
    steps: int = 20,
    chunk: int | None = None,
    attacks: Sequence[str] = CURVE_ATTACKS,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> list[Curve]:
    """Recompute the accuracy-vs-ε curves of `models` on (x, y), for a notebook or a test.

    x: (N, 1, 28, 28) in [0, 1]; y: (N,). progress(fraction, what) is called after each cell.
    should_stop: asked between cells and before each forward pass (see advcore.cancel).
    """
    n = len(x)
    cells = curve_cells(list(models), epsilons, n=n, chunk=chunk or n, attacks=attacks)
    total = sum(cell_cost(c, steps=steps) for c in cells)
    done, counts = 0.0, {}
    for c in cells:
        check(should_stop)
        counts[c] = sweep.correct(models[c.model], x[c.start:c.stop], y[c.start:c.stop],
                                  attack=c.attack, eps=c.eps, steps=steps,
                                  should_stop=should_stop)
        done += cell_cost(c, steps=steps)
        if progress is not None:
            progress(done / total, describe_cell(c, steps))
    return curves_from_cells(counts, steps=steps, n=n, attacks=attacks)


def describe_cell(cell: Cell, steps: int) -> str:
    """A cell in words, for a progress bar: "PGD-20 on mnist-cnn at ε = 0.15 (38.25/255)"."""
    if cell.attack == CLEAN:
        return f"clean accuracy of {cell.model}"
    label = "FGSM" if cell.attack == "fgsm" else f"PGD-{steps}"
    return f"{label} on {cell.model} at ε = {cell.eps:g} ({eps_255(cell.eps)})"


def curve_difference(live: Sequence[Curve], card: Sequence[Curve]) -> float:
    """The largest |live − card| accuracy over the points both have (0 if none are shared)."""
    worst = 0.0
    by_key = {(c.model, c.attack): c for c in card}
    for c in live:
        ref = by_key.get((c.model, c.attack))
        if ref is None:
            continue
        for e, a in zip(c.epsilons, c.accuracy, strict=True):
            b = ref.at(e)
            if b is not None:
                worst = max(worst, abs(a - b))
    return worst


def takeaways(curves: Sequence[Curve]) -> list[str]:
    """What the curves show, in sentences with their own numbers (markdown, for the page).

    Only sentences whose curves are present are returned: the page never states a number it
    did not draw.
    """
    by = {(c.model, c.attack): c for c in curves}
    out = []
    lin = by.get(("mnist-linear", "fgsm"))
    if lin is not None:
        fallen = [(e, a) for e, a in zip(lin.epsilons, lin.accuracy, strict=True) if a < 0.1]
        if fallen:
            e, a = fallen[0]
            out.append(
                f"**The linear model falls first:** one FGSM step of ε = {e:g} ({eps_255(e)}) "
                f"leaves it {a:.0%}. A change of ε in every pixel moves each logit by up to "
                "ε·‖w‖₁, which grows with the 784 inputs (Goodfellow et al.'s linearity argument).")
    f, p = by.get(("mnist-cnn", "fgsm")), by.get(("mnist-cnn", "pgd"))
    if f is not None and p is not None:
        gaps = [(fa - pa, e, fa, pa) for e, fa in zip(f.epsilons, f.accuracy, strict=True)
                if (pa := p.at(e)) is not None]
        if gaps:
            _, e, fa, pa = max(gaps)
            out.append(
                f"**PGD is the stronger attack:** at ε = {e:g} ({eps_255(e)}) mnist-cnn keeps "
                f"{fa:.0%} against one FGSM step and {pa:.0%} against PGD-{p.steps}, which walks "
                "along the loss instead of trusting its first gradient.")
    r = by.get(("mnist-cnn-robust", "pgd"))
    if r is not None and p is not None:
        e = max(set(r.epsilons) & set(p.epsilons), default=None)
        if e is not None:
            out.append(
                f"**Adversarial training flattens the curve:** at ε = {e:g} ({eps_255(e)}) under "
                f"PGD, mnist-cnn-robust keeps {r.at(e):.0%} where the same network trained "
                f"normally keeps {p.at(e):.0%}.")
    return out


# --- the worst case beside PGD -----------------------------------------------------------------

WORST_LABEL = "worst case (our AutoAttack-grade ensemble)"


def worst_case_cells(models: Sequence[str], eps: float, *, n: int,
                     chunk: int = sweep.CHUNK) -> list[Cell]:
    """The cells of a worst-case run on the first n digits: cheapest model first (the linear
    model is ~100× cheaper; the robust one keeps most digits alive through every attack)."""
    order = {m: i for i, m in enumerate(MODEL_ORDER)}
    return sweep.cells(sorted(models, key=lambda m: order.get(m, len(order))), WORST, [eps],
                       n=n, chunk=chunk)


# Relative CPU per digit of a worst-case cell, for one progress bar over all cells (measured on
# 2 shared cores at ε = 0.3: mnist-cnn-robust ~1.1 CPU-s per digit, mnist-cnn ~0.3, mnist-linear
# ~0.05: the robust model keeps nearly every digit alive through all three attacks).
WORST_COST = {"mnist-linear": 0.05, "mnist-cnn": 0.3, "mnist-cnn-robust": 1.1}


def worst_case_cost(cell: Cell) -> float:
    """Relative work of a worst-case cell (WORST_COST per digit; an unknown model counts 1)."""
    return WORST_COST.get(cell.model, 1.0) * (cell.stop - cell.start)


def pgd_cost(models: Sequence[str], *, n: int, steps: int) -> float:
    """Relative work of PGD-`steps` on the same n digits of each model, on the scale of
    `worst_case_cost` (a fiftieth of the ensemble's at 20 steps)."""
    return 0.02 * sum(WORST_COST.get(m, 1.0) for m in models) * n * steps / 20


def shown_worst_case(eps: float, live: WorstCase | None, main: WorstCase | None,
                     curve: Sequence[WorstCase]) -> WorstCase | None:
    """The worst case to state for one model at `eps`: a live run on the chosen digits, else
    the card's main figure when it is at that ε, else the card curve's point there (or None)."""
    if live is not None:
        return live
    if main is not None and abs(main.eps - eps) < CARD_EPS_TOL:
        return main
    return next((w for w in curve if abs(w.eps - eps) < CARD_EPS_TOL), None)


def card_worst_case_line(mains: Mapping[str, WorstCase],
                         curves: Mapping[str, Sequence[WorstCase]]) -> list[WorstCase]:
    """The cards' worst-case points to draw. A card's curve uses few digits; at the card's own
    ε its main figure (more digits) is the better measurement, and the one the page quotes,
    so it takes that point's place."""
    return [mains[m] if m in mains and abs(w.eps - mains[m].eps) < CARD_EPS_TOL else w
            for m, pts in curves.items() for w in pts]


def percent(value: float, n: int) -> str:
    """A share of n digits with no more decimals than n supports: one decimal from 200 digits
    up (a step of one digit is at most half a point), none below (at 50 digits it is 2)."""
    return f"{100 * value:.1f}%" if n >= 200 else f"{100 * value:.0f}%"


def interval(ci: tuple[float, float], n: int) -> str:
    lo, hi = ci
    return f"95% CI {percent(lo, n)}–{percent(hi, n)}"


def card_worst_case(name: str, card: Mapping[str, Any]) -> tuple[WorstCase | None,
                                                                  list[WorstCase]]:
    """The card's worst case at its ε (beside PGD-100 on the same digits) and its worst-case
    curve (beside PGD-20 on the curve's digits), or (None, []) for a card written before the
    worst-case figure existed. Raises AssetError for a corrupt block."""
    block = worst_case_of(dict(card))
    if block is None:
        return None, []
    per = tuple((k, round(float(v) * block["digits"]))
                for k, v in block.get("per_attack", {}).items())
    main = WorstCase(name, float(block["eps"]), block["digits"], block["clean"], block["robust"],
                     block["pgd_robust"], block["pgd_steps"], per,
                     tuple(block.get("warnings", ())), "card")
    curve = []
    c = block.get("curve")
    if c is not None:
        clean = c["robust"][0] if c["epsilons"][0] == 0 else main.clean
        for e, k, p in zip(c["epsilons"], c["robust"], c["pgd_robust"], strict=True):
            curve.append(WorstCase(name, float(e), c["digits"], clean, k, p, c["pgd_steps"],
                                   source="card"))
    return main, curve


def no_worst_case_message(name: str) -> str:
    """What the page says for a card that predates the worst-case figure."""
    return (f"The card of {name} was written before the worst-case figure existed, so only "
            f"PGD's number is shown for it; `{REMEASURE}` adds it without retraining.")


def worst_case_summary(w: WorstCase) -> str:
    """"PGD-20 says 88%, the worst case says 84%", with the digits and both intervals."""
    return (f"PGD-{w.pgd_steps} says **{percent(w.pgd_accuracy, w.n)}**, the worst case says "
            f"**{percent(w.accuracy, w.n)}** ({interval(w.ci, w.n)}; PGD "
            f"{interval(w.pgd_ci, w.n)}; the first {w.n:,} test digits)")


# --- our models vs the papers -----------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """One row of "our model vs the paper" (accuracies as fractions; ours None if unknown)."""

    reference: Reference
    ours_model: str
    ours_accuracy: float | None
    ours_setting: str

    @property
    def difference(self) -> float | None:
        return None if self.ours_accuracy is None else self.ours_accuracy - self.reference.accuracy


def paper_comparison(
    curves: Sequence[Curve], cards: Mapping[str, Mapping[str, Any]],
    references: Sequence[Reference] = REFERENCES,
) -> list[Comparison]:
    """Pair each published number with our model's accuracy in the same setting.

    Our number comes from `curves` at the same attack and ε. For Madry et al.'s PGD point the
    card's 100-step PGD accuracy is used when the card has it (closer to their strong attack).
    """
    by_key = {(c.model, c.attack): c for c in curves}
    rows = []
    for ref in references:
        curve = by_key.get((ref.ours, ref.attack))
        value = curve.at(ref.eps) if curve else None
        setting = ""
        if curve is not None:
            label = "FGSM" if ref.attack == "fgsm" else f"PGD-{curve.steps}"
            where = "card" if curve.source == "card" else f"live, {curve.n:,} digits"
            setting = f"{label} ({where})"
        card = cards.get(ref.ours, {})
        if ref.source == _MADRY and "pgd100_accuracy_eps_0.3" in card:
            value = float(card["pgd100_accuracy_eps_0.3"])
            setting = "PGD-100 (card)"
        if ref.attack == WORST:
            value, setting = None, "the card has no worst-case figure yet"
            block = card.get("worst_case")
            if isinstance(block, dict) and abs(float(block.get("eps", -1)) - ref.eps) < 1e-9:
                value = float(block["accuracy"])
                setting = (f"worst case, our ensemble (card, {block['digits']:,} digits, "
                           f"95% CI {block['ci95'][0]:.1%}–{block['ci95'][1]:.1%})")
        rows.append(Comparison(ref, ref.ours, value, setting))
    return rows


# --- standard vs adversarially trained, at one ε ---------------------------------------------

COMPARED = ("clean", "fgsm", "pgd")  # the bars of the comparison, in order


def mnist_comparison(
    names: Sequence[str], cards: Mapping[str, Sequence[Curve]], *, eps: float, steps: int,
    n: int, chunk: int, count: Callable[[list[Cell]], Mapping[Cell, int]],
) -> tuple[dict[str, dict[str, float]], bool]:
    """Clean, FGSM and PGD-`steps` accuracy of each model at `eps` on the first n test digits.

    cards: per model its card curves (`card_curves`; empty where the card cannot be read). A
    value is read from a card only where the card holds exactly that number: the same ε, the
    same digits (n equals the card's) and, for PGD, the same steps. The rest are counted in
    cells of `chunk` digits by `count(cells) -> {cell: correct}` (the page's cached, pooled
    runner; a test passes advcore.sweep.correct). Returns ({model: {"clean"|"fgsm"|"pgd":
    accuracy}}, whether any value was computed live).
    """
    values: dict[str, dict[str, float]] = {m: {} for m in names}
    missing = []
    for m in names:
        by_attack = {c.attack: c for c in cards.get(m, ())}
        for what in COMPARED:
            curve = by_attack.get("fgsm" if what == "clean" else what)
            hit = None
            if curve is not None and n == curve.n and (what != "pgd" or curve.steps == steps):
                hit = curve.at(0.0 if what == "clean" else eps)
            if hit is None:
                missing.append((m, what))
            else:
                values[m][what] = hit
    if missing:
        def cells_of(m: str, what: str) -> list[Cell]:
            attack, at = (CLEAN, 0.0) if what == "clean" else (what, eps)
            return sweep.cells([m], attack, [at], n=n, chunk=chunk)

        counts = count([c for m, what in missing for c in cells_of(m, what)])
        for m, what in missing:
            values[m][what] = sum(counts[c] for c in cells_of(m, what)) / n
    return values, bool(missing)


# --- transferability --------------------------------------------------------------------------


@dataclass(frozen=True)
class TransferMatrix:
    """Accuracy of each target model on adversarial digits crafted against each source model.

    accuracy: (S, T) fractions, rows = crafted on, columns = evaluated on; the diagonal is the
    white-box attack. clean: (T,) clean accuracy of each target on the same digits.
    """

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    accuracy: np.ndarray
    clean: np.ndarray
    attack: str
    eps: float
    steps: int
    n: int


def transfer_row(
    source: nn.Module, targets: Sequence[nn.Module], x: Tensor, y: Tensor, *, attack: str,
    eps: float, steps: int, seed: int = SEED, should_stop: ShouldStop | None = None,
) -> np.ndarray:
    """(T,) accuracy of each target on digits crafted against `source` (white-box on source).

    should_stop: asked before each forward pass; True raises advcore.cancel.Cancelled.
    """
    x_adv = get_attack(attack)(interruptible(source, should_stop), x, y, eps=eps, steps=steps,
                               seed=seed)
    return np.array([accuracy(interruptible(t, should_stop), x_adv, y) for t in targets],
                    dtype=np.float64)


def transfer_matrix(
    models: Mapping[str, nn.Module], x: Tensor, y: Tensor, *, attack: str, eps: float,
    steps: int = 20, progress: Progress | None = None, should_stop: ShouldStop | None = None,
) -> TransferMatrix:
    """Craft on every model, evaluate on every model (Papernot et al. 2016's transfer setting,
    Szegedy et al. 2014's observation). x: (N, 1, 28, 28) in [0, 1]."""
    names = tuple(models)
    rows = []
    for i, name in enumerate(names):
        rows.append(transfer_row(models[name], list(models.values()), x, y, attack=attack,
                                 eps=eps, steps=steps, should_stop=should_stop))
        if progress is not None:
            progress((i + 1) / len(names), f"crafted on {name}")
    clean = np.array([accuracy(m, x, y) for m in models.values()])
    return TransferMatrix(names, names, np.stack(rows), clean, attack, eps, steps, len(x))


# --- adversarial training on 2-D data ---------------------------------------------------------


@dataclass(frozen=True)
class ToyOutcome:
    """One trained 2-D model: its probability map, the test points under the attack, and its
    test accuracies.

    grid: P(class 1) over a window around the training and test points (advcore.playground.boundary.Grid).
    attacked: every test point attacked with the lab's attack and ε, frame by frame
        (advcore.playground.boundary.Attacked: what the boundary page animates).
    accuracy: {"clean", "fgsm", "pgd"} -> fraction of the test points, at the lab's ε.
    """

    label: str
    grid: Grid
    attacked: Attacked
    accuracy: dict[str, float]


@dataclass(frozen=True)
class AdversarialTraining:
    """The same network trained on clean points (before) and with adversarial augmentation
    (after). X, y: training points (N, 2), (N,); X_test, y_test: fresh points of the same
    distribution (other seed) that the accuracies are measured on. ε in feature units."""

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    attack: str
    eps: float
    steps: int
    before: ToyOutcome
    after: ToyOutcome


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with one intra-op thread, then restore the previous count.

    A 2-D network multiplies 200×32 matrices: on a 2-core CPU shared with anything else, MKL and
    OpenMP threads cost far more than they save (measured: 2-D PGD training 1.8 s on one thread,
    21 s on two with one busy neighbour process). torch.set_num_threads changes the calling
    thread's OpenMP/MKL setting and the default of threads not yet started, so the change is
    undone on exit; results do not depend on the thread count beyond the last float bit.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _outcome(
    label: str, model: nn.Module, X: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, *,
    attack: str, eps: float, steps: int, seed: int,
) -> ToyOutcome:
    xt, yt = torch.from_numpy(X_test), torch.from_numpy(y_test)
    acc = {"clean": accuracy(model, xt, yt)}
    for a in CURVE_ATTACKS:
        x_adv = get_attack(a)(model, xt, yt, eps=eps, steps=steps, bounds=None, seed=seed)
        acc[a] = accuracy(model, x_adv, yt)
    attacked = attack_points(model, X_test, y_test, attack=attack, eps=eps, steps=steps,
                             seed=seed)
    grid = decision_grid(model, np.concatenate([X, X_test]))
    return ToyOutcome(label, grid, attacked, acc)


def adversarial_training_2d(
    dataset: str,
    *,
    attack: str,
    eps: float,
    n: int = 200,
    noise: float = 0.2,
    seed: int = 0,
    steps: int = 5,
    width: int = 32,
    depth: int = 2,
    epochs: int = 300,
    n_test: int = 500,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> AdversarialTraining:
    """Train one MLP on clean 2-D points and one with adversarial augmentation; compare them.

    Both start from the same initial weights (seed) and see the same points; the second also
    trains on each point's `attack` version at `eps` (feature units, bounds=None), recomputed
    every epoch against the model as it is then: Goodfellow et al. 2015's augmentation with FGSM,
    Madry et al. 2018's with PGD. Accuracies are measured on `n_test` fresh points (seed + 1)
    under FGSM and PGD at the same ε. should_stop: asked with each progress report (every 20
    epochs) and between the stages; True raises advcore.cancel.Cancelled.
    """
    if attack not in CURVE_ATTACKS:
        raise ValueError(f"attack must be one of {CURVE_ATTACKS}, got {attack!r}")
    if not (isinstance(eps, int | float) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    X, y = toy_dataset(dataset, n=n, noise=noise, seed=seed)
    X_test, y_test = toy_dataset(dataset, n=n_test, noise=noise, seed=seed + 1)

    def stage(lo: float, hi: float, what: str) -> Callable[[float], None] | None:
        if progress is None and should_stop is None:
            return None

        def report(f: float) -> None:
            check(should_stop)
            if progress is not None:
                progress(lo + (hi - lo) * f, what)

        return report

    common = {"attack": attack, "eps": eps, "steps": steps, "seed": seed}
    with one_thread():
        plain = train_toy(toy_model("mlp", width=width, depth=depth, seed=seed), X, y,
                          epochs=epochs, seed=seed, progress=stage(0.0, 0.2, "standard training"))
        robust = train_toy(toy_model("mlp", width=width, depth=depth, seed=seed), X, y,
                           epochs=epochs, seed=seed, adversarial=attack, eps=eps, steps=steps,
                           progress=stage(0.2, 0.9, f"training on {attack.upper()} examples"))
        check(should_stop)
        before = _outcome("standard training", plain, X, X_test, y_test, **common)
        check(should_stop)
        after = _outcome(f"adversarial training ({attack.upper()})", robust, X, X_test, y_test,
                         **common)
    if progress is not None:
        progress(1.0, "done")
    return AdversarialTraining(X, y, X_test, y_test, attack, eps, steps, before, after)


# --- MNIST: standard vs adversarially trained, on a few digits --------------------------------


@dataclass(frozen=True)
class Examples:
    """A few test digits attacked (white-box) on each model.

    clean: (K, 28, 28); labels (K,); adversarial: model -> (K, 28, 28); pred_clean,
    pred_adv: model -> (K,) int64.
    """

    indices: np.ndarray
    clean: np.ndarray
    labels: np.ndarray
    adversarial: dict[str, np.ndarray]
    pred_clean: dict[str, np.ndarray]
    pred_adv: dict[str, np.ndarray]


def one_per_class(y: np.ndarray, k: int = 10) -> np.ndarray:
    """Indices of the first test digit of each class 0..k-1 (the same digits every time)."""
    return np.array([int(np.flatnonzero(y == c)[0]) for c in range(k) if (y == c).any()])


def attack_examples(
    models: Mapping[str, nn.Module], x: Tensor, y: Tensor, indices: np.ndarray, *,
    attack: str, eps: float, steps: int, seed: int = SEED,
) -> Examples:
    """Attack x[indices] on each model with its own gradient (white-box) and record predictions."""
    xs, ys = x[indices], y[indices]
    adv, pc, pa = {}, {}, {}
    for name, m in models.items():
        x_adv = get_attack(attack)(m, xs, ys, eps=eps, steps=steps, seed=seed)
        adv[name] = x_adv[:, 0].numpy()
        pc[name] = predict(m, xs).numpy()
        pa[name] = predict(m, x_adv).numpy()
    return Examples(np.asarray(indices), xs[:, 0].numpy(), ys.numpy(), adv, pc, pa)
