"""What the boundary page computes: a 2-D classifier, its decision grid, and every point's journey
across the boundary under an attack (no Streamlit).

The pieces are split by what they depend on, so a page can cache each one on its own key:

- `train_model`: the data and model fields of a scene (plus attack and ε for the adversarially
  trained model). Changing only ε, the attack or the steps never retrains the standard model.
- `decision_grid`: the trained model only.
- `attack_points`: the model and the attack fields; this is what moving ε recomputes.
- `accuracy_curve`: the model, the attack and its steps, over a fixed ε grid (not ε itself).
- `ground_truth`: the model and the norm only: each point's exact ε* and nearest boundary point
  (advcore.exact) and its certified radius (advcore.certify, CROWN). Every ε on the slider is
  then answered by comparisons, so with ground truth on an ε change costs nothing extra.

The points are the dataset's plus any the visitor added (scene.add, after the dataset's, so a
dataset point keeps its index).

Units: points are standardised 2-D features (N, 2) float32; ε is a radius in those units, in the
attack's norm (L∞ for FGSM/BIM/PGD/Square, L2 for PGD-L2, DeepFool, Square-L2 and HopSkipJump).
No clipping (`bounds=None`).

Black-box attacks (Square reads the scores, HopSkipJump only the predicted label) run with a
query budget per point (`queries_of`); their animation frames are their iterates after a
geometrically growing number of queries, and each frame carries the queries used so far.
Adversarial training as data augmentation: Goodfellow et al. 2015 (FGSM), Madry et al. 2018 (PGD).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from advcore import certify, exact, sweep
from advcore.attacks import AttackSpec, get_attack, trajectory
from advcore.attacks._geometry import loss_gradient
from advcore.data import toy_dataset
from advcore.models import toy_model
from advcore.playground.state import BoundaryScene, bounds_of
from advcore.train import train_toy

# A Plotly animation sends every frame to the browser: 12 frames keep the payload small while
# still showing a path step by step (more steps are subsampled, the last one always kept).
MAX_FRAMES = 12
# FGSM has one step: the animation sweeps ε from 0 to ε in tenths (11 frames), so a frame's ε
# is a round fraction of the slider's value (0.03, 0.06, … for ε = 0.3), not 0.027, 0.055, ….
FGSM_FRAMES = 10
GRID_RESOLUTION = 96
GRID_MARGIN = 0.5  # feature units around the data, so points pushed outwards stay in view
CURVE_EPSILONS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(21))  # 0 … 2.0
TRAIN_EPOCHS = 300
ROBUST_TRAIN_STEPS = 5  # iterations of an iterative attack inside adversarial training
# A black-box attack's query budget per point here. In 2-D, Square's L∞ search has only the four
# corners of the ε-square to try: 100 queries find every flip 1,000 find (measured on the default
# moons), at a tenth of the cost, which the accuracy curve pays 21 times. HopSkipJump needs its
# queries to walk along the boundary.
BOUNDARY_QUERIES = {"square": 100, "square-l2": 100}


def queries_of(attack: str) -> int | None:
    """The query budget per point of a black-box attack on this page (None: a gradient attack)."""
    spec = get_attack(attack)
    if not spec.black_box:
        return None
    return BOUNDARY_QUERIES.get(attack, spec.default_queries)


# --- data and models --------------------------------------------------------------------------


def points_of(scene: BoundaryScene | TrainingSpec) -> tuple[np.ndarray, np.ndarray]:
    """The points of a scene (or training spec): X (N, 2) float32 standardised and labels y (N,)
    int64 in {0, 1}: the dataset's n points, then the visitor's added ones (scene.add) in the
    order added."""
    X, y = toy_dataset(scene.dataset, n=scene.n, noise=scene.noise, seed=scene.seed)
    return with_added(X, y, scene.add)


def with_added(X: np.ndarray, y: np.ndarray,
               added: tuple[tuple[float, float, int], ...]) -> tuple[np.ndarray, np.ndarray]:
    """X (N, 2), y (N,) followed by the added (x, y, class) points, same dtypes."""
    if not added:
        return X, y
    extra = np.asarray(added, dtype=np.float64).reshape(-1, 3)
    return (np.concatenate([X, extra[:, :2].astype(X.dtype)]),
            np.concatenate([y, extra[:, 2].astype(y.dtype)]))


@dataclass(frozen=True)
class TrainingSpec:
    """What a trained 2-D model depends on, and nothing else: the cache key of the model, its
    points, grid, attacks and ground truth. Frozen and hashable.

    The standard model ignores ε and the attack (moving ε never retrains it); the adversarially
    trained one (`adversarial` set, see `training_attack`) depends on the attack and ε, not on
    the steps. The added
    points are training data, so they are part of it."""

    dataset: str
    n: int
    noise: float
    seed: int
    model: str
    width: int
    depth: int
    add: tuple[tuple[float, float, int], ...] = ()
    adversarial: str | None = None  # the attack the model was trained against, if any
    eps: float = 0.0  # its ε (0 for the standard model)

    @property
    def robust(self) -> bool:
        return self.adversarial is not None

    @property
    def standard(self) -> TrainingSpec:
        """The same data and network, trained without adversarial examples."""
        return replace(self, adversarial=None, eps=0.0)


def training_key(scene: BoundaryScene, *, robust: bool = False) -> TrainingSpec:
    """The TrainingSpec of `scene`'s standard model, or (robust, at ε > 0) of its adversarially
    trained one."""
    adversarial = robust and scene.eps > 0
    return TrainingSpec(scene.dataset, scene.n, scene.noise, scene.seed, scene.model,
                        scene.width, scene.depth, scene.add,
                        training_attack(scene.attack) if adversarial else None,
                        scene.eps if adversarial else 0.0)


def training_attack(attack: str) -> str:
    """The attack adversarial training crafts its examples with: the attack itself, except a
    black-box one, whose queries would cost minutes over 300 epochs: PGD in its norm instead."""
    spec = get_attack(attack)
    if not spec.black_box:
        return attack
    return "pgd" if spec.norm == "linf" else "pgd-l2"


def train_model(spec: TrainingSpec | BoundaryScene, *, robust: bool = False,
                points: tuple[np.ndarray, np.ndarray] | None = None) -> nn.Module:
    """The classifier of `spec`, trained on its points, in eval mode. A BoundaryScene stands for
    its `training_key(scene, robust=robust)`; points: (X, y) when already at hand (cached), so
    they are not drawn again.

    Standard: only the data and the network's shape matter. Adversarial: the same network (same
    initial weights) trained on each point and its `spec.adversarial` version at `spec.eps`,
    recomputed every epoch against the current model."""
    if isinstance(spec, BoundaryScene):
        spec = training_key(spec, robust=robust)
    X, y = points if points is not None else points_of(spec)
    model = toy_model(spec.model, width=spec.width, depth=spec.depth, seed=spec.seed)
    if spec.robust:
        return train_toy(model, X, y, epochs=TRAIN_EPOCHS, seed=spec.seed,
                         adversarial=spec.adversarial, eps=spec.eps, steps=ROBUST_TRAIN_STEPS)
    return train_toy(model, X, y, epochs=TRAIN_EPOCHS, seed=spec.seed)


# --- the probability map ----------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """P(class 1) over a window around the data.

    gx (G,), gy (G,): float32 coordinates; prob (G, G) float32 in [0, 1], prob[i, j] at
    (gx[j], gy[i]) (the layout Plotly's heatmap and contour expect).
    """

    gx: np.ndarray
    gy: np.ndarray
    prob: np.ndarray


def extent(X: np.ndarray, margin: float = GRID_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """(lo (2,), hi (2,)) of the plotting window: the data's bounding box plus `margin`."""
    return X.min(0) - margin, X.max(0) + margin


def decision_grid(model: nn.Module, X: np.ndarray, *, resolution: int = GRID_RESOLUTION,
                  margin: float = GRID_MARGIN) -> Grid:
    """The model's P(class 1) on a resolution × resolution grid over X's extent plus margin."""
    lo, hi = extent(X, margin)
    gx = np.linspace(lo[0], hi[0], resolution, dtype=np.float32)
    gy = np.linspace(lo[1], hi[1], resolution, dtype=np.float32)
    xx, yy = np.meshgrid(gx, gy)
    pts = torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], 1))
    with torch.no_grad():
        prob = torch.softmax(model(pts), 1)[:, 1].reshape(resolution, resolution)
    return Grid(gx, gy, prob.numpy().astype(np.float32))


