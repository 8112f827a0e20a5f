"""The maths behind the attacks, computed live from real models, for the "How it works" page.

Every function takes a model and inputs and returns plain numpy arrays in a frozen dataclass, so
a page only draws them and a notebook can print them. Nothing here changes a model: gradients
are taken with `torch.autograd.grad` (or on copies of the parameters), and the demonstrations
that need a model in training mode or in float64 work on a deep copy.

1. `input_gradient`: ∇ₓ L, the gradient of the loss with respect to the *input* (one number per
   pixel), next to ∇_θ L (one per weight) and to what a numerical gradient of the *predictions*
   gives (seed 000's code: ten numbers about neighbouring classes, nothing about pixels).
2. `sign_vs_gradient`: for a linear function gᵀδ, sign(g) is the best step in the L∞ ball
   (gain ε‖g‖₁) and g/‖g‖₂ the best in the L2 ball (gain ε‖g‖₂).
3. `pgd_path`: PGD's iterates on a 2-D point, each step shown before and after its projection
   back onto the ε-ball.
4. `linearity`: Goodfellow et al. 2015's argument on softmax regression: a step ε·sign(w) moves a
   logit by exactly ε‖w‖₁, and ‖w‖₁ adds up over all 784 pixels.
5. `upper_bounds`: on the 2-D model, an attack's accuracy is an upper bound on robust accuracy
   and a certificate's a lower one: certified ≤ exact ≤ PGD with restarts ≤ FGSM.
Plus small demonstrations of the mistakes that `advcore.playground.mistakes` detects.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from advcore import attacks
from advcore.attacks._geometry import loss_gradient, normalized_step, project, random_in_ball
from advcore.attacks.pgd import STEP_FACTOR
from advcore.data import toy_dataset
from advcore.models import GLOBAL_RNG, LinearClassifier, toy_model
from advcore.playground.mistakes import (
    Check,
    check_eps_units,
    check_eval_mode,
    check_input_range,
    check_logits,
)
from advcore.train import train_toy

# MNIST's usual normalisation constants (torchvision's tutorial values), for the clipping demo.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


def _one(x: Tensor, y: Tensor | int) -> tuple[Tensor, Tensor]:
    """A single input as a batch of one: x (1, ...), y (1,) int64."""
    x = x.detach()
    if x.dim() in (1, 3):  # a 2-D point (2,) or an image (1, 28, 28)
        x = x.unsqueeze(0)
    y = torch.as_tensor(y, dtype=torch.int64).reshape(1)
    return x, y


def _loss(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float(F.cross_entropy(model(x), y))


# --- 1. the gradient of the loss with respect to the input -------------------------------------


@dataclass(frozen=True)
class InputGradient:
    """∇ₓ L for one input, and the two things it is often confused with.

    image: the input as the model sees it, (28, 28) for a digit or (2,) for a point.
    probs: (C,) softmax of the logits. loss: cross-entropy at the true label.
    grad: ∇ₓ L, the same shape as image: how the loss changes per unit change of each pixel.
    weight_shapes: (name, shape) of each parameter, i.e. the shapes of ∇_θ L; n_weights in all.
    linear_weight_grad: for a linear model, ∇_W L = (p − onehot(y)) xᵀ as (C, 28, 28) tiles
        (each tile is the input scaled by p_k − [k = y]); None for other models.
    seed_error: what seed 000's `np.gradient(model.predict(x))` raises on a (1, C) prediction.
    seed_gradient: (C,) the closest thing it could mean, np.gradient along the class axis.
    fd_estimate, fd_exact: a central finite difference of the *loss* along a random unit
        direction v (float64), and gᵀv: the numerical gradient done right agrees with autograd.
    """

    image: np.ndarray
    label: int
    probs: np.ndarray
    loss: float
    grad: np.ndarray
    weight_shapes: tuple[tuple[str, tuple[int, ...]], ...]
    n_weights: int
    linear_weight_grad: np.ndarray | None
    seed_error: str
    seed_gradient: np.ndarray
    fd_estimate: float
    fd_exact: float

    @property
    def prediction(self) -> int:
        return int(self.probs.argmax())

    @property
    def fd_agrees(self) -> bool:
        """Whether the finite difference matches gᵀv (to 0.1%). It need not for a ReLU/max-pool
        network at a digit where the loss has a kink (e.g. ties in max-pooling over a blank
        background): there autograd returns one one-sided slope, the difference their mean."""
        return abs(self.fd_estimate - self.fd_exact) <= 1e-3 * abs(self.fd_exact) + 1e-12


def weight_gradient(model: nn.Module, x: Tensor, y: Tensor) -> dict[str, Tensor]:
    """∇_θ L for every parameter θ, taken on detached copies: the model's own parameters, their
    `requires_grad` and `.grad` are untouched (shared models stay frozen)."""
    params = {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()}
    buffers = dict(model.named_buffers())
    with torch.enable_grad():
        logits = functional_call(model, (params, buffers), (x,))
        loss = F.cross_entropy(logits, y, reduction="sum")
        grads = torch.autograd.grad(loss, list(params.values()))
    return {k: g.detach() for k, g in zip(params, grads, strict=True)}


def seed_numerical_gradient(probs: np.ndarray) -> tuple[str, np.ndarray]:
    """What seed 000's `grad = np.gradient(model.predict(x.reshape(1, 784)))[0]` computes.

    probs: (1, C) predictions. As written the call raises (np.gradient needs two entries along
    every axis, and there is one row); returns that error message and np.gradient along the
    class axis, a (C,) vector of differences between neighbouring classes' probabilities.
    """
    try:
        np.gradient(probs)
        error = ""
    except ValueError as exc:
        error = f"ValueError: {exc}"
    return error, np.gradient(probs[0])


def exact_input_gradient(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """∇ₓ L of the mean cross-entropy, exactly as defined, in float64 on a copy of the model.

    x: (N, ...); returns float64 of x's shape. float64 keeps the true-class term of a confident
    prediction that float32 rounds away (the attacks' `loss_gradient` handles that case by
    switching to an equivalent direction; this page shows the gradient itself).
    """
    m64 = copy.deepcopy(model).double()
    x64 = x.detach().double().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(m64(x64), y)
        (grad,) = torch.autograd.grad(loss, x64)
    return grad


def directional_check(
    model: nn.Module, x: Tensor, y: Tensor, grad: Tensor, *, h: float = 1e-5, seed: int = 0
) -> tuple[float, float]:
    """(central finite difference of the loss along a random unit direction v, gᵀv), in float64.

    The correct numerical gradient differentiates the *loss* with respect to the *input*; done
    along one direction it must agree with autograd's g to many digits.
    """
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    v = v / v.norm()
    m64 = copy.deepcopy(model).double()
    x64 = x.double()
    plus = _loss(m64, x64 + h * v, y)
    minus = _loss(m64, x64 - h * v, y)
    return (plus - minus) / (2 * h), float((grad.double() * v).sum())


def input_gradient(model: nn.Module, x: Tensor, y: Tensor | int) -> InputGradient:
    """∇ₓ L of the cross-entropy at label y for one input x ((1, 28, 28), (2,) or batched as 1).

    See `InputGradient` for what is returned. The model is only read.
    """
    xb, yb = _one(x, y)
    grad = exact_input_gradient(model, xb, yb)
    with torch.no_grad():
        logits = model(xb)
    probs = torch.softmax(logits, 1)
    wgrads = weight_gradient(model, xb, yb)
    linear = None
    if isinstance(model, LinearClassifier) and xb[0].numel() == 784:
        linear = wgrads["linear.weight"].reshape(-1, 28, 28).numpy()
    error, seed_grad = seed_numerical_gradient(probs.numpy())
    fd, exact = directional_check(model, xb, yb, grad)
    shape = (28, 28) if xb[0].numel() == 784 else tuple(xb.shape[1:])
    return InputGradient(
        image=xb[0].reshape(shape).numpy(),
        label=int(yb),
        probs=probs[0].numpy(),
        loss=float(F.cross_entropy(logits, yb)),
        grad=grad[0].reshape(shape).float().numpy(),
        weight_shapes=tuple((k, tuple(g.shape)) for k, g in wgrads.items()),
        n_weights=sum(g.numel() for g in wgrads.values()),
        linear_weight_grad=linear,
        seed_error=error,
        seed_gradient=seed_grad,
        fd_estimate=fd,
        fd_exact=exact,
    )


# --- 2. why the sign -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StepGain:
    """One step δ within one budget, and what it buys.

    budget: "linf" (‖δ‖∞ ≤ ε) or "l2" (‖δ‖₂ ≤ ε√d, the L2 length of the sign step).
    direction: "sign" (ε·sign(g)) or "gradient" (g scaled to the edge of the ball).
    linear_gain: gᵀδ, the first-order loss increase. loss_change: the true L(x + δ) − L(x)
    (no clipping to the pixel range, so that only the geometry counts).
    """

    budget: str
    direction: str
    size_linf: float
    size_l2: float
    linear_gain: float
    loss_change: float


@dataclass(frozen=True)
class SignComparison:
    """Steps of the two directions under the two budgets, and the closed-form optima.

    eps: the L∞ radius; radius_l2 = ε√d. best_linf = ε‖g‖₁ (reached by the sign);
    best_l2 = ε√d·‖g‖₂ (reached by the normalised gradient). d: the number of input values.
    """

    eps: float
    radius_l2: float
    d: int
    steps: tuple[StepGain, ...]
    best_linf: float
    best_l2: float

    def gain(self, budget: str, direction: str) -> float:
        return next(s.linear_gain for s in self.steps
                    if s.budget == budget and s.direction == direction)


def sign_vs_gradient(model: nn.Module, x: Tensor, y: Tensor | int, *, eps: float) -> SignComparison:
    """Compare sign(g) and the normalised gradient under an L∞ budget ε and an L2 budget ε√d.

    Under L∞, max gᵀδ over ‖δ‖∞ ≤ ε is ε‖g‖₁, reached by δ = ε·sign(g) (each coordinate on its
    own goes as far as allowed in the direction that helps); the gradient direction scaled into
    the ball gains only ε‖g‖₂²/‖g‖∞. Under L2 the roles swap (Cauchy–Schwarz): ε√d·g/‖g‖₂ gains
    ε√d‖g‖₂ ≥ ε‖g‖₁, the gain of the sign step, which has the same L2 length.
    """
    xb, yb = _one(x, y)
    g = exact_input_gradient(model, xb, yb)
    d = g[0].numel()
    radius = eps * math.sqrt(d)
    base = _loss(model, xb, yb)
    gmax = float(g.abs().max()) or 1.0
    gl2 = float(g.norm()) or 1.0
    candidates = {
        ("linf", "sign"): eps * g.sign(),
        ("linf", "gradient"): eps * g / gmax,
        ("l2", "sign"): eps * g.sign(),
        ("l2", "gradient"): radius * g / gl2,
    }
    steps = tuple(
        StepGain(
            budget=budget,
            direction=direction,
            size_linf=float(delta.abs().max()),
            size_l2=float(delta.norm()),
            linear_gain=float((g * delta).sum()),
            loss_change=_loss(model, (xb.double() + delta).to(xb.dtype), yb) - base,
        )
        for (budget, direction), delta in candidates.items()
    )
    return SignComparison(
        eps=eps, radius_l2=radius, d=d, steps=steps,
        best_linf=eps * float(g.abs().sum()), best_l2=radius * float(g.norm()),
    )


# --- 3. the ε-ball and PGD's projection ----------------------------------------------------------

# The page's 2-D example: a small MLP on noisy moons, trained the same way every time.
MOONS = {"name": "moons", "n": 200, "noise": 0.15, "seed": 0}


def moons_model(seed: int = 0) -> tuple[nn.Module, np.ndarray, np.ndarray]:
    """A 2-32-32-2 MLP trained on the page's 200 noisy moons (well under a second on a CPU).

    Returns the model (eval mode), X (200, 2) standardised features and y (200,) labels.
    """
    X, y = toy_dataset(**MOONS)
    model = train_toy(toy_model("mlp", seed=seed), X, y, seed=seed)
    return model, X, y



@dataclass(frozen=True)
class ProjectionPath:
    """PGD on one 2-D point: where each step lands before and after projection onto the ball.

    center: (2,) the clean point x. label: its class. eps, norm, step_size: the ball and α.
    start: (2,) PGD's random start, a uniform point of the ball (the first step leaves from it).
    iterates: (steps + 1, 2) from `attacks.trajectory`: row 0 is x, row k the k-th iterate.
    proposals: (steps, 2) the k-th step before projection: from `start` (k = 0) or iterate k,
        α along the steepest-ascent direction; projecting proposal k gives iterate k + 1.
    outside: (steps,) bool, whether proposal k left the ball (projection moved it).
    predictions: (steps + 1,) the model's class at each iterate. gradient: (2,) ∇ₓ L at x.
    """

    center: np.ndarray
    label: int
    eps: float
    norm: str
    step_size: float
    start: np.ndarray
    iterates: np.ndarray
    proposals: np.ndarray
    outside: np.ndarray
    predictions: np.ndarray
    gradient: np.ndarray

    @property
    def flipped(self) -> bool:
        return bool(self.predictions[-1] != self.label)


def pgd_path(
    model: nn.Module,
    point: Tensor | np.ndarray,
    label: int,
    *,
    eps: float,
    steps: int = 10,
    norm: str = "linf",
    seed: int = 0,
) -> ProjectionPath:
    """Run PGD (Madry et al. 2018) with a random start on one unbounded 2-D point.

    The iterates come from `attacks.trajectory` (seeded by `seed`); the random start and the step
    before each projection are recomputed with the same shared geometry (`random_in_ball`,
    `loss_gradient`, `normalized_step`, `project`), so that projecting proposal k reproduces
    iterate k + 1 exactly (the tests hold the two to that).
    """
    xb, yb = _one(torch.as_tensor(np.asarray(point), dtype=torch.float32), label)
    attack = "pgd" if norm == "linf" else "pgd-l2"
    iterates = attacks.trajectory(model, xb, yb, attack=attack, eps=eps, steps=steps,
                                  bounds=None, seed=seed)[:, 0]
    eps_t = torch.tensor(float(eps))
    start = xb + random_in_ball(xb, eps_t, norm, torch.Generator().manual_seed(seed))  # type: ignore[arg-type]
    alpha = STEP_FACTOR * eps / steps
    leaving = torch.cat([start, iterates[1:-1]])  # where each step leaves from
    grads, _ = loss_gradient(model, leaving, yb.expand(steps))
    proposals = leaving + alpha * normalized_step(grads, norm)  # type: ignore[arg-type]
    reach = (proposals - xb).norm(dim=1) if norm == "l2" else (proposals - xb).abs().amax(1)
    with torch.no_grad():
        preds = model(iterates).argmax(1)
    g0, _ = loss_gradient(model, xb, yb)
    return ProjectionPath(
        center=xb[0].numpy(), label=int(yb), eps=float(eps), norm=norm, step_size=alpha,
        start=start[0].numpy(), iterates=iterates.numpy(), proposals=proposals.numpy(),
        outside=(reach > eps * (1 + 1e-6)).numpy(), predictions=preds.numpy(),
        gradient=g0[0].numpy(),
    )


def reproject(path: ProjectionPath) -> np.ndarray:
    """(steps, 2) the proposals projected onto the ball: equals path.iterates[1:]."""
    x = torch.from_numpy(path.center)
    delta = torch.from_numpy(path.proposals) - x
    return (x + project(delta, torch.tensor(path.eps), path.norm)).numpy()  # type: ignore[arg-type]


@dataclass(frozen=True)
class DecisionGrid:
    """P(class 1) of a 2-D model on a regular grid: xs (R,), ys (R,), prob (R, R) [row = y]."""

    xs: np.ndarray
    ys: np.ndarray
    prob: np.ndarray


def decision_grid(
    model: nn.Module, center: Sequence[float], half_width: float, resolution: int = 80
) -> DecisionGrid:
    """The model's P(class 1) on a square window of ±half_width around `center`."""
    cx, cy = float(center[0]), float(center[1])
    xs = np.linspace(cx - half_width, cx + half_width, resolution, dtype=np.float32)
    ys = np.linspace(cy - half_width, cy + half_width, resolution, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    pts = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1))
    with torch.no_grad():
        prob = torch.softmax(model(pts), 1)[:, 1].reshape(resolution, resolution)
    return DecisionGrid(xs, ys, prob.numpy())


