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

In 2-D (`plane_report`): a classifier of the /boundary page wrapped in a fake defence that keeps
its boundary (`PLANE_FAKES`: a fine input rounding, a saturated softmax), PGD and Square on every
point at one ε, and each point's exact L∞ distance to the masked boundary (`plane_truth`), which
no attack computes: what PGD claims, what Square finds, and the truth, point by point.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from advcore import defences, evaluate, exact
from advcore.attacks import get_attack, trajectory
from advcore.attacks._geometry import loss_gradient
from advcore.cancel import Interruptible, ShouldStop
from advcore.playground import boundary
from advcore.playground.state import BoundaryScene

__all__ = ["FAKES", "PLANE_FAKES", "FakeDefence", "MaskingReport", "Measurement", "PlaneDefence",
           "PlaneReport", "masking_report", "plane_report", "plane_spec", "plane_truth"]

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



# --- in 2-D: a masked classifier on the plane, PGD against Square, and the exact answer -------
#
# A 2-D classifier of the /boundary page (the same training spec, so the same trained model),
# wrapped in a fake defence that keeps its decisions. PGD reads the wrapper's gradient, which is
# exactly zero, and stands where its random start put it; Square reads only the scores, so the
# mask does not slow it down. The truth comes from no attack: each point's exact L∞ distance to
# the masked model's boundary (advcore.exact for the saturated softmax, whose boundary is the
# network's own; an enumeration of the rounding's cells for the quantized input).

PLANE_STEPS = 20  # PGD-20, as in the digits lab
# Square's budget per point: the /boundary page's (in 2-D its L∞ search has four corners to try).
PLANE_QUERIES = boundary.BOUNDARY_QUERIES["square"]
PLANE_STEP = 0.01  # the rounding step of the quantized input, in feature units
PLANE_RANGE = (-6.0, 6.0)  # the rounding's range: the added-point limit of the 2-D pages
PLANE_TEMPERATURE = 1e3


@dataclass(frozen=True)
class PlaneDefence:
    """A fake defence on the plane: how to wrap a 2-D classifier, and what the wrapper returns.

    probabilities: the wrapper returns probabilities (not logits), read as they are for the map.
    """

    name: str
    label: str
    short: str  # the label on a projector, where a control has less room
    make: Callable[[nn.Module], nn.Module]
    probabilities: bool
    masks: str


def _quantized(model: nn.Module) -> nn.Module:
    lo, hi = PLANE_RANGE
    return defences.Quantized(model, levels=round((hi - lo) / PLANE_STEP) + 1, bounds=PLANE_RANGE)


PLANE_FAKES: dict[str, PlaneDefence] = {
    fake.name: fake
    for fake in (
        PlaneDefence("quantized", f"Input rounding (step {PLANE_STEP:g})", "Rounding", _quantized,
                     False, "rounds both coordinates to a fine grid: the gradient is zero "
                            "everywhere, the scores are the network's"),
        PlaneDefence("saturated", f"Saturated softmax (T = {PLANE_TEMPERATURE:g})", "Saturated",
                     lambda m: defences.SaturatedSoftmax(m, temperature=PLANE_TEMPERATURE), True,
                     "returns one-hot probabilities: the gradient is zero, the scores say "
                     "only the label"),
    )
}


def plane_spec(dataset: str) -> boundary.TrainingSpec:
    """The 2-D classifier of the demo: the /boundary page's default scene on `dataset` (200
    points, a 32 × 2 MLP), so the two pages share one trained model."""
    return boundary.training_key(BoundaryScene(dataset=dataset))


def plane_fake(inner: nn.Module, defence: str) -> nn.Module:
    """The fake defence `defence` (a key of PLANE_FAKES) around the 2-D classifier `inner`."""
    if defence not in PLANE_FAKES:
        raise ValueError(f"unknown fake defence {defence!r}; known: {', '.join(PLANE_FAKES)}")
    return PLANE_FAKES[defence].make(inner)


