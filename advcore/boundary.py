"""What the boundary page computes: a 2-D classifier, its decision grid, and every point's journey
across the boundary under an attack (no Streamlit).

The pieces are split by what they depend on, so a page can cache each one on its own key:

- `train_model`: the data and model fields of a scene (plus attack and ε for the adversarially
  trained model). Changing only ε, the attack or the steps never retrains the standard model.
- `decision_grid`: the trained model only.
- `attack_points`: the model and the attack fields; this is what moving ε recomputes.
- `accuracy_curve`: the model, the attack and its steps, over a fixed ε grid (not ε itself).

Units: points are standardised 2-D features (N, 2) float32; ε is a radius in those units, in the
attack's norm (L∞ for FGSM/BIM/PGD, L2 for PGD-L2 and DeepFool). No clipping (`bounds=None`).
Adversarial training as data augmentation: Goodfellow et al. 2015 (FGSM), Madry et al. 2018 (PGD).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from advcore.attacks import get_attack, trajectory
from advcore.data import toy_dataset
from advcore.models import toy_model
from advcore.state import BoundaryScene
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


# --- data and models --------------------------------------------------------------------------


def points_of(scene: BoundaryScene) -> tuple[np.ndarray, np.ndarray]:
    """The scene's points X (N, 2) float32 standardised and labels y (N,) int64 in {0, 1}."""
    return toy_dataset(scene.dataset, n=scene.n, noise=scene.noise, seed=scene.seed)


def train_model(scene: BoundaryScene, *, robust: bool = False) -> nn.Module:
    """The scene's classifier, trained on its points, in eval mode.

    robust=False: standard training; only dataset, n, noise, seed, model, width and depth matter.
    robust=True: the same network (same initial weights) trained on each point and its
    `scene.attack` version at `scene.eps`, recomputed every epoch against the current model.
    """
    X, y = points_of(scene)
    model = toy_model(scene.model, width=scene.width, depth=scene.depth, seed=scene.seed)
    if robust and scene.eps > 0:
        return train_toy(model, X, y, epochs=TRAIN_EPOCHS, seed=scene.seed,
                         adversarial=scene.attack, eps=scene.eps, steps=ROBUST_TRAIN_STEPS)
    return train_toy(model, X, y, epochs=TRAIN_EPOCHS, seed=scene.seed)


def training_key(scene: BoundaryScene, *, robust: bool = False) -> tuple:
    """The scene fields a trained model depends on: a cache key that ignores ε for the standard
    model, and the attack and ε (not the steps) for the adversarially trained one."""
    key = (scene.dataset, scene.n, scene.noise, scene.seed, scene.model, scene.width,
           scene.depth)
    return (*key, scene.attack, scene.eps) if robust and scene.eps > 0 else key


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
    x = torch.from_numpy(X).requires_grad_(True)
    loss = F.cross_entropy(model(x), torch.from_numpy(y), reduction="sum")
    (g,) = torch.autograd.grad(loss, x)
    g = g.numpy()
    if norm == "linf":
        return (eps * np.sign(g)).astype(np.float32)
    length = np.sqrt((g ** 2).sum(1, keepdims=True))
    return (eps * g / np.maximum(length, 1e-12)).astype(np.float32)


def attack_points(model: nn.Module, X: np.ndarray, y: np.ndarray, *, attack: str, eps: float,
                  steps: int, seed: int = 0) -> Attacked:
    """Attack every point and record the animation from clean to adversarial.

    FGSM: the frames sweep ε from 0 to `eps` (its single step, at growing radius).
    Iterative attacks: the frames are the attack's iterates (advcore.attacks.trajectory), at
    most MAX_FRAMES of them, evenly subsampled; the last frame is the attack's output.
    Deterministic: the same arguments give identical arrays.
    """
    spec = get_attack(attack)
    x, t = torch.from_numpy(X), torch.from_numpy(y)
    path_steps = FGSM_FRAMES if not spec.iterative else steps
    path = trajectory(model, x, t, attack=attack, eps=eps, steps=path_steps, bounds=None,
                      seed=seed).detach()
    keep = _frame_indices(len(path))
    frames = path[keep].numpy().astype(np.float32)
    if spec.iterative:
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
    return Attacked(
        attack=attack, norm=spec.norm, eps=float(eps), steps=int(steps), frames=frames,
        frame_eps=frame_eps, frame_label=labels, frame_wrong=wrong, x_adv=x_adv,
        prob_clean=probs[0], prob_adv=probs[-1],
        direction=step_direction(model, X, y, eps=eps, norm=spec.norm),
        flipped=~wrong[0] & wrong[-1],
        perturbation=norm_of(x_adv - X, spec.norm).astype(np.float32),
        y=y,
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
    """Accuracy of `model` on (X, y) under `attack` at each of `epsilons` (feature units)."""
    spec = get_attack(attack)
    x, t = torch.from_numpy(X), torch.from_numpy(y)
    acc = []
    for e in epsilons:
        x_adv = spec(model, x, t, eps=e, steps=steps, bounds=None, seed=seed)
        with torch.no_grad():
            acc.append(float((model(x_adv).argmax(1) == t).float().mean()))
    return AccuracyCurve(attack, np.asarray(epsilons, np.float32), np.asarray(acc, np.float32))


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
    model = model if model is not None else train_model(scene, robust=robust)
    return BoundaryResult(
        X, y, decision_grid(model, X),
        attack_points(model, X, y, attack=scene.attack, eps=scene.eps, steps=scene.steps,
                      seed=scene.seed),
        accuracy_curve(model, X, y, attack=scene.attack, steps=scene.steps, seed=scene.seed),
    )
