"""Black-box attacks (Square, HopSkipJump): they never read a gradient, they count every model
call they make, and they respect their query budget."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from advcore import attacks
from advcore.attacks import ATTACKS
from advcore.attacks.square import p_selection
from tests.conftest import Case, labels_of

pytestmark = pytest.mark.usefixtures("one_thread")
BLACK_BOX = [name for name, spec in ATTACKS.items() if spec.black_box]


class _RaiseOnBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, out: Tensor) -> Tensor:
        return out.clone()

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        raise AssertionError("a black-box attack asked for a gradient")


class NoGradient(nn.Module):
    """The wrapped model, whose backward pass raises, and which refuses to build a graph at
    all; it counts the rows it sees (one row = one query)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.rows = 0
        self.train(model.training)

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            raise AssertionError("a black-box attack ran the model on an input that needs grad")
        self.rows += len(x)
        return _RaiseOnBackward.apply(self.model(x))


def test_the_guard_catches_a_gradient_attack(cnn_case):
    with pytest.raises(AssertionError):
        attacks.fgsm(NoGradient(cnn_case.model), cnn_case.x, cnn_case.y, eps=0.1)


@pytest.mark.parametrize("name", BLACK_BOX)
def test_black_box_attacks_never_read_a_gradient_and_count_every_query(name, cnn_case):
    case = cnn_case
    spy = NoGradient(case.model)
    eps = 0.1 if ATTACKS[name].norm == "linf" else 1.5
    result = ATTACKS[name].run(spy, case.x, case.y, eps=eps, queries=300, seed=1)
    assert result.queries is not None and result.queries.dtype == torch.int64
    assert result.queries.shape == (len(case.y),)
    assert int(result.queries.sum()) == spy.rows  # every call counted, none hidden
    assert (result.queries >= 1).all() and (result.queries <= 300).all()


@pytest.mark.parametrize("name", BLACK_BOX)
def test_run_attack_returns_the_same_adversarial_inputs_with_their_queries(name, mlp_case):
    case = mlp_case
    plain = attacks.run_attack(name, case.model, case.x, case.y, eps=0.5, bounds=None,
                               queries=200)
    info = attacks.run_attack(name, case.model, case.x, case.y, eps=0.5, bounds=None,
                              queries=200, return_info=True)
    assert torch.equal(info.x_adv, plain)
    assert info.queries.shape == (len(case.y),)


def test_gradient_attacks_report_no_queries_and_refuse_a_budget(mlp_case):
    case = mlp_case
    assert ATTACKS["pgd"].run(case.model, case.x, case.y, eps=0.1, bounds=None).queries is None
    with pytest.raises(ValueError, match="not a query budget"):
        ATTACKS["pgd"](case.model, case.x, case.y, eps=0.1, bounds=None, queries=10)


def test_square_stops_querying_an_input_once_it_is_fooled(mlp_case):
    case = mlp_case
    result = ATTACKS["square"].run(case.model, case.x, case.y, eps=1.0, bounds=None,
                                   queries=500, seed=0)
    fooled = labels_of(case.model, result.x_adv) != case.y
    assert fooled.any() and (~fooled).any()
    assert (result.queries[~fooled] == 500).all()  # the robust ones spend the whole budget
    assert (result.queries[fooled] < 500).all()


@pytest.mark.parametrize("name", BLACK_BOX)
def test_same_seed_same_result_other_seed_other_result(name, cnn_case):
    case = cnn_case
    eps = 0.1 if ATTACKS[name].norm == "linf" else 1.5

    def run(seed: int) -> Tensor:
        return ATTACKS[name](case.model, case.x, case.y, eps=eps, queries=400, seed=seed)

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


def test_square_with_more_queries_fools_at_least_as_many(cnn_case):
    case = cnn_case
    acc = []
    for budget in (10, 100, 1000):
        x_adv = attacks.square(case.model, case.x, case.y, eps=0.15, queries=budget,
                               generator=torch.Generator().manual_seed(0))
        acc.append(float((labels_of(case.model, x_adv) == case.y).float().mean()))
    assert acc == sorted(acc, reverse=True) and acc[-1] < acc[0]


def test_square_schedule_halves_p_at_the_papers_iterations():
    assert p_selection(0, 10000) == 0.8
    assert p_selection(11, 10000) == 0.4
    assert p_selection(9000, 10000) == pytest.approx(0.8 / 512)
    assert p_selection(50, 100) == p_selection(5000, 10000)  # rescaled to the budget


def test_hsja_finds_a_near_minimal_perturbation_on_a_linear_model(linear_case: Case):
    """On a binary linear model the smallest L2 perturbation is |margin| / ‖w_0 − w_1‖: HSJA
    must land on the boundary, not far beyond it, from the labels alone."""
    case = linear_case
    w = case.model.linear.weight.detach()
    with torch.no_grad():
        z = case.model(case.x)
    rows = torch.arange(len(case.y))
    distance = (z[rows, case.y] - z[rows, 1 - case.y]) / (w[0] - w[1]).norm()
    x_adv = attacks.hsja(case.model, case.x, case.y, queries=1000, bounds=None,
                         generator=torch.Generator().manual_seed(0))
    found = (x_adv - case.x).norm(dim=1)
    assert (labels_of(case.model, x_adv) != case.y).all()
    assert (found >= distance - 1e-4).all()
    assert (found <= distance * 1.1 + 0.05).all()