def plane_probability(masked: nn.Module, defence: str, X: np.ndarray) -> np.ndarray:
    """(N,) the masked model's P(class 1) at X (N, 2): its own outputs where it returns
    probabilities, the softmax of its logits otherwise."""
    with torch.no_grad():
        out = masked(torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)))
    prob = out if PLANE_FAKES[defence].probabilities else torch.softmax(out, 1)
    return prob[:, 1].numpy().astype(np.float32)


def plane_grid(masked: nn.Module, defence: str, X: np.ndarray, *,
               resolution: int = boundary.GRID_RESOLUTION) -> boundary.Grid:
    """The masked model's P(class 1) over the /boundary page's window around X."""
    lo, hi = boundary.extent(X)
    gx = np.linspace(lo[0], hi[0], resolution, dtype=np.float32)
    gy = np.linspace(lo[1], hi[1], resolution, dtype=np.float32)
    xx, yy = np.meshgrid(gx, gy)
    prob = plane_probability(masked, defence, np.stack([xx.ravel(), yy.ravel()], 1))
    return boundary.Grid(gx, gy, prob.reshape(resolution, resolution))


def plane_truth(inner: nn.Module, X: np.ndarray, y: np.ndarray, defence: str, *,
                eps_max: float) -> np.ndarray:
    """(N,) float64 each point's exact L∞ distance to the masked model's boundary: 0 where the
    masked model already errs, inf where it is farther than eps_max.

    saturated: softmax(T·z) has z's argmax, so its boundary is the network's and
        advcore.exact.minimal_adversarial answers exactly.
    quantized: the rounded model is constant on each rounding cell (a square of side
        PLANE_STEP around a grid value), classifying it as the network classifies the cell's
        centre; ε* is the L∞ distance to the nearest cell classified otherwise
        (`quantized_eps_star`), at most about one step from the network's own ε*.
    """
    if defence not in PLANE_FAKES:
        raise ValueError(f"unknown fake defence {defence!r}; known: {', '.join(PLANE_FAKES)}")
    if defence == "quantized":
        return quantized_eps_star(plane_fake(inner, defence), X, y, eps_max=eps_max)
    box = exact.box_for(X, eps_max, margin=boundary.GRID_MARGIN)
    found = exact.minimal_adversarial(inner, X, y, norm="linf", box=box)
    eps = found.eps.copy()
    eps[eps > eps_max] = np.inf
    return eps


def quantized_eps_star(wrapped: defences.Quantized, X: np.ndarray, y: np.ndarray, *,
                       eps_max: float) -> np.ndarray:
    """(N,) float64 the exact L∞ distance from each point of X (N, 2) to the nearest rounding
    cell that `wrapped` (a Quantized 2-D model) classifies differently from y; 0 where the
    point's own cell is wrong, inf beyond eps_max.

    Every value z rounds to its nearest grid value c, so the rounded model's prediction is
    constant on the cell |z − c|∞ ≤ h/2 (ties at the cell edges aside, a set of no width), and
    the distance from x to the cell is max(|x − c|∞ − h/2, 0): enumerating the cells within
    eps_max of each point is exact.
    """
    lo, hi = wrapped.bounds
    h = (hi - lo) / (wrapped.levels - 1)
    X = np.asarray(X, dtype=np.float64)
    k_lo = np.floor((X.min(0) - eps_max - lo) / h).astype(int) - 1
    k_hi = np.ceil((X.max(0) + eps_max - lo) / h).astype(int) + 1
    centres = [lo + np.arange(k_lo[d], k_hi[d] + 1) * h for d in range(2)]
    cx, cy = np.meshgrid(*centres)
    pts = torch.from_numpy(np.stack([cx.ravel(), cy.ravel()], 1).astype(np.float32))
    with torch.no_grad():  # the cells' classes, as the wrapper itself computes them
        pred = torch.cat([wrapped(chunk).argmax(1) for chunk in pts.split(65536)]).numpy()
    pred = pred.reshape(cx.shape)  # [row: y cell, column: x cell]
    with torch.no_grad():
        own = wrapped(torch.from_numpy(X.astype(np.float32))).argmax(1).numpy()
    out = np.full(len(X), np.inf)
    reach = int(np.ceil(eps_max / h)) + 2
    for i, (p, label) in enumerate(zip(X, y, strict=True)):
        if own[i] != label:
            out[i] = 0.0
            continue
        j = np.rint((p - lo) / h).astype(int) - k_lo  # the point's own cell, in the lattice
        c0, c1 = max(j[0] - reach, 0), j[0] + reach + 1
        r0, r1 = max(j[1] - reach, 0), j[1] + reach + 1
        wrong = pred[r0:r1, c0:c1] != label
        if not wrong.any():
            continue
        dx = np.maximum(np.abs(p[0] - centres[0][c0:c1]) - h / 2, 0.0)
        dy = np.maximum(np.abs(p[1] - centres[1][r0:r1]) - h / 2, 0.0)
        best = np.maximum(dy[:, None], dx[None, :])[wrong].min()
        out[i] = best if best <= eps_max else np.inf
    return out


