"""The gradient-masking lab: what a naive evaluation claims for each fake defence, which sanity
check fires, and what the right attack finds (Athalye, Carlini & Wagner, "Obfuscated Gradients
Give a False Sense of Security", ICML 2018).

The fake defences are advcore.defences' teaching objects, wrapped around a classifier: NOT
defences. `masking_report` runs, on one fixed batch of digits:
- the naive evaluation: FGSM and PGD-20, each on every input, as a careless paper would;
- `robust_accuracy`'s sanity checks on that PGD run (the EvaluationWarnings, as text);
- the right tool for the defence: BPDA-PGD and Square for a non-differentiable step, EOT-PGD for
  randomness, HopSkipJump (labels only) for a saturated softmax;
- the worst case per input: correct under every attack shown.
Everything is plain numpy in a frozen dataclass, so a page can cache and draw it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from torch import Tensor, nn

from advcore import defences, evaluate
from advcore.attacks import get_attack
from advcore.cancel import Interruptible, ShouldStop

__all__ = ["FAKES", "FakeDefence", "MaskingReport", "Measurement", "masking_report"]

PGD_STEPS = 20
EOT_SAMPLES = 8  # noise draws averaged per EOT-PGD step: 8× the cost of a PGD step
BLACK_BOX_QUERIES = 500  # per input: enough for Square and HopSkipJump on 28×28 digits
HSJA_EPS = 4.0  # L2, over the whole 28×28 image (the L∞ ε = 0.3 sign step has L2 8.4)


@dataclass(frozen=True)
class FakeDefence:
    """One fake defence of the lab: how to build it and what its lesson is.

    eps: the L∞ radius on the [0, 1] pixel scale at which it is evaluated (0.3 = 76.5/255).
    evaluation: the attacks `robust_accuracy` runs for the sanity checks, PGD first.
    """

    name: str
    label: str
    make: Callable[[nn.Module, int], nn.Module]
    eps: float
    evaluation: tuple[str, ...]
    masks: str  # what the wrapper does to the gradient, in a few words
    tool: str  # the attack that sees through it


FAKES: dict[str, FakeDefence] = {
    fake.name: fake
    for fake in (
        FakeDefence("quantized", "Input quantization (4 grey levels)",
                    lambda m, seed: defences.Quantized(m, levels=4), 0.3, ("pgd", "square"),
                    "rounds every pixel: a step function, whose gradient is zero everywhere",
                    "BPDA-PGD (the rounding differentiated as the identity) and Square"),
        FakeDefence("saturated", "Saturated softmax (temperature 1000)",
                    lambda m, seed: defences.SaturatedSoftmax(m, temperature=1e3), 0.3,
                    ("pgd",),
                    "returns one-hot probabilities: the loss is flat, its gradient exactly zero",
                    "HopSkipJump, which reads only the predicted label"),
        FakeDefence("noisy", "Random noise at inference (σ = 0.3)",
                    lambda m, seed: defences.NoisyInput(m, sigma=0.3, seed=seed), 0.1,
                    ("pgd",),
                    "adds fresh noise on every call: each gradient is the gradient of one "
                    "random draw",
                    f"EOT-PGD, the gradient averaged over {EOT_SAMPLES} draws per step"),
    )
}


@dataclass(frozen=True)
class Measurement:
    """One attack's result on the batch.

    robust: (N,) bool, True where the input is classified correctly after the attack.
    naive: True for the naive evaluation's attacks, False for the right tool.
    threat: the ball it searched, e.g. "L∞ ε = 0.3".
    """

    label: str
    naive: bool
    threat: str
    robust: np.ndarray

    @property
    def accuracy(self) -> float:
        return float(self.robust.mean())


@dataclass(frozen=True)
class MaskingReport:
    """What `masking_report` found for one fake defence on n digits.

    clean: accuracy without attack. measurements: naive attacks first, then the right tools.
    warnings: the sanity checks of `robust_accuracy` that fired on the naive PGD evaluation.
    indices: the test digits used.
    """

    defence: str
    eps: float
    indices: np.ndarray
    clean: np.ndarray
    measurements: tuple[Measurement, ...]
    warnings: tuple[str, ...]

    @property
    def n(self) -> int:
        return len(self.indices)

    def _all(self, naive_only: bool) -> float:
        rows = [m.robust for m in self.measurements if m.naive or not naive_only]
        return float(np.logical_and.reduce([self.clean, *rows]).mean())

    @property
    def claimed(self) -> float:
        """The naive evaluation's robust accuracy: correct under both FGSM and PGD-20."""
        return self._all(naive_only=True)

    @property
    def worst(self) -> float:
        """The worst case: correct under every attack shown, the right tools included."""
        return self._all(naive_only=False)


