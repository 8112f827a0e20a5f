"""Adversarial attacks as pure functions, a registry keyed by short names, and the trajectory of
an attack (its frames, for animation). Sweeps over ε live in advcore.sweep.

Every attack takes `(model, x, y, *, eps, ...)`, returns a new tensor, and leaves the model (mode,
parameters, `.grad`) and `x` untouched. Gradient attacks take gradients with
`torch.autograd.grad` on the loss with respect to the input; black-box attacks only call the
model, and count their calls.

Adding an attack: one module under `advcore/attacks/` with a generator of iterates and a `plan`
that validates a call and returns `Iterates` (see `fgsm.py`, the smallest), its public function
(`plan(...).final()`), and one `AttackSpec` entry below. The registry's property tests
(`tests/test_attacks.py`) then run on it by themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

# The family modules under private names: the public names below are their functions.
from advcore.attacks import apgd as _apgd_family
from advcore.attacks import cw as _cw_family
from advcore.attacks import deepfool as _deepfool_family
from advcore.attacks import fgsm as _fgsm_family
from advcore.attacks import hsja as _hsja_family
from advcore.attacks import mifgsm as _mifgsm_family
from advcore.attacks import pgd as _pgd_family
from advcore.attacks import square as _square_family
from advcore.attacks._geometry import Bounds, Iterates
from advcore.attacks.apgd import apgd
from advcore.attacks.cw import cw_l2
from advcore.attacks.deepfool import deepfool
from advcore.attacks.fgsm import fgsm
from advcore.attacks.hsja import hsja
from advcore.attacks.mifgsm import mifgsm
from advcore.attacks.pgd import bim, pgd
from advcore.attacks.square import square

__all__ = [
    "ATTACKS",
    "apgd",
    "AttackResult",
    "AttackSpec",
    "bim",
    "cw_l2",
    "deepfool",
    "fgsm",
    "get_attack",
    "hsja",
    "mifgsm",
    "pgd",
    "run_attack",
    "square",
    "trajectory",
]

Access = Literal["gradient", "scores", "labels"]


@dataclass(frozen=True)
class AttackResult:
    """What one attack call produced.

    x_adv: (N, ...) the adversarial inputs, exactly what `ATTACKS[name](...)` returns.
    queries: (N,) int64, the model calls each input cost a black-box attack (an initial call
        included); None for gradient attacks, whose cost is their `steps`.
    """

    x_adv: Tensor
    queries: Tensor | None


# plan(model, x, y, *, eps, steps, targeted, bounds, seed, queries) -> Iterates: one validated
# call of the family's iterator, built from the uniform arguments every page uses.
Plan = Callable[..., Iterates]


@dataclass(frozen=True, kw_only=True)
class AttackSpec:
    """A registered attack: what the pages, the URL and the tests need to know about it, and
    the one way to run it.

    access: what the attack reads of the model: "gradient" (white-box), "scores" (the logits
        only: score-based black-box) or "labels" (the argmax only: decision-based black-box).
    min_classes: the fewest classes the attack is defined for (DLR needs 3).
    default_queries: a black-box attack's query budget per input when the call gives none.
    """

    name: str
    label: str
    norm: str  # the norm its ε is measured in
    iterative: bool
    targeted: bool  # whether the method defines a targeted mode
    minimal: bool  # finds a minimal perturbation; ε only caps it
    paper: str
    plan: Plan
    access: Access = "gradient"
    min_classes: int = 2
    default_queries: int | None = None

    @property
    def black_box(self) -> bool:
        """True for attacks that never read a gradient."""
        return self.access != "gradient"

    def iterates(self, model: nn.Module, x: Tensor, y: Tensor, *, eps: float | Tensor,
                 steps: int = 10, targeted: bool = False, bounds: Bounds = (0.0, 1.0),
                 seed: int = 0, queries: int | None = None) -> Iterates:
        """One validated call, not yet run: its iterates (`.final()`, `.frames(...)`), their
        number (`.length`) and, for a black-box attack, the live query counter (`.queries`),
        which a caller may read between iterates (the /boundary page's counter does)."""
        if targeted and not self.targeted:
            raise ValueError(f"{self.label} has no targeted mode")
        if queries is not None and not self.black_box:
            raise ValueError(f"{self.label} is a gradient attack: it takes steps, not a query "
                             "budget")
        budget = self.default_queries if queries is None else queries
        return self.plan(model, x, y, eps=eps, steps=steps, targeted=targeted, bounds=bounds,
                         seed=seed, queries=budget)

    def run(
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
        queries: int | None = None,
    ) -> AttackResult:
        """Run with the uniform arguments every page uses, and say what it cost.

        steps: iterations of an iterative gradient attack (C&W: Adam steps per value of c, at
            least CW_MIN_STEPS); black-box attacks ignore it.
        seed: fixes any randomness (a random start, a black-box attack's draws).
        queries: a black-box attack's budget of model calls per input (default
            `default_queries`); refused by gradient attacks.
        """
        it = self.iterates(model, x, y, eps=eps, steps=steps, targeted=targeted, bounds=bounds,
                        seed=seed, queries=queries)
        x_adv = it.final()
        return AttackResult(x_adv, None if it.queries is None else it.queries.clone())

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
        queries: int | None = None,
    ) -> Tensor:
        """The adversarial inputs (N, ...) of `run` with the same arguments."""
        return self.run(model, x, y, eps=eps, steps=steps, targeted=targeted, bounds=bounds,
                        seed=seed, queries=queries).x_adv

    def frames(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        *,
        eps: float,
        steps: int = 10,
        targeted: bool = False,
        bounds: Bounds = (0.0, 1.0),
        seed: int = 0,
        queries: int | None = None,
    ) -> Tensor:
        """(steps + 1, N, ...) from the same iterator as `run`: see `trajectory`."""
        it = self.iterates(model, x, y, eps=eps, steps=steps, targeted=targeted, bounds=bounds,
                        seed=seed, queries=queries)
        return it.frames(steps)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# Adam moves C&W's variables by about lr per step: fewer than 50 steps barely leave the input.
