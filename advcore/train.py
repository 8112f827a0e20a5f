"""Training loops: 2-D models on the fly, the shipped MNIST models, and adversarial training.

`python -m advcore.train` rebuilds every model in assets/ deterministically, with a progress bar,
and writes a JSON card beside each weight file. `python -m advcore.train mnist-cnn` rebuilds one.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advcore import attacks
from advcore.data import mnist, mnist_source
from advcore.evaluate import accuracy, robust_accuracy
from advcore.models import GLOBAL_RNG, PRETRAINED, build, save_pretrained

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
    """Clean accuracy, robustness curves and strong-PGD accuracy on the test split."""
    x, y = mnist("test")
    curves: dict[str, list[float]] = {}
    for attack, steps in (("fgsm", 1), ("pgd", 20)):
        curves[attack] = [
            round(robust_accuracy(model, x, y, attack=attack, eps=e, steps=steps, seed=0), 4)
            for e in CURVE_EPSILONS
        ]
    return {
        "clean_accuracy": round(accuracy(model, x, y), 4),
        "fgsm_accuracy_eps_0.25": round(
            robust_accuracy(model, x, y, attack="fgsm", eps=0.25), 4
        ),
        "pgd100_accuracy_eps_0.3": round(
            robust_accuracy(model, x, y, attack="pgd", eps=0.3, steps=pgd_steps, seed=0), 4
        ),
        "curves": {"epsilons": list(CURVE_EPSILONS), "pgd_steps": 20, **curves},
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
    save_pretrained(model, name, card)
    return card


def reevaluate(name: str) -> dict[str, Any]:
    """Refresh the measured figures of a shipped model's card; weights and recipe unchanged."""
    from advcore.models import load_card, load_pretrained

    card, model = load_card(name), load_pretrained(name)
    card.update(evaluate_card(model))
    save_pretrained(model, name, card)
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m advcore.train", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"models to rebuild, of {', '.join(PRETRAINED)} (default: all)")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="re-measure the shipped weights and refresh their cards' accuracies "
                        "(after a change to the attacks), without retraining")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in PRETRAINED]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(PRETRAINED)}")
    for name in args.names or list(PRETRAINED):
        card = reevaluate(name) if args.evaluate_only else rebuild(name)
        print(
            f"{name}: clean {card['clean_accuracy']:.1%}, FGSM@0.25 "
            f"{card['fgsm_accuracy_eps_0.25']:.1%}, PGD-100@0.3 "
            f"{card['pgd100_accuracy_eps_0.3']:.1%}, {card['training_seconds']:.0f}s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