def _correct(model: nn.Module, x: Tensor, y: Tensor) -> np.ndarray:
    return (evaluate.predict(model, x) == y).numpy()


def _linf(eps: float) -> str:
    return f"L∞ ε = {eps:g}"


def masking_report(model: nn.Module, x: Tensor, y: Tensor, defence: str, *, seed: int = 0,
                   indices: np.ndarray | None = None,
                   should_stop: ShouldStop | None = None) -> MaskingReport:
    """Evaluate the fake defence `defence` (a key of FAKES) around `model`, naively and right.

    x: (N, 1, 28, 28) digits in [0, 1]; y: (N,) true classes. seed fixes the attacks' random
    starts and draws and the noise of a random defence (each attack sees the same noise stream,
    so the figures are reproducible). should_stop: asked before every forward pass (see
    advcore.cancel). Cost on 32 digits, one core: ~5 s (quantized), 15-20 s (the others).
    """
    if defence not in FAKES:
        raise ValueError(f"unknown fake defence {defence!r}; known: {', '.join(FAKES)}")
    spec = FAKES[defence]
    inner = model if should_stop is None else Interruptible(model, should_stop)
    eps, threat = spec.eps, _linf(spec.eps)

    def fresh() -> nn.Module:  # the same noise stream for every attack
        return spec.make(inner, seed)

    def gradient(name: str, label: str, attacked: nn.Module, naive: bool) -> Measurement:
        x_adv = get_attack(name)(attacked, x, y, eps=eps, steps=PGD_STEPS, seed=seed)
        return Measurement(label, naive, threat, _correct(fresh(), x_adv, y))

    clean = _correct(fresh(), x, y)
    fgsm = gradient("fgsm", "FGSM", fresh(), naive=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", evaluate.EvaluationWarning)
        evaluation = evaluate.robust_accuracy(fresh(), x, y, eps=eps, attacks=spec.evaluation,
                                              steps=PGD_STEPS, queries=BLACK_BOX_QUERIES,
                                              seed=seed)
    pgd = Measurement(f"PGD-{PGD_STEPS}", True, threat, _pgd_robust(evaluation))
    right: list[Measurement] = []
    if defence == "quantized":
        right.append(gradient("pgd", f"BPDA-PGD-{PGD_STEPS}", defences.BPDA(fresh()), False))
        right.append(Measurement(f"Square ({BLACK_BOX_QUERIES} queries)", False, threat,
                                 evaluation.robust.numpy()))
    elif defence == "noisy":
        right.append(gradient("pgd", f"EOT-PGD-{PGD_STEPS}",
                              defences.EOT(fresh(), samples=EOT_SAMPLES), False))
    else:
        x_adv = get_attack("hsja")(fresh(), x, y, eps=HSJA_EPS, queries=BLACK_BOX_QUERIES,
                                   seed=seed)
        right.append(Measurement(f"HopSkipJump ({BLACK_BOX_QUERIES} queries)", False,
                                 f"L2 ε = {HSJA_EPS:g}", _correct(fresh(), x_adv, y)))
    return MaskingReport(defence, eps, np.arange(len(x)) if indices is None else indices,
                         clean, (fgsm, pgd, *right), tuple(evaluation.warnings))


def _pgd_robust(evaluation: evaluate.RobustAccuracy) -> np.ndarray:
    """(N,) correct after PGD alone: PGD runs first in the evaluation, on every clean-correct
    input, so an input PGD fooled is one whose first fooling attack is "pgd"."""
    return np.array([by not in ("clean", "pgd") for by in evaluation.fooled_by])

