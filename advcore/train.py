"""Training loops: 2-D models on the fly, the shipped MNIST models, and adversarial training.

`python -m advcore.train` rebuilds every model in assets/ deterministically, with a progress bar,
and writes a JSON card beside each weight file. `python -m advcore.train mnist-cnn` rebuilds one.
`python -m advcore.train --cards-only` re-measures the cards' figures of the shipped weights
without retraining (`--worst-case-only` just the worst case beside PGD).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advcore import attacks, sweep
from advcore.data import mnist, mnist_source
from advcore.evaluate import accuracy
from advcore.models import GLOBAL_RNG, PRETRAINED, build, card_path, save_pretrained

# ---------------------------------------------------------------------------------------------
# Adversarial examples as data augmentation (Goodfellow et al. 2015; Madry et al. 2018)


def adversarial_batch(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    attack: str,
    eps: float,
    steps: int,
    bounds: tuple[float, float] | None,
    seed: int,
) -> Tensor:
    """Adversarial versions of a training batch, crafted against the model as it is now.

    The model is switched to eval mode for crafting (so dropout/batch norm do not randomise the
    attack) and restored afterwards: training owns its model, unlike an attack.
    """
    was_training = model.training
    model.eval()
    try:
        return attacks.run_attack(attack, model, x, y, eps=eps, steps=steps, bounds=bounds,
                                  seed=seed)
    finally:
        model.train(was_training)


# ---------------------------------------------------------------------------------------------
# 2-D models: full-batch Adam, well under a second for a few hundred points


def train_toy(
    model: nn.Module,
    X: np.ndarray | Tensor,
    y: np.ndarray | Tensor,
    *,
    epochs: int = 300,
    lr: float = 0.03,
    weight_decay: float = 1e-4,
    seed: int = 0,
    adversarial: str | None = None,
    eps: float = 0.0,
    steps: int = 5,
    progress: Callable[[float], None] | None = None,
) -> nn.Module:
    """Fit a 2-D classifier in place with full-batch Adam and return it in eval mode.

    X: (N, 2) standardised features; y: (N,) labels in {0, 1}.
    adversarial: an attack name from the registry; if given, each step trains on the clean points
        and their adversarial versions at `eps` (feature units, bounds=None): adversarial
        examples used as data augmentation.
    progress: called with the fraction done, for a progress bar.
    """
    x = torch.as_tensor(X, dtype=torch.float32)
    t = torch.as_tensor(y, dtype=torch.int64)
    with GLOBAL_RNG:  # not in the middle of another session's seeded draws
        torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    for epoch in range(epochs):
        batch_x, batch_y = x, t
        # Fresh adversarial examples every epoch, against the model as it is now (Madry et al.).
        if adversarial and eps > 0:
            x_adv = adversarial_batch(model, x, t, attack=adversarial, eps=eps, steps=steps,
                                      bounds=None, seed=seed + epoch)
            batch_x, batch_y = torch.cat([x, x_adv]), torch.cat([t, t])
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(batch_x), batch_y).backward()
        opt.step()
        if progress is not None and epoch % 20 == 0:
            progress(epoch / epochs)
    model.eval()
    if progress is not None:
        progress(1.0)
    return model


# ---------------------------------------------------------------------------------------------
# The shipped MNIST models


@dataclass(frozen=True)
class Recipe:
    """How one shipped model is trained; recorded verbatim in its card."""

    epochs: int
    lr: float
    batch_size: int = 64
    weight_decay: float = 0.0
    shift: float = 0.0  # random translation, as a fraction of the image side
    rotate: float = 0.0  # random rotation, up to this many degrees either way
    adv_eps: float = 0.0  # PGD training radius (L∞, [0, 1] pixels)
    adv_steps: int = 0
    adv_ramp_epochs: int = 0  # ε grows linearly from 0 over these epochs
    seed: int = 0


RECIPES: dict[str, Recipe] = {
    "mnist-linear": Recipe(epochs=40, lr=1e-3, batch_size=64),
    "mnist-cnn": Recipe(epochs=40, lr=1e-3, weight_decay=1e-4, shift=2 / 28, rotate=10),
    # Same network as mnist-cnn, trained on PGD examples only (Madry et al.): ε ramps up first,
    # because PGD at ε = 0.3 against an untrained network gives it nothing to learn from.
    "mnist-cnn-robust": Recipe(
        epochs=70, lr=1e-3, adv_eps=0.3, adv_steps=7, adv_ramp_epochs=10
    ),
}


def _augmented(x: Tensor, shift: float, rotate: float, gen: torch.Generator) -> Tensor:
    """Shift each digit by up to `shift` of the side and rotate it by up to `rotate` degrees.

    4,000 digits are few; small, label-preserving moves are what MNIST's writers did anyway.
    """
    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * rotate * torch.pi / 180
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = torch.cos(angle)
    theta[:, 0, 1] = -torch.sin(angle)
    theta[:, 1, 0] = torch.sin(angle)
    theta[:, :, 2] = (torch.rand(n, 2, generator=gen) * 2 - 1) * shift * 2
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


class Progress:
    """A one-line text progress bar on stderr (no dependency)."""

    def __init__(self, total: int, label: str, stream: TextIO = sys.stderr) -> None:
        self.total, self.label, self.stream = total, label, stream
        self.start = time.perf_counter()
        self.shown = float("-inf")  # when a caller that throttles its updates last drew

    def update(self, done: int, note: str = "") -> None:
        width = 30
        filled = int(width * done / self.total)
        elapsed = time.perf_counter() - self.start
        self.stream.write(
            f"\r{self.label:<17} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
            f"{elapsed:6.1f}s {note}"
        )
        if done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def train_mnist(name: str, recipe: Recipe | None = None, show: bool = True) -> tuple[nn.Module, float]:
    """Train the shipped model `name` from its recipe; return it (eval mode) and seconds taken."""
    recipe = recipe or RECIPES[name]
    torch.manual_seed(recipe.seed)
    gen = torch.Generator().manual_seed(recipe.seed)
    x_train, y_train = mnist("train")
    model = build(name)
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=recipe.epochs)
    bar = Progress(recipe.epochs, name) if show else None
    start = time.perf_counter()
    n = len(x_train)
    for epoch in range(recipe.epochs):
        model.train()
        order = torch.randperm(n, generator=gen)
        total_loss = 0.0
        if recipe.adv_ramp_epochs:
            eps = recipe.adv_eps * min(1.0, (epoch + 1) / recipe.adv_ramp_epochs)
        else:
            eps = recipe.adv_eps
        for i in range(0, n, recipe.batch_size):
            idx = order[i : i + recipe.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            if recipe.shift or recipe.rotate:
                xb = _augmented(xb, recipe.shift, recipe.rotate, gen)
            if eps > 0:
                xb = adversarial_batch(model, xb, yb, attack="pgd", eps=eps, steps=recipe.adv_steps,
                                       bounds=(0.0, 1.0), seed=int(torch.randint(0, 2**31, (1,), generator=gen)))
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            total_loss += loss.item() * len(idx)
        sched.step()
        if bar:
            bar.update(epoch + 1, f"loss {total_loss / n:.3f} eps {eps:.2f}")
    model.eval()
    return model, time.perf_counter() - start


CURVE_EPSILONS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)


def evaluate_card(model: nn.Module, *, pgd_steps: int = 100) -> dict[str, Any]:
    """Clean accuracy, robustness curves and strong-PGD accuracy on the test split: each an
    advcore.sweep.accuracy_curve on all test digits in one call."""
    x, y = mnist("test")

    def curve(attack: str, epsilons: Sequence[float], steps: int) -> list[float]:
        return [round(a, 4) for a in sweep.accuracy_curve(model, x, y, attack=attack,
                                                           epsilons=epsilons, steps=steps)]

    curves = {attack: curve(attack, CURVE_EPSILONS, steps)
              for attack, steps in (("fgsm", 1), ("pgd", 20))}
    return {
        "clean_accuracy": round(accuracy(model, x, y), 4),
        "fgsm_accuracy_eps_0.25": curve("fgsm", [0.25], 10)[0],
        "pgd100_accuracy_eps_0.3": curve("pgd", [0.3], pgd_steps)[0],
        "curves": {"epsilons": list(CURVE_EPSILONS), "pgd_steps": 20, **curves},
    }


WORST_CASE_EPS = 0.3  # the card's ε: Madry et al.'s MNIST setting, as the PGD-100 figure
WORST_CASE_DIGITS = 1000  # the whole test split
CURVE_DIGITS = 100  # the worst-case curve over CURVE_EPSILONS, on the first digits only


def evaluate_worst_case(
    model: nn.Module,
    *,
    digits: int = WORST_CASE_DIGITS,
    curve_digits: int = CURVE_DIGITS,
    pgd_steps: int = 100,
    command: str = "python -m advcore.train",
    label: str = "worst case",
    show: bool = False,
) -> dict[str, Any]:
    """The card's worst-case figures: robust accuracy under advcore.evaluate.robust_accuracy's
    ensemble (APGD-CE, APGD-T, Square) at WORST_CASE_EPS on the first `digits` test digits,
    beside PGD-`pgd_steps` on the same digits, and a curve over CURVE_EPSILONS on the first
    `curve_digits` digits beside PGD-20 on those.

    The ensemble runs in advcore.sweep's cells (sweep.CHUNK digits per call), exactly as the
    robustness page runs it live, so a live run on the same digits reproduces these counts.
    Costs about 1 CPU-s per digit on mnist-cnn-robust (every attack runs on almost every
    digit); far less where the first attack already fools everything.
    """
    from advcore.evaluate import ENSEMBLE_QUERIES, ENSEMBLE_STEPS, ENSEMBLES, clopper_pearson

    x, y = mnist("test")
    n = min(int(digits), len(y))
    m = min(int(curve_digits), n)
    start = time.process_time()

    def cells(eps: float, upto: int) -> list[sweep.Cell]:
        return sweep.cells(["model"], sweep.WORST, [eps], n=upto, chunk=sweep.CHUNK)

    main_cells = cells(WORST_CASE_EPS, n)
    curve_eps = [e for e in CURVE_EPSILONS if e > 0]
    curve_cells = [c for e in curve_eps for c in cells(e, m)]
    shared = {(c.eps, c.start, c.stop) for c in main_cells}
    todo = main_cells + [c for c in curve_cells if (c.eps, c.start, c.stop) not in shared]
    bar = Progress(1000, label) if show else None
    counts: dict[tuple[float, int, int], sweep.WorstCount] = {}
    for i, c in enumerate(todo):
        def tick(f: float, what: str, i: int = i, eps: float = c.eps) -> None:
            if bar is not None and (f >= 1.0 or time.perf_counter() - bar.shown > 1.0):
                bar.shown = time.perf_counter()
                bar.update(min(999, int(1000 * (i + f) / len(todo))),
                           f"cell {i + 1}/{len(todo)}, ε={eps:g}, {what}        ")

        counts[(c.eps, c.start, c.stop)] = sweep.worst_case_count(
            model, x[c.start:c.stop], y[c.start:c.stop], eps=c.eps, progress=tick)
    if bar is not None:
        bar.update(1000, "done")

    def combined(eps: float, upto: int, pgd: int, steps: int) -> sweep.WorstCase:
        parts = [counts[(c.eps, c.start, c.stop)] for c in cells(eps, upto)]
        return sweep.combine_worst_case("model", eps, parts, pgd=pgd, pgd_steps=steps)

    pgd = sweep.correct(model, x[:n], y[:n], attack="pgd", eps=WORST_CASE_EPS, steps=pgd_steps)
    main = combined(WORST_CASE_EPS, n, pgd, pgd_steps)
    clean_m = sweep.correct(model, x[:m], y[:m], attack=sweep.CLEAN, eps=0.0, steps=1)
    robust_curve, pgd_curve = [clean_m], [clean_m]
    for e in curve_eps:
        p20 = sweep.correct(model, x[:m], y[:m], attack="pgd", eps=e, steps=20)
        robust_curve.append(combined(e, m, p20, 20).robust)
        pgd_curve.append(p20)
    lo, hi = clopper_pearson(main.robust, n)
    return {
        "worst_case_accuracy_eps_0.3": round(main.accuracy, 4),
        "worst_case": {
            "what": "robust accuracy under advcore.evaluate.robust_accuracy's default ensemble "
                    "(our AutoAttack-grade evaluation; each attack runs on the digits the ones "
                    "before it left), on the first `digits` test digits, beside PGD on the "
                    "same digits",
            "norm": "linf", "eps": WORST_CASE_EPS, "digits": n,
            "attacks": list(ENSEMBLES["linf"]), "steps": ENSEMBLE_STEPS,
            "queries": ENSEMBLE_QUERIES, "seed": sweep.SEED, "chunk": sweep.CHUNK,
            "clean": main.clean, "robust": main.robust, "accuracy": round(main.accuracy, 4),
            "ci95": [round(lo, 4), round(hi, 4)],
            "per_attack": {k: round(v / n, 4) for k, v in main.per_attack},
            "pgd_steps": pgd_steps, "pgd_robust": main.pgd,
            "pgd_accuracy": round(main.pgd_accuracy, 4),
            "warnings": list(main.warnings),
            "curve": {"digits": m, "pgd_steps": 20, "epsilons": list(CURVE_EPSILONS),
                      "robust": robust_curve, "pgd_robust": pgd_curve},
            "cpu_seconds": round(time.process_time() - start, 1),
            "command": command,
        },
    }


def rebuild(name: str, show: bool = True) -> dict[str, Any]:
    """Train, evaluate and save one shipped model; return its card."""
    recipe = RECIPES[name]
    model, seconds = train_mnist(name, recipe, show=show)
    card: dict[str, Any] = {
        "name": name,
        "description": PRETRAINED[name],
        "architecture": repr(build(name)),
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": mnist_source(),
        "recipe": recipe.__dict__,
        "seed": recipe.seed,
        "command": f"python -m advcore.train {name}",
        "training_seconds": round(seconds, 1),
        "trained_on": f"{platform.machine()} CPU, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}",
    }
    card.update(evaluate_card(model))
    card.update(evaluate_worst_case(model, command=f"python -m advcore.train {name}",
                                    label=f"{name} worst case", show=show))
    save_pretrained(model, name, card)
    return card


def reevaluate(name: str, *, pgd: bool = True, worst_case: bool = True,
               digits: int = WORST_CASE_DIGITS, curve_digits: int = CURVE_DIGITS,
               command: str = "python -m advcore.train --cards-only",
               show: bool = True) -> dict[str, Any]:
    """Refresh the measured figures of a shipped model's card; weights and recipe unchanged.

    pgd: the clean, FGSM and PGD figures and curves; worst_case: the worst-case block (see
    evaluate_worst_case), on the first `digits` test digits and a curve on `curve_digits`.
    """
    from advcore.models import load_card, load_pretrained

    card, model = load_card(name), load_pretrained(name)
    if pgd:
        card.update(evaluate_card(model))
    if worst_case:
        card.update(evaluate_worst_case(model, digits=digits, curve_digits=curve_digits,
                                        command=command, label=f"{name} worst case",
                                        show=show))
    # The weights are unchanged: only the card is rewritten, so a re-measured model's bytes
    # stay those that were trained.
    card_path(name).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m advcore.train", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"models to rebuild, of {', '.join(PRETRAINED)} (default: all)")
    parser.add_argument("--cards-only", "--evaluate-only", dest="cards_only",
                        action="store_true",
                        help="re-measure the shipped weights and rewrite their cards' figures "
                        "(after a change to the attacks), without retraining")
    parser.add_argument("--worst-case-only", action="store_true",
                        help="with --cards-only: measure only the worst-case figures and keep "
                        "the card's other figures as they are")
    parser.add_argument("--worst-case-digits", type=int, default=WORST_CASE_DIGITS, metavar="N",
                        help="test digits for the worst case at ε = 0.3 (default: all "
                        f"{WORST_CASE_DIGITS:,}; ~1 CPU-s per digit on mnist-cnn-robust)")
    parser.add_argument("--curve-digits", type=int, default=CURVE_DIGITS, metavar="M",
                        help=f"test digits for the worst-case curve (default {CURVE_DIGITS})")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in PRETRAINED]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(PRETRAINED)}")
    if args.worst_case_only and not args.cards_only:
        parser.error("--worst-case-only re-measures a card: give it with --cards-only")
    if args.worst_case_digits < 1 or args.curve_digits < 1:
        parser.error("--worst-case-digits and --curve-digits must be at least 1")
    for name in args.names or list(PRETRAINED):
        if args.cards_only:
            command = " ".join(["python -m advcore.train --cards-only",
                                *(["--worst-case-only"] if args.worst_case_only else []),
                                f"--worst-case-digits {args.worst_case_digits}",
                                f"--curve-digits {args.curve_digits}", name])
            card = reevaluate(name, pgd=not args.worst_case_only,
                              digits=args.worst_case_digits, curve_digits=args.curve_digits,
                              command=command)
        else:
            card = rebuild(name)
        wc = card["worst_case"]
        print(
            f"{name}: clean {card['clean_accuracy']:.1%}, FGSM@0.25 "
            f"{card['fgsm_accuracy_eps_0.25']:.1%}, PGD-100@0.3 "
            f"{card['pgd100_accuracy_eps_0.3']:.1%}, worst case@0.3 {wc['accuracy']:.1%} "
            f"(95% CI {wc['ci95'][0]:.1%}-{wc['ci95'][1]:.1%}, {wc['digits']} digits, "
            f"{wc['cpu_seconds']:.0f} CPU-s; PGD-{wc['pgd_steps']} on them "
            f"{wc['pgd_accuracy']:.1%}), trained in {card['training_seconds']:.0f}s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