# --- the attack, frame by frame ---------------------------------------------------------------


@dataclass(frozen=True)
class Attacked:
    """Every point attacked with one setting, and what the page shows about it.

    frames (F, N, 2) float32: positions per animation frame, frames[0] = X, frames[-1] = x_adv.
    frame_eps (F,): the ε each frame stands for (FGSM: the swept radius) or, for an iterative
        attack, the step number. frame_label (F,) str: the slider's label for each frame.
    frame_wrong (F, N) bool: predicted class != label at each frame.
    x_adv (N, 2); prob_clean, prob_adv (N, 2) softmax probabilities before/after.
    direction (N, 2): the first step's direction at the clean point, scaled to length ε in the
        attack's norm: ε·sign(∇ₓL) for L∞, ε·∇ₓL/‖∇ₓL‖₂ for L2 (drawn as the gradient arrow).
    flipped (N,) bool: correct before, wrong after. perturbation (N,): ‖x_adv − x‖ in the
        attack's norm.
    frame_queries (F, N) int64: for a black-box attack, the model calls each point had cost
        when the frame was taken (frame 0: none; the last: the attack's own count); else None.
        A black-box attack reads no gradient, so its `direction` is its first iterate's move.
    """

    attack: str
    norm: str
    eps: float
    steps: int
    frames: np.ndarray
    frame_eps: np.ndarray
    frame_label: tuple[str, ...]
    frame_wrong: np.ndarray
    x_adv: np.ndarray
    prob_clean: np.ndarray
    prob_adv: np.ndarray
    direction: np.ndarray
    flipped: np.ndarray
    perturbation: np.ndarray
    y: np.ndarray
    frame_queries: np.ndarray | None = None

    @property
    def queries(self) -> np.ndarray | None:
        """(N,) the model calls each point cost a black-box attack (None for a gradient one)."""
        return None if self.frame_queries is None else self.frame_queries[-1]

    @property
    def clean_accuracy(self) -> float:
        """Fraction of points classified correctly before the attack."""
        return float((self.prob_clean.argmax(1) == self.y).mean())

    @property
    def adversarial_accuracy(self) -> float:
        """Fraction of points still classified correctly after the attack."""
        return float((self.prob_adv.argmax(1) == self.y).mean())

    @property
    def flipped_count(self) -> int:
        return int(self.flipped.sum())

    @property
    def mean_perturbation(self) -> float:
        """Mean ‖x_adv − x‖ over all points, in the attack's norm (feature units)."""
        return float(self.perturbation.mean()) if len(self.perturbation) else 0.0