# --- 5. attacks give upper bounds ---------------------------------------------------------------

SANDWICH_EPSILONS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(21))  # 0 … 1.0


@dataclass(frozen=True)
class UpperBounds:
    """Robust accuracy of the 2-D model told four ways, at ε and as curves over `epsilons`.

    epsilons (E,) feature units (L∞). fgsm, pgd_once, pgd (E,): accuracy under FGSM, PGD with
    one random start and PGD with `restarts` of them (a point counts as broken if any restart
    flips it): upper bounds.
    exact, certified (F,): the true robust accuracy (advcore.exact) and CROWN's lower bound, at
    each of fine_epsilons (F,), a 0.005 grid over the same range (step functions: cheap once
    every ε* and radius is known).
    At the page's ε: clean, fgsm_now, pgd_now, exact_now, certified_now (fractions); missed
    (M,) the points PGD with restarts still misses though a flip within ε exists, their ε*
    (M,), and flip_share (M,): the share of each one's ε-square that is misclassified,
    measured on a uniform sample (what a random start would have to hit).
    """

    eps: float
    steps: int
    restarts: int
    epsilons: np.ndarray
    fine_epsilons: np.ndarray
    fgsm: np.ndarray
    pgd_once: np.ndarray
    pgd: np.ndarray
    exact: np.ndarray
    certified: np.ndarray
    clean: float
    fgsm_now: float
    pgd_now: float
    exact_now: float
    certified_now: float
    missed: np.ndarray
    missed_eps_star: np.ndarray
    flip_share: np.ndarray