CW_MIN_STEPS = 50


# --- uniform arguments -> each family's plan --------------------------------------------------


def _fgsm(model, x, y, *, eps, steps, targeted, bounds, seed, queries) -> Iterates:
    # steps only sets how many frames sweep ε; the output is FGSM at ε whatever it is.
    return _fgsm_family.plan(model, x, y, eps=eps, frames=steps, bounds=bounds, targeted=targeted)


def _pgd(norm: str, random_start: bool) -> Plan:
    def plan(model, x, y, *, eps, steps, targeted, bounds, seed, queries) -> Iterates:
        return _pgd_family.plan(model, x, y, eps=eps, steps=steps, norm=norm, random_start=random_start,
                        bounds=bounds, targeted=targeted, generator=_gen(seed))
    return plan


def _mifgsm(model, x, y, *, eps, steps, targeted, bounds, seed, queries) -> Iterates:
    return _mifgsm_family.plan(model, x, y, eps=eps, steps=steps, bounds=bounds, targeted=targeted)


def _deepfool(model, x, y, *, eps, steps, targeted, bounds, seed, queries) -> Iterates:
    return _deepfool_family.plan(model, x, y, eps=eps, steps=steps, bounds=bounds)


def _cw(model, x, y, *, eps, steps, targeted, bounds, seed, queries) -> Iterates:
    # The frames cap the one search's result at ε·k/steps.
    return _cw_family.plan(model, x, y, eps=eps, frames=steps, steps=max(steps, CW_MIN_STEPS),
                   bounds=bounds, targeted=targeted)


def _apgd(loss: str, norm: str) -> Plan:
    def plan(model, x, y, *, eps, steps, targeted, bounds, seed, queries) -> Iterates:
        return _apgd_family.plan(model, x, y, eps=eps, loss=loss, steps=steps, norm=norm,
                                 bounds=bounds, targeted=targeted, generator=_gen(seed))
    return plan


def _apgd_t(norm: str) -> Plan:
    def plan(model, x, y, *, eps, steps, targeted, bounds, seed, queries) -> Iterates:
        return _apgd_family.top_k_plan(model, x, y, eps=eps, loss="dlr", steps=steps, norm=norm,
                                       bounds=bounds, target_classes=APGD_TARGETS,
                                       generator=_gen(seed))
    return plan


def _square(norm: str) -> Plan:
    def plan(model, x, y, *, eps, steps, targeted, bounds, seed, queries) -> Iterates:
        return _square_family.plan(model, x, y, eps=eps, norm=norm, queries=queries,
                                   bounds=bounds, targeted=targeted, generator=_gen(seed))
    return plan


def _hsja(model, x, y, *, eps, steps, targeted, bounds, seed, queries) -> Iterates:
    return _hsja_family.plan(model, x, y, eps=eps, queries=queries, bounds=bounds,
                             targeted=targeted, generator=_gen(seed))


# A page's budget: enough for Square to fool most undefended digits; an evaluation uses
# AutoAttack's 5,000 (advcore.evaluate).
BLACK_BOX_QUERIES = 1000
# AutoAttack's APGD-T runs against the 9 classes ranked highest after the true one.
APGD_TARGETS = 9
CROCE_HEIN = "Croce & Hein 2020"