def _frame_indices(total: int, most: int = MAX_FRAMES) -> np.ndarray:
    """At most `most` indices into range(total), evenly spread, always the first and last."""
    if total <= most:
        return np.arange(total)
    return np.unique(np.round(np.linspace(0, total - 1, most)).astype(int))


def norm_of(d: np.ndarray, norm: str) -> np.ndarray:
    """(N,) size of each row of d (N, 2) in `norm` ("linf" or "l2")."""
    return np.abs(d).max(1) if norm == "linf" else np.sqrt((d ** 2).sum(1))


def step_direction(model: nn.Module, X: np.ndarray, y: np.ndarray, *, eps: float,
                   norm: str) -> np.ndarray:
    """(N, 2) the loss-ascent direction at each clean point, of length ε in `norm`.

    L∞: ε·sign(∇ₓL) (FGSM's step, Goodfellow et al. 2015); L2: ε·∇ₓL/‖∇ₓL‖₂.
    """
    # The attacks' own gradient: it keeps a direction where float32 softmax saturates.
    g, _ = loss_gradient(model, torch.from_numpy(X), torch.from_numpy(y))
    g = g.numpy()
    if norm == "linf":
        return (eps * np.sign(g)).astype(np.float32)
    length = np.sqrt((g ** 2).sum(1, keepdims=True))
    return (eps * g / np.maximum(length, 1e-12)).astype(np.float32)


