"""Model definitions and the loader for the shipped, pretrained MNIST models.

All models return logits of shape (N, C): C = 2 for the 2-D models (never a single logit, whose
binary head is a classic source of wrong gradients) and C = 10 for MNIST.
Weights ship as safetensors in assets/ (no pickle), each with a JSON card beside it.
"""

from __future__ import annotations

import json
import logging
import threading
from functools import cache
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from advcore._paths import ASSETS, PROJECT  # torch-free, shared with advcore.playground.hero

# torch's default generator is one per process, shared by every thread, and Streamlit serves each
# browser session in its own thread: whoever seeds it and then draws (weight initialisation,
# dropout) holds this lock, or a concurrent session's seed lands between the two.
GLOBAL_RNG = threading.Lock()
REBUILD = "python -m advcore.train"
# Re-measures the cards' figures of the shipped weights without retraining (advcore.train).
REMEASURE = "python -m advcore.train --cards-only"
_LOG = logging.getLogger(__name__)


class LinearClassifier(nn.Module):
    """Logistic / softmax regression: logits = W·flatten(x) + b."""

    def __init__(self, in_features: int = 2, n_classes: int = 2) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x.flatten(1))


class MLP(nn.Module):
    """A fully connected ReLU network: `depth` hidden layers of `width` units."""

    def __init__(
        self, in_features: int = 2, width: int = 32, depth: int = 2, n_classes: int = 2
    ) -> None:
        super().__init__()
        if width < 1 or depth < 1:
            raise ValueError(f"width and depth must be >= 1, got width={width}, depth={depth}")
        layers: list[nn.Module] = []
        size = in_features
        for _ in range(depth):
            layers += [nn.Linear(size, width), nn.ReLU()]
            size = width
        layers.append(nn.Linear(size, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1))


class SmallCNN(nn.Module):
    """Two 3×3 conv + max-pool blocks and a hidden layer with dropout, for 28×28 digits in [0, 1].

    Small enough that PGD adversarial training finishes in minutes on two CPU cores.
    """

    def __init__(
        self, channels: tuple[int, int] = (32, 64), hidden: int = 256, dropout: float = 0.3
    ) -> None:
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(c2 * 7 * 7, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, 10),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


TOY_MODELS: dict[str, str] = {"linear": "Linear (logistic)", "mlp": "MLP"}


def toy_model(name: str, *, width: int = 32, depth: int = 2, seed: int = 0) -> nn.Module:
    """A freshly initialised 2-D model ("linear" or "mlp"), initialised from `seed`."""
    if name not in TOY_MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(TOY_MODELS)}")
    with GLOBAL_RNG:
        torch.manual_seed(seed)
        return LinearClassifier(2, 2) if name == "linear" else MLP(2, width, depth, 2)


# name -> description (the architecture itself is in each model's card)
PRETRAINED: dict[str, str] = {
    "mnist-linear": "Softmax regression (Goodfellow et al. 2015's softmax row)",
    "mnist-cnn": "Small CNN, standard training",
    "mnist-cnn-robust": "Small CNN, PGD adversarial training (Madry et al. 2018)",
}


class AssetError(RuntimeError):
    """A shipped weight file or card is missing or corrupt; the message names it and the fix."""


def build(name: str) -> nn.Module:
    """An untrained model with the architecture of the pretrained model `name`."""
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained model {name!r}; known: {', '.join(PRETRAINED)}")
    return LinearClassifier(784, 10) if name == "mnist-linear" else SmallCNN()


def weights_path(name: str, assets: Path = ASSETS) -> Path:
    return assets / f"{name}.safetensors"


def card_path(name: str, assets: Path = ASSETS) -> Path:
    return assets / f"{name}.json"


def save_pretrained(model: nn.Module, name: str, card: dict[str, Any], assets: Path = ASSETS) -> None:
    """Write the weights (safetensors) and the JSON card of a shipped model."""
    assets.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(weights_path(name, assets)), metadata={"name": name})
    card_path(name, assets).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")


def shown_path(path: Path) -> str:
    """`path` as a visitor may see it: relative to the project (assets/mnist-cnn.json), or just
    the file name for a file elsewhere. The install location is the server's business."""
    try:
        return Path(path).resolve().relative_to(PROJECT).as_posix()
    except ValueError:
        return Path(path).name