ATTACKS: dict[str, AttackSpec] = {
    spec.name: spec
    for spec in (
        AttackSpec(name="fgsm", label="FGSM", norm="linf", iterative=False, targeted=True,
                   minimal=False, paper="Goodfellow et al. 2015", plan=_fgsm),
        AttackSpec(name="bim", label="BIM / I-FGSM", norm="linf", iterative=True, targeted=True,
                   minimal=False, paper="Kurakin et al. 2017", plan=_pgd("linf", False)),
        AttackSpec(name="pgd", label="PGD (L∞)", norm="linf", iterative=True, targeted=True,
                   minimal=False, paper="Madry et al. 2018", plan=_pgd("linf", True)),
        AttackSpec(name="pgd-l2", label="PGD (L2)", norm="l2", iterative=True, targeted=True,
                   minimal=False, paper="Madry et al. 2018", plan=_pgd("l2", True)),
        AttackSpec(name="mifgsm", label="MI-FGSM", norm="linf", iterative=True, targeted=True,
                   minimal=False, paper="Dong et al. 2018", plan=_mifgsm),
        AttackSpec(name="deepfool", label="DeepFool (L2)", norm="l2", iterative=True,
                   targeted=False, minimal=True, paper="Moosavi-Dezfooli et al. 2016",
                   plan=_deepfool),
        AttackSpec(name="cw-l2", label="C&W (L2)", norm="l2", iterative=True, targeted=True,
                   minimal=True, paper="Carlini & Wagner 2017", plan=_cw),
        AttackSpec(name="apgd-ce", label="APGD-CE (L∞)", norm="linf", iterative=True,
                   targeted=True, minimal=False, paper=CROCE_HEIN, plan=_apgd("ce", "linf")),
        AttackSpec(name="apgd-ce-l2", label="APGD-CE (L2)", norm="l2", iterative=True,
                   targeted=True, minimal=False, paper=CROCE_HEIN, plan=_apgd("ce", "l2")),
        AttackSpec(name="apgd-dlr", label="APGD-DLR (L∞)", norm="linf", iterative=True,
                   targeted=True, minimal=False, paper=CROCE_HEIN, plan=_apgd("dlr", "linf"),
                   min_classes=3),
        AttackSpec(name="apgd-dlr-l2", label="APGD-DLR (L2)", norm="l2", iterative=True,
                   targeted=True, minimal=False, paper=CROCE_HEIN, plan=_apgd("dlr", "l2"),
                   min_classes=3),
        # Untargeted from the caller's side: y holds true labels, the targets are its own.
        AttackSpec(name="apgd-t", label=f"APGD-T (DLR, top-{APGD_TARGETS} targets, L∞)",
                   norm="linf", iterative=True, targeted=False, minimal=False, paper=CROCE_HEIN,
                   plan=_apgd_t("linf")),
        AttackSpec(name="apgd-t-l2", label=f"APGD-T (DLR, top-{APGD_TARGETS} targets, L2)",
                   norm="l2", iterative=True, targeted=False, minimal=False, paper=CROCE_HEIN,
                   plan=_apgd_t("l2")),
        AttackSpec(name="square", label="Square (L∞)", norm="linf", iterative=True,
                   targeted=True, minimal=False, paper="Andriushchenko et al. 2020",
                   plan=_square("linf"), access="scores", default_queries=BLACK_BOX_QUERIES),
        AttackSpec(name="square-l2", label="Square (L2)", norm="l2", iterative=True,
                   targeted=True, minimal=False, paper="Andriushchenko et al. 2020",
                   plan=_square("l2"), access="scores", default_queries=BLACK_BOX_QUERIES),
        AttackSpec(name="hsja", label="HopSkipJump (L2)", norm="l2", iterative=True,
                   targeted=True, minimal=True, paper="Chen et al. 2020", plan=_hsja,
                   access="labels", default_queries=BLACK_BOX_QUERIES),
    )
}


def get_attack(name: str) -> AttackSpec:
    """The registered attack called `name`, or a ValueError listing the known names."""
    try:
        return ATTACKS[name]
    except KeyError:
        raise ValueError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}") from None


def run_attack(
    name: str, model: nn.Module, x: Tensor, y: Tensor, *, return_info: bool = False,
    **kwargs: Any,
) -> Tensor | AttackResult:
    """Run the registered attack `name` with the uniform arguments of `AttackSpec.run`.

    Returns the adversarial inputs, or with `return_info=True` the whole `AttackResult`
    (adversarial inputs and, for black-box attacks, the queries each input cost).
    """
    spec = get_attack(name)
    return spec.run(model, x, y, **kwargs) if return_info else spec(model, x, y, **kwargs)


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

    The frames come from the attack's own iterator, the one its public function runs to the end
    (`AttackSpec.frames`). For an iterative attack these are its steps (an attack that stops
    early repeats its last point; PGD's random start is folded into its first step); for FGSM
    the frames sweep ε linearly from 0 to `eps`, which is the path its one step takes; for C&W
    they cap its perturbation at ε·k/steps; a black-box attack's frames are its iterates at
    evenly spaced queries. The last frame equals the attack's own output with the same arguments
    and seed.
    """
    return get_attack(attack).frames(model, x, y, eps=eps, steps=steps, targeted=targeted,
                                     bounds=bounds, seed=seed)