def query_frames(n_iterates: int, most: int = MAX_FRAMES - 1) -> list[int]:
    """At most `most` iterate numbers (1-based) out of n_iterates, spaced geometrically (1, 2,
    4, 9, …) and always the last: a black-box attack changes most in its first queries."""
    if n_iterates <= most:
        return list(range(1, n_iterates + 1))
    picked = np.unique(np.round(np.geomspace(1, n_iterates, most)).astype(int))
    return [int(k) for k in picked]


def black_box_path(spec: AttackSpec, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                   eps: float, seed: int, queries: int,
                   most: int = MAX_FRAMES - 1) -> tuple[torch.Tensor, torch.Tensor]:
    """A black-box attack's iterates and its query counter as it ran: (F, N, ...) positions
    and (F, N) int64 queries used so far, frame 0 being x (no query yet). The frames are the
    iterates numbered `query_frames` (the attack's own iterator, as `trajectory` runs it), the
    last always the attack's output with its final count; F ≤ most + 1."""
    it = spec.iterates(model, x, y, eps=eps, steps=1, targeted=False, bounds=None, seed=seed,
                    queries=queries)
    counter = it.queries
    assert counter is not None, f"{spec.label} counts no queries"
    zero = torch.zeros_like(counter)
    if it.make is None:  # ε = 0: the identity, no query
        return x.unsqueeze(0), zero.unsqueeze(0)
    keep = set(query_frames(it.length, most))
    frames, counts = [x], [zero]
    final = None
    with torch.no_grad():
        for i, point in enumerate(it.make(it.x, it.y, *it.per_input), start=1):
            final = point
            if i in keep:
                frames.append(point)
                counts.append(counter.clone())
    if final is not None and frames[-1] is not final:
        frames.append(final)
        counts.append(counter.clone())
    counts[-1] = counter.clone()  # anything the attack asked after its last iterate
    return torch.stack(frames), torch.stack(counts)