def _asset_error(path: Path, problem: str, exc: BaseException | None = None) -> AssetError:
    """An AssetError in a plain sentence that names the file and the fix; the full path and the
    parser's own text go to the server log, not to the page."""
    _LOG.error("asset %s: %s%s", path, problem, f" ({exc!r})" if exc is not None else "")
    return AssetError(f"{shown_path(path)} {problem}; rebuild it with `{REBUILD}`")


def load_card(name: str, assets: Path = ASSETS) -> dict[str, Any]:
    """The JSON card of a shipped model: architecture, data, seed, command, time, accuracies."""
    path = card_path(name, assets)
    try:
        card = json.loads(path.read_text())
    except FileNotFoundError:
        raise _asset_error(path, "(the model card) is missing") from None
    except (OSError, ValueError) as exc:
        raise _asset_error(path, "(the model card) is corrupt: it is not readable JSON",
                           exc) from exc
    if not isinstance(card, dict):
        raise _asset_error(path, "(the model card) is corrupt: it is not a JSON object")
    if WORST_CASE in card:
        problem = _worst_case_problem(card[WORST_CASE])
        if problem:
            _LOG.error("asset %s: worst case: %s", path, problem)
            raise AssetError(f"{shown_path(path)} (the model card) is corrupt: its worst-case "
                             f"figure {problem}; re-measure it with `{REMEASURE}`")
    return card


# --- the worst-case figure of a card -----------------------------------------------------------
# Written by advcore.train.evaluate_worst_case: the robust accuracy under advcore.evaluate's
# ensemble (APGD-CE, APGD-T, Square) at the card's ε on the first `digits` test digits, beside
# PGD on the same digits, as counts (so the number of digits and the interval are exact), and a
# short curve over the card's ε on fewer digits. Cards written before it have no such field:
# `worst_case_of` returns None for them and the pages say how to add it.

WORST_CASE = "worst_case"


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _fraction(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and 0.0 <= float(value) <= 1.0)


def _worst_case_problem(block: Any) -> str | None:
    """What is wrong with a card's worst-case block, in words, or None if it is sound."""
    if not isinstance(block, dict):
        return "is not a JSON object"
    for key in ("eps", "digits", "clean", "robust", "pgd_robust", "pgd_steps", "accuracy",
                "ci95", "attacks"):
        if key not in block:
            return f"has no “{key}”"
    n = block["digits"]
    if not _count(n) or n < 1:
        return "has a number of digits that is not a whole number ≥ 1"
    if not (isinstance(block["eps"], int | float) and 0 <= block["eps"] <= 1):
        return "has an ε that is not a number in [0, 1]"
    for key in ("clean", "robust", "pgd_robust"):
        if not _count(block[key]) or block[key] > n:
            return f"has a count “{key}” that is not a whole number between 0 and {n}"
    if not (block["robust"] <= block["clean"] and block["pgd_robust"] <= block["clean"]):
        return "counts more digits robust than correctly classified"
    if not _count(block["pgd_steps"]) or block["pgd_steps"] < 1:
        return "has a PGD step count that is not a whole number ≥ 1"
    if not _fraction(block["accuracy"]) or abs(block["accuracy"] - block["robust"] / n) > 1e-4:
        return "has an accuracy that does not match its counts"
    ci = block["ci95"]
    if not (isinstance(ci, list) and len(ci) == 2 and all(_fraction(v) for v in ci)
            and ci[0] <= block["accuracy"] <= ci[1]):
        return "has a 95% interval that is not [low, high] around its accuracy"
    if not (isinstance(block["attacks"], list) and block["attacks"]
            and all(isinstance(a, str) for a in block["attacks"])):
        return "does not list the attacks it ran"
    curve = block.get("curve")
    if curve is not None:
        if not isinstance(curve, dict):
            return "has a curve that is not a JSON object"
        m = curve.get("digits")
        eps, robust, pgd = curve.get("epsilons"), curve.get("robust"), curve.get("pgd_robust")
        if not _count(m) or m < 1:
            return "has a curve whose number of digits is not a whole number ≥ 1"
        if not (isinstance(eps, list) and isinstance(robust, list) and isinstance(pgd, list)
                and len(eps) == len(robust) == len(pgd) and eps):
            return "has a curve whose ε, worst-case and PGD lists differ in length"
        if not all(isinstance(e, int | float) and 0 <= e <= 1 for e in eps):
            return "has a curve with an ε that is not a number in [0, 1]"
        if not all(_count(k) and k <= m for k in (*robust, *pgd)):
            return f"has a curve with a count that is not a whole number between 0 and {m}"
        if not _count(curve.get("pgd_steps")) or curve["pgd_steps"] < 1:
            return "has a curve whose PGD step count is not a whole number ≥ 1"
    return None