def _still_correct_after_restarts(model: nn.Module, x: Tensor, y: Tensor, *, eps: float,
                                  steps: int, restarts: int, seed: int) -> np.ndarray:
    """(N,) bool: no restart of PGD-L∞ (each from its own random start) flips the point.

    The restarts run as one batch of N × restarts copies (one seeded generator draws every
    start): a point and its copies never interact, and one big batch is far cheaper than
    `restarts` small ones."""
    xs, ys = x.repeat(restarts, 1), y.repeat(restarts)
    x_adv = attacks.pgd(model, xs, ys, eps=eps, steps=steps, bounds=None,
                        generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ok = (model(x_adv).argmax(1) == ys).reshape(restarts, len(y)).all(0)
    return ok.numpy()


def upper_bounds(model: nn.Module, X: np.ndarray, y: np.ndarray, *, eps: float,
                 steps: int = 20, restarts: int = 10, seed: int = 0, samples: int = 4000,
                 epsilons: Sequence[float] = SANDWICH_EPSILONS) -> UpperBounds:
    """The sandwich certified ≤ exact ≤ PGD-with-restarts ≤ FGSM on a 2-D model (L∞).

    X (N, 2) feature units, y (N,); eps the radius of the numbers "now". The exact answer and
    the certificates are computed once (advcore.exact, advcore.certify), the attacks at every ε
    of `epsilons` and at eps. Deterministic for a given seed.
    """
    from advcore import certify, exact  # the exact module imports nothing from here

    x, t = torch.from_numpy(X), torch.from_numpy(y)
    box = exact.box_for(X, max(max(epsilons), eps))
    found = exact.minimal_adversarial(model, X, y, norm="linf", box=box)
    radius = certify.certified_radius(model, X, y, method="crown", norm="linf")
    grid = np.asarray(epsilons, dtype=np.float64)
    fine = np.linspace(grid.min(), grid.max(), int(round((grid.max() - grid.min()) / 0.005)) + 1)

    def fgsm_accuracy(e: float) -> float:
        x_adv = attacks.fgsm(model, x, t, eps=e, bounds=None)
        with torch.no_grad():
            return float((model(x_adv).argmax(1) == t).float().mean())

    def pgd_correct(e: float, runs: int = restarts) -> np.ndarray:
        return _still_correct_after_restarts(model, x, t, eps=e, steps=steps, restarts=runs,
                                             seed=seed)

    with torch.no_grad():
        clean = float((model(x).argmax(1) == t).float().mean())
    still = pgd_correct(eps)
    missed = np.flatnonzero(exact.missed_flips(found.eps, still, eps))
    gen = torch.Generator().manual_seed(seed)
    shares = []
    for i in missed:
        cloud = x[i] + (torch.rand(samples, 2, generator=gen) * 2 - 1) * eps
        with torch.no_grad():
            shares.append(float((model(cloud).argmax(1) != t[i]).float().mean()))
    return UpperBounds(
        eps=float(eps), steps=steps, restarts=restarts, epsilons=grid.astype(np.float32),
        fine_epsilons=fine.astype(np.float32),
        fgsm=np.array([fgsm_accuracy(e) for e in grid], np.float32),
        pgd_once=np.array([pgd_correct(e, 1).mean() for e in grid], np.float32),
        pgd=np.array([pgd_correct(e).mean() for e in grid], np.float32),
        exact=exact.exact_robust_accuracy(found.eps, fine).astype(np.float32),
        certified=certify.certified_accuracy(radius, fine).astype(np.float32),
        clean=clean, fgsm_now=fgsm_accuracy(eps), pgd_now=float(still.mean()),
        exact_now=exact.exact_robust_accuracy(found.eps, eps),
        certified_now=certify.certified_accuracy(radius, eps),
        missed=missed, missed_eps_star=found.eps[missed], flip_share=np.array(shares),
    )


# --- 4. Goodfellow's linearity argument ----------------------------------------------------------


@dataclass(frozen=True)
class Linearity:
    """How the margin of softmax regression falls along δ = −ε·sign(w), w = w_label − w_other.

    margin: z_label − z_other at ε = 0 (other: the runner-up class). l1: ‖w‖₁ over the d pixels.
    epsilons: (E,). predicted: (E,) ε‖w‖₁, the exact fall for a linear model. measured: (E,) the
    fall actually seen without clipping; measured_clipped: (E,) with the image clipped to
    [0, 1], which real images must respect (pixels already at 0 or 1 cannot move further).
    flip_eps: margin / ‖w‖₁, the ε at which the prediction changes (no clipping).
    abs_w: (28, 28) |w| per pixel. cumulative: (d,) ‖w‖₁ summed over the first n pixels of a
    fixed random order: it grows about linearly with n (mean |w| per pixel: mean_abs_w).
    """

    label: int
    other: int
    margin: float
    l1: float
    epsilons: np.ndarray
    predicted: np.ndarray
    measured: np.ndarray
    measured_clipped: np.ndarray
    flip_eps: float
    abs_w: np.ndarray
    cumulative: np.ndarray
    mean_abs_w: float


def linear_weights(model: nn.Module) -> tuple[Tensor, Tensor]:
    """(W (C, d), b (C,)) of a linear classifier; ValueError for any other model."""
    if not isinstance(model, LinearClassifier):
        raise ValueError(
            f"the linearity argument is exact only for a linear model, got {type(model).__name__}"
        )
    return model.linear.weight.detach(), model.linear.bias.detach()


def linearity(
    model: nn.Module, x: Tensor, y: Tensor | int, epsilons: Sequence[float], *, seed: int = 0
) -> Linearity:
    """Goodfellow et al. 2015, §3: for wᵀx̃ = wᵀx + wᵀη with η = ε·sign(w), the activation moves by
    ε‖w‖₁, which grows with the dimension d although no pixel moves by more than ε.

    x: one digit (1, 28, 28) in [0, 1]; y its label. The margin z_y − z_other is itself linear,
    with weights w = w_y − w_other, so a step −ε·sign(w) lowers it by exactly ε‖w‖₁.
    """
    W, _ = linear_weights(model)
    xb, yb = _one(x, y)
    label = int(yb)
    with torch.no_grad():
        z = model(xb)[0]
        rivals = z.clone()
        rivals[label] = -math.inf
        other = int(rivals.argmax())
        w = W[label] - W[other]
        eps_t = torch.tensor([float(e) for e in epsilons], dtype=torch.float32)
        delta = -eps_t.reshape(-1, 1) * w.sign()  # (E, d)
        flat = xb.flatten(1)

        def margins(inputs: Tensor) -> Tensor:
            out = model(inputs)
            return out[:, label] - out[:, other]

        m0 = float(z[label] - z[other])
        measured = m0 - margins(flat + delta)
        clipped = m0 - margins((flat + delta).clamp(0.0, 1.0))
    l1 = float(w.abs().sum())
    order = torch.randperm(w.numel(), generator=torch.Generator().manual_seed(seed))
    side = int(math.isqrt(w.numel()))
    abs_w = w.abs().reshape(side, side) if side * side == w.numel() else w.abs()
    return Linearity(
        label=label, other=other, margin=m0, l1=l1,
        epsilons=eps_t.numpy(), predicted=(eps_t * l1).numpy(),
        measured=measured.numpy(), measured_clipped=clipped.numpy(),
        flip_eps=m0 / l1 if l1 else math.inf,
        abs_w=abs_w.numpy(), cumulative=w.abs()[order].cumsum(0).numpy(),
        mean_abs_w=float(w.abs().mean()),
    )


# --- the mistakes, demonstrated ------------------------------------------------------------------


@dataclass(frozen=True)
class TrainModeDemo:
    """One input through a model in eval mode and in `calls` training-mode forward passes.

    eval_logits: (C,). train_logits: (calls, C), on a copy of the model switched to train().
    differs: whether the training-mode calls disagree. sign_flips: the fraction of pixels whose
    sign(∇ₓ L) differs between the first two training-mode passes (0 in eval mode): how much the
    FGSM direction itself moves. checks: the eval-mode check on the model as given and on the copy.
    """

    eval_logits: np.ndarray
    train_logits: np.ndarray
    differs: bool
    sign_flips: float
    checks: tuple[Check, Check]


def train_mode_demo(model: nn.Module, x: Tensor, y: Tensor | int, *, calls: int = 3,
                    seed: int = 0) -> TrainModeDemo:
    """What a model left in training mode does: dropout draws a new mask at every call.

    Works on a deep copy switched to train(), with a seeded dropout stream, so the caller's
    model and the global random state are untouched.
    """
    xb, yb = _one(x, y)
    twin = copy.deepcopy(model).train()
    with GLOBAL_RNG, torch.random.fork_rng(devices=[]):  # fork_rng alone is not thread-safe
        torch.manual_seed(seed)
        with torch.no_grad():
            eval_logits = model(xb)[0]
            train_logits = torch.stack([twin(xb)[0] for _ in range(calls)])
        g1 = plain_input_gradient(twin, xb, yb)
        g2 = plain_input_gradient(twin, xb, yb)
    differs = not all(torch.equal(train_logits[0], t) for t in train_logits[1:])
    checks = (check_eval_mode(model, xb), check_eval_mode(twin))
    return TrainModeDemo(eval_logits.numpy(), train_logits.numpy(), differs,
                         float((g1.sign() != g2.sign()).float().mean()), checks)


@dataclass(frozen=True)
class ClipDemo:
    """A digit as it should be, normalised, and normalised-then-clipped, each (28, 28), with
    the range check on each and the model's prediction when each is fed to it."""

    raw: np.ndarray
    normalised: np.ndarray
    clipped: np.ndarray
    checks: tuple[Check, Check, Check]
    predictions: tuple[int, int, int]


def normalise_then_clip_demo(
    model: nn.Module, x: Tensor, *, mean: float = MNIST_MEAN, std: float = MNIST_STD
) -> ClipDemo:
    """The classic pre-processing bug: (x − mean)/std, then clamp to [0, 1] "to keep it valid".

    x: one digit (1, 28, 28) in [0, 1]. The model expects raw [0, 1] pixels.
    """
    xb = x.detach() if x.dim() == 4 else x.detach().unsqueeze(0)
    normalised = (xb - mean) / std
    clipped = normalised.clamp(0.0, 1.0)
    images = (xb, normalised, clipped)
    with torch.no_grad():
        preds = tuple(int(model(im).argmax(1)) for im in images)
    checks = tuple(check_input_range(im) for im in images)
    return ClipDemo(
        raw=xb[0, 0].numpy(), normalised=normalised[0, 0].numpy(), clipped=clipped[0, 0].numpy(),
        checks=checks, predictions=preds,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class SoftmaxDemo:
    """Cross-entropy fed logits (right) or softmax probabilities (wrong), along one digit's FGSM
    path: epsilons (E,); loss_right / loss_wrong (E,): the loss each version *sees* at the
    adversarial input it built; true_prob_right / true_prob_wrong (E,): the model's real
    probability of the true class there. grad_norm_right / grad_norm_wrong: ‖∇ₓ L‖₂ at ε = 0;
    sign_agreement: fraction of pixels whose gradient sign agrees; zero_share: fraction of pixels
    where the wrong gradient is exactly 0 (FGSM does not move them). checks: the logits check
    on the model's outputs and on the softmax outputs."""

    epsilons: np.ndarray
    loss_right: np.ndarray
    loss_wrong: np.ndarray
    true_prob_right: np.ndarray
    true_prob_wrong: np.ndarray
    grad_norm_right: float
    grad_norm_wrong: float
    sign_agreement: float
    zero_share: float
    checks: tuple[Check, Check]


def with_softmax(model: nn.Module) -> nn.Module:
    """The mistake, built: `model` followed by a softmax, so it outputs probabilities.

    The wrapper is put in eval mode by flag only: `model`'s own mode is not touched.
    """
    wrong = nn.Sequential(model, nn.Softmax(dim=1))
    wrong.training = False
    wrong[1].training = False
    return wrong


def plain_input_gradient(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """∇ₓ of F.cross_entropy(model(x), y) in float32, as a user's own code would compute it."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    return grad


def softmax_as_logits_demo(
    model: nn.Module, x: Tensor, y: Tensor | int, epsilons: Sequence[float]
) -> SoftmaxDemo:
    """Attack the same digit through the model and through model + softmax (the mistake).

    Cross-entropy applies its own softmax; on probabilities that second softmax squashes the loss
    into [log(1 + (C−1)/e), log(e + C − 1)] (1.46 to 2.46 for 10 classes) and shrinks ∇ₓ L.
    """
    xb, yb = _one(x, y)
    wrong = with_softmax(model)
    g_right = plain_input_gradient(model, xb, yb)
    g_wrong = plain_input_gradient(wrong, xb, yb)
    rows: list[tuple[float, float, float, float]] = []
    for eps in epsilons:
        a_right = attacks.fgsm(model, xb, yb, eps=float(eps))
        a_wrong = attacks.fgsm(wrong, xb, yb, eps=float(eps))
        with torch.no_grad():
            rows.append((
                float(F.cross_entropy(model(a_right), yb)),
                float(F.cross_entropy(wrong(a_wrong), yb)),
                float(torch.softmax(model(a_right), 1)[0, int(yb)]),
                float(torch.softmax(model(a_wrong), 1)[0, int(yb)]),
            ))
    cols = np.array(rows, dtype=np.float64).T
    with torch.no_grad():
        checks = (check_logits(model(xb)), check_logits(wrong(xb)))
    return SoftmaxDemo(
        epsilons=np.asarray(epsilons, dtype=np.float64),
        loss_right=cols[0], loss_wrong=cols[1], true_prob_right=cols[2], true_prob_wrong=cols[3],
        grad_norm_right=float(g_right.norm()), grad_norm_wrong=float(g_wrong.norm()),
        sign_agreement=float((g_right.sign() == g_wrong.sign()).float().mean()),
        zero_share=float((g_wrong == 0).float().mean()),
        checks=checks,
    )


@dataclass(frozen=True)
class EpsUnitsDemo:
    """One digit under FGSM at several ε values on the [0, 1] scale.

    epsilons: (E,). images: (E, 28, 28) adversarial digits. predictions: (E,) classes.
    checks: the ε-units check for each ε (and for `quoted`, an ε written in grey levels).
    """

    epsilons: np.ndarray
    images: np.ndarray
    predictions: np.ndarray
    clean: np.ndarray
    label: int
    checks: tuple[Check, ...]


def eps_units_demo(
    model: nn.Module, x: Tensor, y: Tensor | int, epsilons: Sequence[float] = (8 / 255, 0.3)
) -> EpsUnitsDemo:
    """FGSM on one digit at each ε (default 8/255 ≈ 0.031, the CIFAR convention, and 0.3, the
    MNIST one): the same word "ε" for budgets ten times apart."""
    xb, yb = _one(x, y)
    advs = torch.cat([attacks.fgsm(model, xb, yb, eps=float(e)) for e in epsilons])
    with torch.no_grad():
        preds = model(advs).argmax(1)
    return EpsUnitsDemo(
        epsilons=np.asarray(epsilons, dtype=np.float64),
        images=advs[:, 0].numpy(), predictions=preds.numpy(), clean=xb[0, 0].numpy(),
        label=int(yb), checks=tuple(check_eps_units(float(e)) for e in epsilons),
    )
