"""APGD (Croce & Hein 2020): its schedule, its losses, and its strength against PGD."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from advcore import attacks
from advcore.attacks import ATTACKS
from advcore.attacks.apgd import checkpoints, loss_per_input
from advcore.evaluate import accuracy
from tests.conftest import labels_of

pytestmark = pytest.mark.usefixtures("one_thread")


class Scaled(nn.Module):
    """The wrapped model's logits times a constant: the same classifier, a saturated softmax."""

    def __init__(self, model: nn.Module, factor: float):
        super().__init__()
        self.model, self.factor = model, factor
        self.train(model.training)

    def forward(self, x: Tensor) -> Tensor:
        return self.factor * self.model(x)


def test_checkpoints_follow_the_papers_schedule():
    # p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 of 100 iterations (§3.2).
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert all(1 <= w <= 10 for w in checkpoints(10))


def test_dlr_loss_matches_its_definition():
    z = torch.tensor([[3.0, 1.0, 0.5, -1.0], [0.0, 2.0, 1.0, -2.0]])
    y = torch.tensor([0, 0])
    # −(z_y − max_{k≠y} z_k) / (z_π1 − z_π3)
    expected = torch.tensor([-(3.0 - 1.0) / (3.0 - 0.5), -(0.0 - 2.0) / (2.0 - 0.0)])
    torch.testing.assert_close(loss_per_input(z, y, "dlr", False), expected)
    t = torch.tensor([1, 2])
    # targeted: −(max_{k≠t} z_k − z_t) / (z_π1 − (z_π3 + z_π4)/2)
    expected_t = torch.tensor([-(3.0 - 1.0) / (3.0 + 0.25), -(2.0 - 1.0) / (2.0 + 1.0)])
    torch.testing.assert_close(loss_per_input(z, t, "dlr", True), expected_t)


@pytest.mark.parametrize("name", ["apgd-dlr", "apgd-dlr-l2"])
def test_dlr_is_refused_on_a_two_class_model(name, mlp_case):
    case = mlp_case
    with pytest.raises(ValueError, match="at least 3 classes"):
        ATTACKS[name](case.model, case.x, case.y, eps=0.1, bounds=None)
    with pytest.raises(ValueError, match="at least 3 classes"):
        ATTACKS[name](case.model, case.x, case.y, eps=0.0, bounds=None)


def test_targeted_dlr_needs_four_classes(cnn_case):
    three = nn.Sequential(cnn_case.model, nn.Linear(10, 3)).eval()
    y = labels_of(three, cnn_case.x)
    attacks.apgd(three, cnn_case.x, y, eps=0.1, loss="dlr", steps=2)  # untargeted: fine
    with pytest.raises(ValueError, match="at least 4 classes when targeted"):
        attacks.apgd(three, cnn_case.x, (y + 1) % 3, eps=0.1, loss="dlr", targeted=True)


def test_apgd_t_falls_back_on_a_two_class_model(mlp_case):
    case = mlp_case
    x_adv = ATTACKS["apgd-t"](case.model, case.x, case.y, eps=0.4, steps=20, bounds=None)
    assert accuracy(case.model, x_adv, case.y) < accuracy(case.model, case.x, case.y)


def test_dlr_ignores_the_scale_of_the_logits(cnn_case):
    """DLR is a ratio of logit differences: scaling the logits by 10^4 (a softmax saturated in
    float32) leaves APGD-DLR's decisions where they were."""
    case = cnn_case
    run = lambda m: attacks.apgd(m, case.x, case.y, eps=0.1, loss="dlr", steps=20,  # noqa: E731
                                 generator=torch.Generator().manual_seed(0))
    plain, scaled = run(case.model), run(Scaled(case.model, 1e4))
    assert torch.equal(labels_of(case.model, plain) != case.y,
                       labels_of(case.model, scaled) != case.y)


@pytest.mark.parametrize("name", ["apgd-ce", "apgd-t"])
@pytest.mark.parametrize("eps", [0.1, 0.2])
def test_apgd_is_at_least_as_strong_as_pgd(name, eps, mlp_case):
    case = mlp_case
    pgd = attacks.pgd(case.model, case.x, case.y, eps=eps, steps=20, bounds=None,
                      generator=torch.Generator().manual_seed(0))
    apgd = ATTACKS[name](case.model, case.x, case.y, eps=eps, steps=20, bounds=None)
    assert accuracy(case.model, apgd, case.y) <= accuracy(case.model, pgd, case.y) + 1 / len(
        case.y)


def test_apgd_t_targets_the_runner_up_classes(cnn_case):
    """With one target class APGD-T attacks the class the model ranks second: every input it
    fools lands there."""
    case = cnn_case
    with torch.no_grad():
        second = case.model(case.x).topk(2, dim=1).indices[:, 1]
    x_adv = attacks.apgd(case.model, case.x, case.y, eps=0.3, loss="dlr", steps=20,
                         target_classes=1, generator=torch.Generator().manual_seed(0))
    pred = labels_of(case.model, x_adv)
    fooled = pred != case.y
    assert fooled.any()
    assert torch.equal(pred[fooled], second[fooled])


def test_a_bad_loss_is_refused(cnn_case):
    with pytest.raises(ValueError, match="loss must be one of"):
        attacks.apgd(cnn_case.model, cnn_case.x, cnn_case.y, eps=0.1, loss="hinge")