def worst_case_of(card: dict[str, Any]) -> dict[str, Any] | None:
    """A card's worst-case block (validated by load_card), or None for a card written before
    the worst-case figure existed: the caller says so and shows the PGD figure alone."""
    block = card.get(WORST_CASE)
    if block is None:
        return None
    problem = _worst_case_problem(block)
    if problem:  # a card dict that did not come through load_card
        raise AssetError(f"the model card of {card.get('name', '?')} is corrupt: its worst-case "
                         f"figure {problem}; re-measure it with `{REMEASURE}`")
    return block


def _non_finite(state: dict[str, Tensor]) -> list[str]:
    """Names of the tensors in `state` that hold a NaN or an infinity."""
    return [k for k, v in state.items() if v.is_floating_point() and not bool(v.isfinite().all())]


def load_pretrained(name: str, assets: Path = ASSETS) -> nn.Module:
    """Load `name` from assets/ into a fresh model in eval mode (uncached; see pretrained()).

    Refuses (AssetError) a missing file, one that is not safetensors or does not fit the
    architecture, and weights holding any NaN or infinity: such a model would load and then
    answer "nan%" on every page.
    """
    with GLOBAL_RNG:  # building initialises weights from the global generator (then overwritten)
        model = build(name)
    path = weights_path(name, assets)
    if not path.is_file():
        raise _asset_error(path, f"(the weights of {name}) is missing")
    try:
        state = load_file(str(path))
        model.load_state_dict(state)
    except (SafetensorError, RuntimeError, OSError, ValueError) as exc:
        raise _asset_error(path, f"(the weights of {name}) is corrupt or does not fit {name}",
                           exc) from exc
    if bad := _non_finite(state):
        raise _asset_error(path, f"(the weights of {name}) is corrupt: {len(bad)} of its "
                           f"{len(state)} tensors hold NaN or infinite values (first: {bad[0]})")
    model.eval()
    # Channels-last conv weights make the CNN's forward+backward about 1.4x faster on one CPU
    # thread, and make its cost independent of the pixels: in PyTorch's default layout
    # max_pool2d_with_indices branches on the data and took 28% of a pass on clean digits and 38% on
    # perturbed ones (`python benchmarks/attacks.py`). Only the layout changes, not the function:
    # logits agree to float32 rounding. A no-op for models without conv layers.
    model.to(memory_format=torch.channels_last)
    # Shared models never learn at serving time: attacks need input gradients only.
    for p in model.parameters():
        p.requires_grad_(False)
        flush_subnormals_(p)
    return model


def flush_subnormals_(t: Tensor) -> int:
    """Set t's subnormal values (0 < |v| < 2⁻¹²⁶ in float32) to zero, in place; returns how many.

    Training leaves some weights decayed to subnormals (mnist-cnn: 67,252 of its first hidden
    layer's 802,816). x86 CPUs compute with a subnormal operand in microcode, ~80x slower: a
    forward pass of 1,000 digits took 0.67 CPU-s instead of ~0.06, most of it that one matrix
    product. A subnormal weight contributes less than 2⁻¹²⁶·|activation| to a sum, below float32
    rounding of any sum that is not itself nearly zero, so the logits and gradients stay the same
    (tests/test_models.py checks them bit for bit on every test digit).
    """
    tiny = torch.finfo(t.dtype).tiny if t.is_floating_point() else 0
    if not tiny:
        return 0
    sub = (t != 0) & (t.abs() < tiny)
    n = int(sub.sum())
    if n:
        t.masked_fill_(sub, 0.0)
    return n


@cache
def pretrained(name: str) -> nn.Module:
    """The shipped model `name` ("mnist-linear", "mnist-cnn", "mnist-cnn-robust"), in eval mode.

    Cached once per process and shared: treat it as read-only (attacks never change it).
    Raises AssetError naming the file and the rebuild command if the weights are missing or corrupt.
    """
    return load_pretrained(name)
