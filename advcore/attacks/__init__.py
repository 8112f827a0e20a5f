"""Adversarial attacks as pure functions, a registry keyed by short names, and the helpers that
the pages draw from: an ε sweep and the trajectory of an iterative attack.

Every attack takes `(model, x, y, *, eps, ...)`, returns a new tensor, and leaves the model (mode,
parameters, `.grad`) and `x` untouched. Gradients are taken with `torch.autograd.grad` on the loss
with respect to the input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from advcore.attacks._geometry import Bounds, check_eps, check_steps
from advcore.attacks.cw import cw_frames, cw_l2
from advcore.attacks.deepfool import deepfool, deepfool_frames
from advcore.attacks.fgsm import fgsm, fgsm_frames
from advcore.attacks.mifgsm import mifgsm, mifgsm_frames
from advcore.attacks.pgd import bim, pgd, pgd_frames

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
    """What the pages, the URL and the tests need to know about an attack.

    `_run` and `_frames` take the uniform arguments of `__call__`; `_frames` returns the
    (steps + 1, N, ...) trajectory whose last frame is `_run`'s output.
    """

    name: str
    label: str
    norm: str  # the norm its ε is measured in
    iterative: bool
    targeted: bool  # whether the method defines a targeted mode
    minimal: bool  # finds a minimal perturbation; ε only caps it
    paper: str
    _run: Callable[..., Tensor]
    _frames: Callable[..., Tensor] | None = None

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
        """Run with the uniform arguments every page uses; `seed` fixes any random start.

        steps: iterations of an iterative attack (C&W: Adam steps per value of c, at least 50).
        """
        if targeted and not self.targeted:
            raise ValueError(f"{self.label} has no targeted mode")
        return self._run(model, x, y, eps=eps, steps=steps, targeted=targeted, bounds=bounds,
                         seed=seed)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# Adam moves C&W's variables by about lr per step: fewer than 50 steps barely leave the input.
CW_MIN_STEPS = 50


def _fgsm(model, x, y, *, eps, steps, targeted, bounds, seed):  # noqa: ARG001
    return fgsm(model, x, y, eps=eps, bounds=bounds, targeted=targeted)


def _fgsm_frames(model, x, y, *, eps, steps, targeted, bounds, seed):  # noqa: ARG001
    return fgsm_frames(model, x, y, eps=eps, steps=steps, bounds=bounds, targeted=targeted)


def _pgd(norm: str, random_start: bool, frames: bool) -> Callable[..., Tensor]:
    fn = pgd_frames if frames else pgd

    def run(model, x, y, *, eps, steps, targeted, bounds, seed):
        return fn(model, x, y, eps=eps, steps=steps, norm=norm, random_start=random_start,
                  bounds=bounds, targeted=targeted, generator=_gen(seed))
    return run


def _mifgsm(frames: bool) -> Callable[..., Tensor]:
    fn = mifgsm_frames if frames else mifgsm

    def run(model, x, y, *, eps, steps, targeted, bounds, seed):  # noqa: ARG001
        return fn(model, x, y, eps=eps, steps=steps, bounds=bounds, targeted=targeted)
    return run


def _deepfool(frames: bool) -> Callable[..., Tensor]:
    fn = deepfool_frames if frames else deepfool

    def run(model, x, y, *, eps, steps, targeted, bounds, seed):  # noqa: ARG001
        return fn(model, x, y, eps=eps, steps=steps, bounds=bounds)
    return run


def _cw(model, x, y, *, eps, steps, targeted, bounds, seed):  # noqa: ARG001
    return cw_l2(model, x, y, eps=eps, steps=max(steps, CW_MIN_STEPS), bounds=bounds,
                 targeted=targeted)


def _cw_frames(model, x, y, *, eps, steps, targeted, bounds, seed):  # noqa: ARG001
    return cw_frames(model, x, y, eps=eps, frames=steps, steps=max(steps, CW_MIN_STEPS),
                     bounds=bounds, targeted=targeted)


ATTACKS: dict[str, AttackSpec] = {
    spec.name: spec
    for spec in (
        AttackSpec("fgsm", "FGSM", "linf", False, True, False,
                   "Goodfellow et al. 2015", _fgsm, _fgsm_frames),
        AttackSpec("bim", "BIM / I-FGSM", "linf", True, True, False,
                   "Kurakin et al. 2017", _pgd("linf", False, False), _pgd("linf", False, True)),
        AttackSpec("pgd", "PGD (L∞)", "linf", True, True, False,
                   "Madry et al. 2018", _pgd("linf", True, False), _pgd("linf", True, True)),
        AttackSpec("pgd-l2", "PGD (L2)", "l2", True, True, False,
                   "Madry et al. 2018", _pgd("l2", True, False), _pgd("l2", True, True)),
        AttackSpec("mifgsm", "MI-FGSM", "linf", True, True, False,
                   "Dong et al. 2018", _mifgsm(False), _mifgsm(True)),
        AttackSpec("deepfool", "DeepFool (L2)", "l2", True, False, True,
                   "Moosavi-Dezfooli et al. 2016", _deepfool(False), _deepfool(True)),
        AttackSpec("cw-l2", "C&W (L2)", "l2", True, True, True,
                   "Carlini & Wagner 2017", _cw, _cw_frames),
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
    point; PGD's random start is folded into its first step); for FGSM the frames sweep ε
    linearly from 0 to `eps`, which is the path its one step takes, and for C&W they cap its
    perturbation at ε·k/steps. The last frame equals the attack's own output with the same
    arguments and seed.
    """
    spec = get_attack(attack)
    check_eps(eps)
    check_steps(steps)
    if targeted and not spec.targeted:
        raise ValueError(f"{spec.label} has no targeted mode")
    if spec._frames is not None:
        return spec._frames(model, x, y, eps=eps, steps=steps, targeted=targeted, bounds=bounds,
                            seed=seed)
    radii = [eps * k / steps if k < steps else eps for k in range(steps + 1)]
    return torch.stack([
        spec(model, x, y, eps=r, steps=steps, targeted=targeted, bounds=bounds, seed=seed)
        for r in radii
    ])