def attack_points(model: nn.Module, X: np.ndarray, y: np.ndarray, *, attack: str, eps: float,
                  steps: int, seed: int = 0) -> Attacked:
    """Attack every point and record the animation from clean to adversarial.

    FGSM: the frames sweep ε from 0 to `eps` (its single step, at growing radius).
    Iterative attacks: the frames are the attack's iterates (advcore.attacks.trajectory), at
    most MAX_FRAMES of them, evenly subsampled; the last frame is the attack's output.
    Black-box attacks (`steps` unused): their iterates after geometrically spaced numbers of
    queries (`black_box_path`), each frame with the queries used so far (`frame_queries`).
    Deterministic: the same arguments give identical arrays.
    """
    spec = get_attack(attack)
    x, t = torch.from_numpy(X), torch.from_numpy(y)
    frame_queries = None
    if spec.black_box:
        path, counts = black_box_path(spec, model, x, t, eps=eps, seed=seed,
                                      queries=int(queries_of(attack) or 0))
        keep = np.arange(len(path))
        frame_queries = counts.numpy().astype(np.int64)
    else:
        path_steps = FGSM_FRAMES if not spec.iterative else steps
        path = trajectory(model, x, t, attack=attack, eps=eps, steps=path_steps, bounds=None,
                          seed=seed).detach()
        keep = _frame_indices(len(path))
    frames = path[keep].numpy().astype(np.float32)
    if frame_queries is not None:
        frame_eps = frame_queries.max(1).astype(np.float32)
        labels = tuple(f"{int(q):,}" for q in frame_queries.max(1))
    elif spec.iterative:
        frame_eps = keep.astype(np.float32)
        labels = tuple(f"step {k}" for k in keep)
    else:
        frame_eps = (eps * keep / path_steps).astype(np.float32)
        labels = tuple(f"ε={round(float(e), 4):g}" for e in frame_eps)
    with torch.no_grad():
        probs = torch.softmax(model(torch.from_numpy(frames.reshape(-1, 2))), 1)
    probs = probs.reshape(len(frames), len(X), 2).numpy()
    wrong = probs.argmax(2) != y[None, :]
    x_adv = frames[-1]
    if spec.black_box:  # no gradient: the arrow is where its first query went
        first = frames[1] if len(frames) > 1 else frames[0]
        direction = (first - X).astype(np.float32)
    else:
        direction = step_direction(model, X, y, eps=eps, norm=spec.norm)
    return Attacked(
        attack=attack, norm=spec.norm, eps=float(eps), steps=int(steps), frames=frames,
        frame_eps=frame_eps, frame_label=labels, frame_wrong=wrong, x_adv=x_adv,
        prob_clean=probs[0], prob_adv=probs[-1], direction=direction,
        flipped=~wrong[0] & wrong[-1],
        perturbation=norm_of(x_adv - X, spec.norm).astype(np.float32),
        y=y, frame_queries=frame_queries,
    )


# --- accuracy against ε -----------------------------------------------------------------------


@dataclass(frozen=True)
class AccuracyCurve:
    """Accuracy under one attack at each ε: epsilons (E,), accuracy (E,) fractions in [0, 1]."""

    attack: str
    epsilons: np.ndarray
    accuracy: np.ndarray


def accuracy_curve(model: nn.Module, X: np.ndarray, y: np.ndarray, *, attack: str, steps: int,
                   seed: int = 0,
                   epsilons: tuple[float, ...] = CURVE_EPSILONS) -> AccuracyCurve:
    """Accuracy of `model` on (X, y) under `attack` at each of `epsilons` (feature units): the
    library's sweep (advcore.sweep.accuracy_curve), unbounded, with this page's query budget."""
    acc = sweep.accuracy_curve(model, torch.from_numpy(X), torch.from_numpy(y), attack=attack,
                               epsilons=epsilons, steps=steps, bounds=None, seed=seed,
                               queries=queries_of(attack))
    return AccuracyCurve(attack, np.asarray(epsilons, np.float32), np.asarray(acc, np.float32))


# --- the ground truth: exact ε*, the nearest boundary point, the certified radius -------------

TRUTH_EPSILONS = np.linspace(0.0, 2.0, 401)  # the exact and certified curves are step functions


