"""Tiny deterministic models and inputs for the engine's tests. Nothing is downloaded.

Every model here keeps `requires_grad=True` on its parameters (unlike `models.pretrained`), so the
tests also prove that attacks leave parameter `.grad` alone on a model someone is still training.
Session-scoped builders make each model once; the function-scoped fixtures hand each test a copy,
so a test that (wrongly) mutated its model could not poison the next one.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advcore.data import toy_dataset
from advcore.models import MLP, LinearClassifier


@dataclass(frozen=True)
class Case:
    """A model with inputs it classifies, the bounds of those inputs, and how many classes."""

    model: nn.Module
    x: Tensor
    y: Tensor
    bounds: tuple[float, float] | None
    n_classes: int


class TinyCNN(nn.Module):
    """Conv(1→4, 3×3) + ReLU + 2×2 max-pool + linear head: 10 classes of 8×8 'images'."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).flatten(1))


class SingleLogit(nn.Module):
    """The classic mistake: a binary classifier with one output."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x)


def binary_linear() -> LinearClassifier:
    """z = W x + b with fixed, hand-picked weights (w_0 − w_1 = (2, −3))."""
    model = LinearClassifier(2, 2)
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor([[1.5, -2.0], [-0.5, 1.0]]))
        model.linear.bias.copy_(torch.tensor([0.3, -0.1]))
    return model.eval()


def points(n: int = 48, seed: int = 0) -> Tensor:
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))


def labels_of(model: nn.Module, x: Tensor) -> Tensor:
    """The model's own predictions: clean accuracy is 100% by construction."""
    with torch.no_grad():
        return model(x).argmax(1)


@pytest.fixture(scope="session")
def _linear_case() -> Case:
    model = binary_linear()
    x = points()
    return Case(model, x, labels_of(model, x), None, 2)


@pytest.fixture(scope="session")
def _mlp_case() -> Case:
    """A 2-16-16-2 MLP fitted to 128 noisy moons: a curved boundary, so PGD beats FGSM."""
    X, y = toy_dataset("moons", n=128, noise=0.1, seed=0)
    x, y = torch.from_numpy(X), torch.from_numpy(y)
    torch.manual_seed(0)
    model = MLP(2, 16, 2, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see one_thread
    for _ in range(200):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    torch.set_num_threads(threads)
    model.zero_grad(set_to_none=True)
    return Case(model.eval(), x, y, None, 2)


@pytest.fixture(scope="session")
def _cnn_case() -> Case:
    torch.manual_seed(0)
    model = TinyCNN().eval()
    x = torch.rand(24, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    return Case(model, x, labels_of(model, x), (0.0, 1.0), 10)


def _copy(case: Case) -> Case:
    return Case(copy.deepcopy(case.model), case.x.clone(), case.y.clone(), case.bounds,
                case.n_classes)


@pytest.fixture
def linear_case(_linear_case: Case) -> Case:
    return _copy(_linear_case)


@pytest.fixture
def mlp_case(_mlp_case: Case) -> Case:
    return _copy(_mlp_case)


@pytest.fixture
def cnn_case(_cnn_case: Case) -> Case:
    return _copy(_cnn_case)


@pytest.fixture(params=["linear", "mlp", "cnn"])
def any_case(request: pytest.FixtureRequest) -> Case:
    return _copy(request.getfixturevalue(f"_{request.param}_case"))


class WorstCaseCounts:
    """`advcore.sweep.worst_case_count`, each distinct call run once per session.

    The ensemble is seeded (sweep.SEED by default): the same model, digits and ε give the same
    counts, so a test that reads a count another test already computed reads what its own call
    would return. Several tests check different things of the same cells (shipped mnist-linear's
    first 50 digits at the curve's ε: the card, the training command's block, the figure), at
    3-4 CPU-s a cell. A call with `should_stop` or `progress` (the watchers are what such a test
    is about) always runs, and its counts are kept for the others.
    """

    def __init__(self) -> None:
        from advcore import sweep

        self._real = sweep.worst_case_count
        self._seed = sweep.SEED
        self._done: dict[tuple[Any, ...], Any] = {}

    @staticmethod
    def _digest(t: Tensor) -> str:
        return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, *, eps: float,
                 seed: int | None = None, **watchers: Any) -> Any:
        seed = self._seed if seed is None else seed
        key = (id(model), tuple(x.shape), self._digest(x), self._digest(y), float(eps), seed)
        watched = any(v is not None for k, v in watchers.items() if k != "what")
        if key not in self._done or watched:
            # The model is kept with its counts, so that its id cannot name another model later.
            self._done[key] = (model, self._real(model, x, y, eps=eps, seed=seed, **watchers))
        return self._done[key][1]


@pytest.fixture(scope="session")
def worst_case_counts() -> WorstCaseCounts:
    return WorstCaseCounts()


@pytest.fixture
def one_thread():
    """Run a test on one intra-op thread: tiny models pay more for thread hand-offs than they gain,
    badly so on a busy 2-core machine. The engine's test modules opt in with `pytestmark`."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
