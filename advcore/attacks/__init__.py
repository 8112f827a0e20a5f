"""Adversarial attacks as pure functions, a registry keyed by short names, and the helpers that
the pages draw from: an ε sweep and the trajectory of an iterative attack.

Every attack takes `(model, x, y, *, eps, ...)`, returns a new tensor, and leaves the model (mode,
parameters, `.grad`) and `x` untouched. Gradients are taken with `torch.autograd.grad` on the loss
with respect to the input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from advcore.attacks._geometry import (
    Bounds,
    as_eps,
    check_eps,
    check_inputs,
    check_steps,
)
from advcore.attacks.cw import cw_l2
from advcore.attacks.deepfool import deepfool, deepfool_iterates
from advcore.attacks.fgsm import fgsm
from advcore.attacks.mifgsm import mifgsm, mifgsm_iterates
from advcore.attacks.pgd import bim, pgd, pgd_iterates

__all__ = [
    "ATTACKS",
    "AttackSpec",
    "Sweep",
    "bim",
    "cw_l2",
    "deepfool",
    "epsilon_sweep",
    "fgsm",
    "get_attack",
    "mifgsm",
    "pgd",
    "run_attack",
    "success",
    "trajectory",
]


@dataclass(frozen=True)
class AttackSpec:
    """What the pages, the URL and the tests need to know about an attack."""

    name: str
    label: str
    norm: str  # the norm its ε is measured in
    iterative: bool
    targeted: bool  # whether the method defines a targeted mode
    minimal: bool  # finds a minimal perturbation; ε only caps it
    paper: str
    _run: Callable[..., Tensor]
    _iterates: Callable[..., Iterator[Tensor]] | None = None

    def __call__(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        *,
        eps: float | Tensor,
        steps: int = 10,
        targeted: bool = False,
        bounds: Bounds = (0.0, 1.0),
        seed: int = 0,
    ) -> Tensor:
        """Run with the uniform arguments every page uses; `seed` fixes any random start."""
        if targeted and not self.targeted:
            raise ValueError(f"{self.label} has no targeted mode")
        return self._run(model, x, y, eps=eps, steps=steps, targeted=targeted, bounds=bounds,
                         seed=seed)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _fgsm(model, x, y, *, eps, steps, targeted, bounds, seed):  # noqa: ARG001
    return fgsm(model, x, y, eps=eps, bounds=bounds, targeted=targeted)


def _pgd(norm: str, random_start: bool) -> Callable[..., Tensor]:
    def run(model, x, y, *, eps, steps, targeted, bounds, seed):
        return pgd(model, x, y, eps=eps, steps=steps, norm=norm, random_start=random_start,
                   bounds=bounds, targeted=targeted, generator=_gen(seed))
    return run


def _pgd_iter(norm: str, random_start: bool) -> Callable[..., Iterator[Tensor]]:
    def it(model, x, y, *, eps, steps, targeted, bounds, seed):
        return pgd_iterates(model, x, y, eps=as_eps(eps, x), steps=steps, step_size=None,
                            norm=norm, random_start=random_start, bounds=bounds,
                            targeted=targeted, generator=_gen(seed))
    return it


def _mifgsm(model, x, y, *, eps, steps, targeted, bounds, seed):  # noqa: ARG001
    return mifgsm(model, x, y, eps=eps, steps=steps, bounds=bounds, targeted=targeted)


def _mifgsm_iter(model, x, y, *, eps, steps, targeted, bounds, seed):  # noqa: ARG001
    return mifgsm_iterates(model, x, y, eps=as_eps(eps, x), steps=steps, decay=1.0,
                           bounds=bounds, targeted=targeted)


def _deepfool(model, x, y, *, eps, steps, targeted, bounds, seed):  # noqa: ARG001
    return deepfool(model, x, y, eps=eps, steps=max(steps, 50), bounds=bounds)


def _deepfool_iter(model, x, y, *, eps, steps, targeted, bounds, seed):  # noqa: ARG001
    return deepfool_iterates(model, x, y, eps=as_eps(eps, x), steps=steps, overshoot=0.02,
                             norm="l2", bounds=bounds)


def _cw(model, x, y, *, eps, steps, targeted, bounds, seed):  # noqa: ARG001
    return cw_l2(model, x, y, eps=eps, steps=max(steps, 50), bounds=bounds, targeted=targeted)


ATTACKS: dict[str, AttackSpec] = {
    spec.name: spec
    for spec in (
        AttackSpec("fgsm", "FGSM", "linf", False, True, False,
                   "Goodfellow et al. 2015", _fgsm),
        AttackSpec("bim", "BIM / I-FGSM", "linf", True, True, False,
                   "Kurakin et al. 2017", _pgd("linf", False), _pgd_iter("linf", False)),
        AttackSpec("pgd", "PGD (L∞)", "linf", True, True, False,
                   "Madry et al. 2018", _pgd("linf", True), _pgd_iter("linf", True)),
        AttackSpec("pgd-l2", "PGD (L2)", "l2", True, True, False,
                   "Madry et al. 2018", _pgd("l2", True), _pgd_iter("l2", True)),
        AttackSpec("mifgsm", "MI-FGSM", "linf", True, True, False,
                   "Dong et al. 2018", _mifgsm, _mifgsm_iter),
        AttackSpec("deepfool", "DeepFool (L2)", "l2", True, False, True,
                   "Moosavi-Dezfooli et al. 2016", _deepfool, _deepfool_iter),
        AttackSpec("cw-l2", "C&W (L2)", "l2", True, True, True,
                   "Carlini & Wagner 2017", _cw),
    )
}


def get_attack(name: str) -> AttackSpec:
    """The registered attack called `name`, or a ValueError listing the known names."""
    try:
        return ATTACKS[name]
    except KeyError:
        raise ValueError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}") from None


def run_attack(name: str, model: nn.Module, x: Tensor, y: Tensor, **kwargs: Any) -> Tensor:
    """Run the registered attack `name` with the uniform arguments of `AttackSpec.__call__`."""
    return get_attack(name)(model, x, y, **kwargs)


def success(model: nn.Module, x_adv: Tensor, y: Tensor, *, targeted: bool = False) -> Tensor:
    """(N,) bool: the prediction is no longer y (untargeted) or is now the target y (targeted)."""
    with torch.no_grad():
        pred = model(x_adv).argmax(1)
    return pred == y if targeted else pred != y


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

    kwargs go to the attack (steps, targeted, bounds, seed). For an untargeted attack, success
    means "misclassified", so an input the model already gets wrong counts as a success at ε = 0.
    """
    spec = get_attack(attack)
    eps_list = [float(e) for e in epsilons]
    if not eps_list:
        raise ValueError("epsilons must not be empty")
    for e in eps_list:
        check_eps(e)
    targeted = bool(kwargs.get("targeted", False))
    advs, preds = [], []
    for e in eps_list:
        x_adv = spec(model, x, y, eps=e, **kwargs)
        with torch.no_grad():
            preds.append(model(x_adv).argmax(1))
        advs.append(x_adv)
    predictions = torch.stack(preds)
    flags = predictions == y if targeted else predictions != y
    return Sweep(torch.tensor(eps_list), torch.stack(advs), flags, predictions)