@dataclass(frozen=True)
class GroundTruth:
    """What no attack can tell: each point's exact distance to the boundary and a certificate.

    eps_star (N,) float64: the exact minimal adversarial perturbation in `norm` (advcore.exact;
        0 for a misclassified point, > eps_max where the nearest boundary lies beyond the
        slider). x_star (N, 2) float64: the nearest boundary point (the optimal adversarial
        point; NaN where none lies in the box). certified (N,) float64: the largest ε that
        CROWN proves safe (advcore.certify), certified ≤ ε* always. segments: how many
        boundary segments the enumeration found. Feature units.
    """

    norm: str
    eps_star: np.ndarray
    x_star: np.ndarray
    certified: np.ndarray
    segments: int
    eps_max: float

    def exact_accuracy(self, eps: float) -> float:
        """The true robust accuracy at ε: the share of points with ε* > ε."""
        return exact.exact_robust_accuracy(self.eps_star, eps)

    def certified_accuracy(self, eps: float) -> float:
        """The share of points certified at ε (a lower bound on robust accuracy)."""
        return certify.certified_accuracy(self.certified, eps)

    def missed(self, attacked: Attacked) -> np.ndarray:
        """(N,) bool: points the attack left correct though a perturbation within its ε flips
        them (its norm must be this truth's)."""
        still = attacked.prob_adv.argmax(1) == attacked.y
        return exact.missed_flips(self.eps_star, still, attacked.eps)

    def found_vs_exact(self, attacked: Attacked) -> tuple[int, float, float]:
        """How close the attack's distances get to the truth, over the points it flipped (right
        before, wrong after): (how many, mean ‖δ‖ it found, mean exact ε* of the same points),
        in the attack's norm (this truth's). ε* ≤ ‖δ‖ point by point; (0, nan, nan) if none."""
        picked = attacked.flipped & np.isfinite(self.eps_star)
        if not picked.any():
            return 0, float("nan"), float("nan")
        return (int(picked.sum()), float(attacked.perturbation[picked].mean()),
                float(self.eps_star[picked].mean()))

    def curves(self, epsilons: np.ndarray = TRUTH_EPSILONS) -> tuple[AccuracyCurve, ...]:
        """The exact and certified accuracy-vs-ε curves (the sandwich's two lower slices)."""
        grid = np.asarray(epsilons, np.float64)
        return (AccuracyCurve("exact", grid.astype(np.float32),
                              exact.exact_robust_accuracy(self.eps_star, grid).astype(np.float32)),
                AccuracyCurve("certified", grid.astype(np.float32),
                              certify.certified_accuracy(self.certified, grid).astype(
                                  np.float32)))


def truth_box(X: np.ndarray) -> exact.Box:
    """The box the boundary is enumerated in: the plotting window plus the slider's largest ε,
    so every ε* up to that ε is exact for every point in the window (exact.box_for)."""
    return exact.box_for(X, float(bounds_of(BoundaryScene, "eps")[1]), margin=GRID_MARGIN)


def ground_truth(model: nn.Module, X: np.ndarray, y: np.ndarray, *, norm: str,
                 segments: exact.Segments | None = None) -> GroundTruth:
    """Every point's exact ε* and nearest boundary point in `norm`, and its CROWN radius.

    segments: `exact.boundary_segments(model, truth_box(X))` if already computed (it depends on
    the model only: compute it once per model for both norms).
    """
    box = truth_box(X)
    seg = segments if segments is not None else exact.boundary_segments(model, box)
    found = exact.minimal_adversarial(model, X, y, norm=norm, box=box, segments=seg)
    radius = certify.certified_radius(model, X, y, method="crown", norm=norm)
    return GroundTruth(norm, found.eps, found.x_adv, radius, len(seg),
                       float(bounds_of(BoundaryScene, "eps")[1]))


# --- everything for one scene (notebooks and tests; the page caches the parts) ---------------


@dataclass(frozen=True)
class BoundaryResult:
    """One scene computed end to end: points, grid, attack and curve for one model."""

    X: np.ndarray
    y: np.ndarray
    grid: Grid
    attacked: Attacked
    curve: AccuracyCurve


def compute(scene: BoundaryScene, *, robust: bool = False,
            model: nn.Module | None = None) -> BoundaryResult:
    """Train (unless `model` is given), draw the grid, attack and sweep ε for one scene."""
    X, y = points_of(scene)
    model = model if model is not None else train_model(scene, robust=robust, points=(X, y))
    return BoundaryResult(
        X, y, decision_grid(model, X),
        attack_points(model, X, y, attack=scene.attack, eps=scene.eps, steps=scene.steps,
                      seed=scene.seed),
        accuracy_curve(model, X, y, attack=scene.attack, steps=scene.steps, seed=scene.seed),
    )
