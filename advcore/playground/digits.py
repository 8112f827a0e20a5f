"""What the digits page computes, as plain functions of a model and a digit (no Streamlit).

Results come back as frozen dataclasses of numpy arrays, so a Streamlit cache can store them and a
figure builder can draw them. Images are (28, 28) float32 in [0, 1] (ink = 1); ε is on the [0, 1]
pixel scale for L∞ attacks (0.1 = 25.5/255) and an L2 radius over the whole 28×28 image for the
L2 attacks (DeepFool, C&W, Square-L2, HopSkipJump), where for the minimal ones ε only caps the
perturbation found.

`steps` means what the attack counts: the iterations of an iterative gradient attack, and the
query budget per digit of a black-box one (Square, HopSkipJump), which takes no steps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import Tensor, nn

from advcore.attacks import AttackResult, get_attack
from advcore.attacks._geometry import as_eps, cap, clip_to_bounds, loss_gradient
from advcore.cancel import ShouldStop, interruptible
from advcore.evaluate import smallest_flipping_eps

N_CLASSES = 10
SEED = 0  # PGD's random start; part of the picture, so fixed (same URL, same picture)
# The largest ε the fragility chart searches, per norm (the page's slider ranges).
FRAGILITY_EPS_MAX = {"linf": 0.5, "l2": 10.0}
# Bisection precision: half a grey level under L∞, a twentieth of a pixel's full swing under L2.
FRAGILITY_TOL = {"linf": 1 / 510, "l2": 0.02}
# A black-box attack that fails spends its whole query budget, and a bisection fails about half
# its runs: it searches to 1/102 (L∞, 2.5 grey levels) or 0.1 (L2), 6 halvings instead of 8.
FRAGILITY_TOL_BLACK_BOX = {"linf": 1 / 102, "l2": 0.1}
# Attacks whose walk never looks at ε: ε only caps the point they yield (HopSkipJump walks
# along the boundary from a misclassified start, then projects onto the ε-ball). One uncapped
# run per digit then serves every ε: `cap` of it is exactly the attack at that ε, queries
# included.
CAP_ONLY = frozenset({"hsja"})


@dataclass(frozen=True)
class DigitAttack:
    """One digit before and after an attack.

    clean, adversarial, perturbation: (28, 28) float32; perturbation = adversarial − clean, in
    [−ε, ε] per pixel for L∞ attacks. probs_clean, probs_adv: (10,) softmax probabilities.
    label: the class the attack moves away from (the true class, or the model's own guess for a
    drawn digit); target: the class a targeted attack moves towards, else None.
    """

    clean: np.ndarray
    adversarial: np.ndarray
    perturbation: np.ndarray
    probs_clean: np.ndarray
    probs_adv: np.ndarray
    label: int
    target: int | None
    # What the attack cost: a black-box attack's model calls for this digit (its own count), or
    # a gradient attack's forward+backward passes (counted at the model); None if not measured.
    queries: int | None = None
    gradients: int | None = None

    @property
    def pred_clean(self) -> int:
        return int(self.probs_clean.argmax())

    @property
    def pred_adv(self) -> int:
        return int(self.probs_adv.argmax())

    @property
    def flipped(self) -> bool:
        """The prediction changed under the attack."""
        return self.pred_adv != self.pred_clean

    @property
    def success(self) -> bool:
        """Targeted: the target now wins. Untargeted: the label no longer wins."""
        return self.pred_adv == self.target if self.target is not None else self.pred_adv != self.label

    @property
    def linf(self) -> float:
        """‖δ‖∞ on the [0, 1] scale."""
        return float(np.abs(self.perturbation).max())

    @property
    def l2(self) -> float:
        """‖δ‖₂ over the 784 pixels, on the [0, 1] scale."""
        return float(np.sqrt((self.perturbation.astype(np.float64) ** 2).sum()))


@dataclass(frozen=True)
class LogitRace:
    """The attack re-run at growing ε: epsilons (F,), images (F, 28, 28), logits (F, 10)."""

    epsilons: np.ndarray
    images: np.ndarray
    logits: np.ndarray

    @property
    def predictions(self) -> np.ndarray:
        return self.logits.argmax(1)


@dataclass(frozen=True)
class Gallery:
    """Test digits attacked with one setting.

    indices (G,) into the test set; clean, adversarial (G, 28, 28); labels, pred_clean,
    pred_adv (G,) int64.
    """

    indices: np.ndarray
    clean: np.ndarray
    adversarial: np.ndarray
    labels: np.ndarray
    pred_clean: np.ndarray
    pred_adv: np.ndarray
    queries: np.ndarray  # (G,) int64: a black-box attack's model calls per digit, else zeros

    @property
    def flipped(self) -> np.ndarray:
        """(G,) bool: correct before the attack, wrong after it."""
        return (self.pred_clean == self.labels) & (self.pred_adv != self.labels)

    @classmethod
    def concat(cls, parts: Sequence[Gallery]) -> Gallery:
        """One gallery from galleries computed chunk by chunk, in order."""
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts])
                     for f in fields(cls)))


@dataclass(frozen=True)
class Counts:
    """Tallies over a batch of test digits: how many, right before, right after, hit the target."""

    n: int
    correct_clean: int
    correct_adv: int
    hit_target: int
    eligible_target: int  # digits whose label is not the target (a target attack can succeed)

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(self._tuple(), other._tuple(), strict=True)))

    def _tuple(self) -> tuple[int, int, int, int, int]:
        return (self.n, self.correct_clean, self.correct_adv, self.hit_target,
                self.eligible_target)


@dataclass(frozen=True)
class GradientSign:
    """FGSM's direction for a batch of digits, which does not depend on ε.

    sign: (N, 1, 28, 28) int8 in {−1, 0, 1}, sign of the loss gradient with respect to the input
    (descended towards `target` when given); logits: (N, 10) float32 at the clean digits (the
    forward pass the gradient took). FGSM at any ε is then clip(x + ε·sign, 0, 1) with no model
    call: one gradient serves every position of the ε slider (Goodfellow et al. 2015's step).
    """

    sign: np.ndarray
    logits: np.ndarray
    target: int | None

    @property
    def pred_clean(self) -> np.ndarray:
        return self.logits.argmax(1)


def gradient_sign(model: nn.Module, x: np.ndarray | Tensor, y: np.ndarray | Tensor, *,
                  target: int | None = None,
                  should_stop: ShouldStop | None = None) -> GradientSign:
    """sign(∇ₓ loss) for digits x (N, 1, 28, 28) in [0, 1] with classes y (N,): FGSM's step
    for every ε at once. With `target`, the targeted loss (its gradient negated, as fgsm does).
    Batch the digits as the ε-dependent call would have been batched: the gradient is then
    bit for bit the one `fgsm` takes, and so is every image built from it."""
    model = interruptible(model, should_stop)
    xb = _as_batch(x)
    yb = torch.as_tensor(np.asarray(y), dtype=torch.int64).reshape(-1)
    goal = yb if target is None else torch.full_like(yb, target)
    grad, logits = loss_gradient(model, xb, goal, targeted=target is not None)
    return GradientSign(sign=grad.sign().to(torch.int8).numpy(),
                        logits=logits.detach().numpy().astype(np.float32), target=target)


def fgsm_from_sign(x: Tensor, sign: GradientSign | np.ndarray, eps: float | Tensor) -> Tensor:
    """FGSM's adversarial digits at `eps` (a float, or (N,) per digit) from a cached sign:
    exactly `attacks.fgsm(model, x, y, eps=eps)` for the digits the sign was taken at."""
    s = sign.sign if isinstance(sign, GradientSign) else sign
    if isinstance(eps, Tensor) and eps.dim() == 0:
        eps = float(eps)
    if not isinstance(eps, Tensor) and eps == 0:
        return x
    step = torch.from_numpy(np.ascontiguousarray(s)).to(x.dtype).reshape(x.shape)
    return clip_to_bounds(x + as_eps(eps, x) * step, (0.0, 1.0))


def _as_batch(x: np.ndarray | Tensor) -> Tensor:
    t = torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(-1, 1, 28, 28)
    return t.clamp(0.0, 1.0)


def _probs(model: nn.Module, x: Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(model(x), dim=1).numpy()


def _run(model: nn.Module, x: Tensor, y: Tensor, *, attack: str, eps: float | Tensor | None,
         steps: int, target: int | None) -> AttackResult:
    """The registered attack, towards `target` when given (y then holds the target). For a
    black-box attack `steps` is its query budget. eps None: a CAP_ONLY attack uncapped."""
    spec = get_attack(attack)
    goal = y if target is None else torch.full_like(y, target)
    budget = {"queries": int(steps)} if spec.black_box else {}
    return spec.run(model, x, goal, eps=eps, steps=steps, targeted=target is not None,  # type: ignore[arg-type]
                    bounds=(0.0, 1.0), seed=SEED, **budget)


class _Tap(torch.autograd.Function):
    """The identity, whose backward calls `counter._backward()`: a backward pass through it is
    a backward pass through the model behind it (a gradient taken only up to the logits, as
    the loss's own saturation check takes one, never reaches it)."""

    @staticmethod
    def forward(ctx, out: Tensor, counter: GradientCounter) -> Tensor:  # type: ignore[override]
        ctx.counter = counter
        return out.view_as(out)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        ctx.counter.backwards += 1
        return grad, None


class GradientCounter(nn.Module):
    """`model`, counting its forward passes and the backward passes through it. Held, not
    registered, as `Interruptible` holds it: the wrapper can never change the shared model;
    `training` mirrors its mode."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        object.__setattr__(self, "inner", model)
        self.training = model.training
        self.forwards = 0
        self.backwards = 0

    def forward(self, x: Tensor) -> Tensor:
        out = self.inner(x)
        self.forwards += 1
        return _Tap.apply(out, self) if out.requires_grad else out


def walk(model: nn.Module, x: Tensor, y: Tensor, *, attack: str, steps: int,
         target: int | None = None) -> AttackResult:
    """A CAP_ONLY attack's uncapped result for digits x (N, 1, 28, 28) with classes y (N,):
    `advcore.sweep.cap(x, walk(...).x_adv, eps)` is the attack at any ε, and its queries are
    the same."""
    if attack not in CAP_ONLY:
        raise ValueError(f"{attack} is not an attack whose ε only caps its result")
    return _run(model, x, y, attack=attack, eps=None, steps=steps, target=target)


def predicted_class(model: nn.Module, digit: np.ndarray | Tensor) -> int:
    """The model's class for one digit (1, 1, 28, 28) or (28, 28) in [0, 1]."""
    return int(_probs(model, _as_batch(digit)).argmax())


def attack_digit(
    model: nn.Module,
    digit: np.ndarray,
    label: int,
    *,
    attack: str,
    eps: float,
    steps: int,
    target: int | None = None,
    sign: GradientSign | None = None,
    walked: AttackResult | None = None,
) -> DigitAttack:
    """Attack one digit (1, 1, 28, 28) or (28, 28) in [0, 1] whose class is `label`.

    eps: L∞ radius on [0, 1] pixels, or L2 radius for the L2 attacks; steps: iterations of the
    iterative attacks (DeepFool and C&W run at least 50), or a black-box attack's query budget.
    target: a class to move towards with a targeted attack, or None to move away from `label`.
    sign: for FGSM, this digit's `gradient_sign` (towards `target`), so that a new ε costs one
    forward pass, not three. walked: for a CAP_ONLY attack, this digit's `walk`, so that a new
    ε costs one forward pass.
    The result says what the attack cost: `queries` (black-box: its own count) or `gradients`
    (forward+backward passes through the model; FGSM's is 1, cached sign or not).
    """
    x = _as_batch(digit)
    y = torch.tensor([int(label)])
    spec = get_attack(attack)
    queries = gradients = None
    if attack == "fgsm" and sign is not None:
        x_adv = fgsm_from_sign(x, sign, eps)
        probs_clean = torch.softmax(torch.from_numpy(sign.logits), dim=1).numpy()[0]
        gradients = 1
    elif walked is not None:
        x_adv = cap(x, walked.x_adv, eps)
        queries = None if walked.queries is None else int(walked.queries[0])
        probs_clean = _probs(model, x)[0]
    else:
        counter = GradientCounter(model)
        found = _run(counter if not spec.black_box else model, x, y, attack=attack, eps=eps,
                     steps=steps, target=target)
        x_adv = found.x_adv
        if spec.black_box:
            queries = None if found.queries is None else int(found.queries[0])
        else:
            gradients = counter.backwards
        probs_clean = _probs(model, x)[0]
    clean, adv = x[0, 0].numpy(), x_adv[0, 0].numpy()
    return DigitAttack(
        clean=clean, adversarial=adv, perturbation=adv - clean,
        probs_clean=probs_clean, probs_adv=_probs(model, x_adv)[0],
        label=int(label), target=target, queries=queries, gradients=gradients,
    )


def race_epsilons(eps: float, frames: int) -> np.ndarray:
    """(frames,) evenly spaced ε from 0 to `eps` inclusive."""
    if frames < 2:
        raise ValueError(f"frames must be >= 2, got {frames}")
    return np.linspace(0.0, float(eps), frames, dtype=np.float64)


def logit_race(
    model: nn.Module,
    result: DigitAttack,
    *,
    attack: str,
    eps: float,
    steps: int,
    frames: int = 11,
    sign: GradientSign | None = None,
) -> LogitRace:
    """The logits as ε grows from 0 to `eps`: the attack re-run at each of `frames` budgets.

    All intermediate budgets run in one batch (one ε per copy of the digit). The first frame is
    the clean digit and the last is `result` itself, so the race ends exactly on the picture
    shown in the panels. For the minimal attacks (DeepFool, C&W), ε only caps the perturbation
    they find, so each frame caps `result`'s perturbation at that ε (its projection onto the
    L2 ball). For C&W that is exactly what a re-run would return; for DeepFool it is the found
    perturbation under a smaller cap, which saves up to 50 iterations per frame.
    """
    epsilons = race_epsilons(eps, frames)
    x = _as_batch(result.clean)
    inner = epsilons[1:-1]
    images = [x]
    spec = get_attack(attack)
    if len(inner) and eps > 0 and spec.minimal:
        k = len(inner)
        images.append(cap(x.repeat(k, 1, 1, 1), _as_batch(result.adversarial).repeat(k, 1, 1, 1),
                          torch.tensor(inner, dtype=torch.float32)))
    elif len(inner) and eps > 0 and attack == "fgsm" and sign is not None:
        # One gradient for every frame (it does not depend on ε): no model call but the logits.
        xs = x.repeat(len(inner), 1, 1, 1)
        images.append(fgsm_from_sign(xs, np.repeat(sign.sign, len(inner), axis=0),
                                     torch.tensor(inner, dtype=torch.float32)))
    elif len(inner) and eps > 0:
        xs = x.repeat(len(inner), 1, 1, 1)
        ys = torch.full((len(inner),), result.label, dtype=torch.int64)
        images.append(_run(model, xs, ys, attack=attack, eps=torch.tensor(inner, dtype=torch.float32),
                           steps=steps, target=result.target).x_adv)
    elif len(inner):
        images.append(x.repeat(len(inner), 1, 1, 1))
    images.append(_as_batch(result.adversarial))
    batch = torch.cat(images)
    with torch.no_grad():
        logits = model(batch).numpy()
    return LogitRace(epsilons=epsilons, images=batch[:, 0].numpy(), logits=logits)


def fragility(
    models: Mapping[str, nn.Module],
    digit: np.ndarray,
    labels: Mapping[str, int],
    *,
    attack: str,
    steps: int,
) -> dict[str, float]:
    """Per model, the smallest ε at which the (untargeted) attack changes the prediction.

    labels: per model, the class to move away from. 0 means the model is already wrong; inf means
    no ε up to FRAGILITY_EPS_MAX[norm] flips it. Searches by bisection (evaluate.
    smallest_flipping_eps), to FRAGILITY_TOL (FRAGILITY_TOL_BLACK_BOX for a black-box attack,
    with `steps` as its query budget). Minimal attacks (DeepFool, C&W, HopSkipJump) are run
    once without a cap instead: the size of the perturbation they find *is* their smallest
    flipping ε.
    """
    spec = get_attack(attack)
    eps_max = FRAGILITY_EPS_MAX[spec.norm]
    budget = {"queries": int(steps)} if spec.black_box else {}
    x = _as_batch(digit)
    out: dict[str, float] = {}
    for name, model in models.items():
        y = torch.tensor([int(labels[name])])
        if spec.minimal:
            if predicted_class(model, x) != int(y):
                out[name] = 0.0
                continue
            x_adv = spec(model, x, y, eps=eps_max, steps=steps, seed=SEED, **budget)
            fooled = predicted_class(model, x_adv) != int(y)
            size = float((x_adv - x).flatten().norm())
            out[name] = size if fooled else float("inf")
        elif spec.black_box:
            out[name] = _bisect_black_box(model, x, y, attack=attack, eps_max=eps_max,
                                          queries=int(steps),
                                          tol=FRAGILITY_TOL_BLACK_BOX[spec.norm])
        else:
            found = smallest_flipping_eps(model, x, y, attack=attack, eps_max=eps_max,
                                          steps=steps, tol=FRAGILITY_TOL[spec.norm], seed=SEED)
            out[name] = float(found[0])
    return out


def _bisect_black_box(model: nn.Module, x: Tensor, y: Tensor, *, attack: str, eps_max: float,
                      queries: int, tol: float) -> float:
    """evaluate.smallest_flipping_eps for one digit and a black-box attack with its own query
    budget: 0 if already wrong, inf if not flipped at eps_max, else the bisected ε."""
    spec = get_attack(attack)

    def flipped(eps: float) -> bool:
        x_adv = spec(model, x, y, eps=eps, seed=SEED, queries=queries)
        return predicted_class(model, x_adv) != int(y[0])

    if predicted_class(model, x) != int(y[0]):
        return 0.0
    if not flipped(eps_max):
        return float("inf")
    lo, hi = 0.0, float(eps_max)
    for _ in range(max(0, math.ceil(math.log2(eps_max / tol)))):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if flipped(mid) else (mid, hi)
    return hi


def gallery_indices(labels: np.ndarray | Tensor, n: int = 16) -> np.ndarray:
    """n test-set indices, class-balanced: the first digit of each class 0-9, then the second…"""
    labels = np.asarray(labels)
    by_class = [np.flatnonzero(labels == c) for c in range(N_CLASSES)]
    picked: list[int] = []
    rank = 0
    while len(picked) < n and rank < max(len(b) for b in by_class):
        for c in range(N_CLASSES):
            if rank < len(by_class[c]) and len(picked) < n:
                picked.append(int(by_class[c][rank]))
        rank += 1
    return np.array(picked, dtype=np.int64)


def attack_gallery(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    indices: np.ndarray,
    *,
    attack: str,
    eps: float,
    steps: int,
    target: int | None = None,
    sign: GradientSign | None = None,
    walked: AttackResult | None = None,
) -> Gallery:
    """Attack the test digits x[indices] (true classes y[indices]) in one batch.

    sign: for FGSM, `gradient_sign` of these digits in this batch: one forward pass per ε.
    walked: for a CAP_ONLY attack, `walk` of these digits in this batch: likewise."""
    idx = torch.as_tensor(indices, dtype=torch.int64)
    xs, ys = x[idx], y[idx]
    queries = np.zeros(len(idx), dtype=np.int64)
    if attack == "fgsm" and sign is not None:
        x_adv = fgsm_from_sign(xs, sign, eps)
        pred_clean = sign.pred_clean
    else:
        if walked is not None:
            x_adv, counted = cap(xs, walked.x_adv, eps), walked.queries
        else:
            found = _run(model, xs, ys, attack=attack, eps=eps, steps=steps, target=target)
            x_adv, counted = found.x_adv, found.queries
        if counted is not None:
            queries = counted.numpy().astype(np.int64)
        with torch.no_grad():
            pred_clean = model(xs).argmax(1).numpy()
    with torch.no_grad():
        pred_adv = model(x_adv).argmax(1).numpy()
    return Gallery(indices=np.asarray(indices), clean=xs[:, 0].numpy(),
                   adversarial=x_adv[:, 0].numpy(), labels=ys.numpy(), pred_clean=pred_clean,
                   pred_adv=pred_adv, queries=queries)


def attack_counts(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    attack: str,
    eps: float,
    steps: int,
    target: int | None = None,
    should_stop: ShouldStop | None = None,
    sign: GradientSign | None = None,
) -> Counts:
    """Tallies for the test digits x (N, 1, 28, 28), y (N,) under one attack setting.

    should_stop: asked before each forward pass; True raises advcore.cancel.Cancelled.
    sign: for FGSM, `gradient_sign` of this batch: then one forward pass per ε, not four.
    """
    model = interruptible(model, should_stop)
    if attack == "fgsm" and sign is not None:
        x_adv = fgsm_from_sign(x, sign, eps)
        clean = torch.from_numpy(sign.pred_clean)
    else:
        x_adv = _run(model, x, y, attack=attack, eps=eps, steps=steps, target=target).x_adv
        with torch.no_grad():
            clean = model(x).argmax(1)
    with torch.no_grad():
        adv = model(x_adv).argmax(1)
    eligible = y != target if target is not None else torch.zeros_like(y, dtype=torch.bool)
    hit = (adv == target) & eligible if target is not None else eligible
    return Counts(n=len(y), correct_clean=int((clean == y).sum()),
                  correct_adv=int((adv == y).sum()), hit_target=int(hit.sum()),
                  eligible_target=int(eligible.sum()))