def trajectory(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    attack: str = "pgd",
    eps: float,
    steps: int = 10,
    targeted: bool = False,
    bounds: Bounds = (0.0, 1.0),
    seed: int = 0,
) -> Tensor:
    """Every iterate of an attack, shape (steps + 1, N, ...), frame 0 being the clean input.

    For an iterative attack these are its steps (an attack that stops early repeats its last
    point); for a one-step attack (FGSM) the frames sweep ε linearly from 0 to `eps`, which is
    the path the one step takes. The last frame equals the attack's own output.
    """
    spec = get_attack(attack)
    check_eps(eps)
    check_steps(steps)
    check_inputs(model, x, y, bounds)
    if targeted and not spec.targeted:
        raise ValueError(f"{spec.label} has no targeted mode")
    x = x.detach()
    if spec._iterates is None:
        frames = [
            spec(model, x, y, eps=eps * i / steps, steps=steps, targeted=targeted,
                 bounds=bounds, seed=seed)
            for i in range(steps + 1)
        ]
        return torch.stack(frames)
    if eps == 0:
        return x.unsqueeze(0).repeat(steps + 1, *([1] * x.dim()))
    with torch.no_grad():
        frames = list(spec._iterates(model, x, y, eps=eps, steps=steps, targeted=targeted,
                                     bounds=bounds, seed=seed))
    frames += [frames[-1]] * (steps + 1 - len(frames))
    return torch.stack(frames)