@dataclass(frozen=True)
class PlaneReport:
    """PGD and Square on every point of a 2-D scene, against one fake defence, at one ε.

    X (N, 2), y (N,): the points (feature units). grid: the masked model's P(class 1) over the
    window; inner_grid: the network's own, whose 0.5 line is the boundary drawn (the masked
    model's, to within the rounding step). pgd, square: advcore.playground.boundary.Attacked,
    their paths and flags (Square's `queries` per point). eps_star (N,): the exact L∞ distance
    to the masked model's boundary (`plane_truth`). pgd_stuck (N,) bool: the loss gradient PGD
    read was exactly zero at every one of its iterates, so it stood where its first step (from
    its random start) put it.
    """

    defence: str
    eps: float
    X: np.ndarray
    y: np.ndarray
    grid: boundary.Grid
    inner_grid: boundary.Grid
    pgd: boundary.Attacked
    square: boundary.Attacked
    eps_star: np.ndarray
    pgd_stuck: np.ndarray

    @property
    def correct(self) -> np.ndarray:
        """(N,) bool: the masked model classifies the clean point correctly."""
        return self.pgd.prob_clean.argmax(1) == self.y

    @property
    def within(self) -> np.ndarray:
        """(N,) bool: correct, and a change of at most ε flips it (ε* ≤ ε, the truth)."""
        return self.correct & (self.eps_star <= self.eps)

    @property
    def pgd_count(self) -> int:
        return int(self.pgd.flipped.sum())

    @property
    def square_count(self) -> int:
        return int(self.square.flipped.sum())

    @property
    def within_count(self) -> int:
        return int(self.within.sum())

    @property
    def n(self) -> int:
        return len(self.y)


def plane_report(inner: nn.Module, X: np.ndarray, y: np.ndarray, *, defence: str, eps: float,
                 eps_star: np.ndarray | None = None, eps_max: float = 1.0, seed: int = 0,
                 steps: int = PLANE_STEPS) -> PlaneReport:
    """PGD-`steps` and Square (PLANE_QUERIES per point, L∞) on every point of (X, y), attacking
    the fake defence `defence` around the 2-D classifier `inner`, at the same ε and seed.

    eps_star: `plane_truth(inner, X, y, defence, eps_max=eps_max)` if already computed (it does
    not depend on ε). Both attacks run unclipped (feature units), as on /boundary. Cost on 200
    points, one core: ~0.1 s for the attacks, ~0.3 s for the quantized truth.
    """
    masked = plane_fake(inner, defence)
    if eps_star is None:
        eps_star = plane_truth(inner, X, y, defence, eps_max=eps_max)
    pgd = boundary.attack_points(masked, X, y, attack="pgd", eps=eps, steps=steps, seed=seed)
    square = boundary.attack_points(masked, X, y, attack="square", eps=eps, steps=1, seed=seed)
    x, t = torch.from_numpy(X), torch.from_numpy(y)
    path = trajectory(masked, x, t, attack="pgd", eps=eps, steps=steps, bounds=None, seed=seed)
    grad, _ = loss_gradient(masked, path[1:].reshape(-1, 2), t.repeat(steps))
    stuck = (grad.reshape(steps, len(X), 2) == 0).all(2).all(0).numpy()
    return PlaneReport(defence, float(eps), X, y, plane_grid(masked, defence, X),
                       boundary.decision_grid(inner, X), pgd, square,
                       np.asarray(eps_star, np.float64), stuck)

