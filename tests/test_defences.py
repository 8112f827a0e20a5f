"""The gradient-masking lab's fake defences: each fools PGD, falls to the right attack, and sets
off the right sanity check. Small inputs (16 test digits of the shipped mnist-cnn), fixed seeds."""

from __future__ import annotations

import warnings

import pytest
import torch

from advcore import attacks, data, defences, evaluate, models
from tests.conftest import labels_of

pytestmark = pytest.mark.usefixtures("one_thread")
N = 16
EPS = 0.3  # L∞, as in Madry et al.'s MNIST setting


@pytest.fixture(scope="module")
def digits():
    model = models.pretrained("mnist-cnn")
    x, y = data.mnist("test")
    x, y = x[:N], y[:N]
    assert (labels_of(model, x) == y).all()
    return model, x, y


def acc(model, x_adv, y, draws: int = 1) -> float:
    """Accuracy on x_adv, averaged over `draws` calls of a (possibly random) model."""
    with torch.no_grad():
        return sum(float((model(x_adv).argmax(1) == y).float().mean())
                   for _ in range(draws)) / draws


def evaluation(model, x, y, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", evaluate.EvaluationWarning)
        result = evaluate.robust_accuracy(model, x, y, eps=EPS, **kwargs)
    return result, " ".join(str(w.message) for w in caught
                            if issubclass(w.category, evaluate.EvaluationWarning))


def test_quantization_fools_pgd_and_falls_to_bpda_and_square(digits):
    model, x, y = digits
    fake = defences.Quantized(model, levels=4)
    assert acc(fake, x, y) == 1.0
    assert acc(fake, attacks.pgd(fake, x, y, eps=EPS, steps=10), y) >= 0.85  # looks robust
    bpda = attacks.pgd(defences.BPDA(fake), x, y, eps=EPS, steps=10)
    assert acc(fake, bpda, y) <= 0.1
    square = attacks.square(fake, x, y, eps=EPS, queries=300,
                            generator=torch.Generator().manual_seed(0))
    assert acc(fake, square, y) <= 0.2
    result, said = evaluation(fake, x, y, attacks=("pgd", "square"), steps=10, queries=300)
    assert result.per_attack["pgd"] >= 0.85 and result.accuracy <= 0.2
    assert "gradient is zero or vanishing" in said
    assert "black-box attack (square) fooled" in said
    assert "where any input is reachable" in said


def test_saturated_softmax_fools_pgd_and_falls_to_a_decision_based_attack(digits):
    model, x, y = digits
    fake = defences.SaturatedSoftmax(model)
    assert acc(fake, x, y) == 1.0
    assert acc(fake, attacks.pgd(fake, x, y, eps=EPS, steps=10), y) >= 0.85
    hsja = attacks.hsja(fake, x, y, eps=4.0, queries=1000,
                        generator=torch.Generator().manual_seed(0))
    assert acc(fake, hsja, y) <= 0.2
    _, said = evaluation(fake, x, y, attacks=("pgd",), steps=10)
    assert "look like probabilities" in said
    assert "gradient is zero or vanishing" in said


def test_input_noise_misleads_pgd_and_falls_further_to_eot(digits):
    """Every PGD step follows the gradient of one noise draw; EOT averages 16 draws per step.
    Accuracy is measured over 4 fresh draws of the noise."""
    model, x, y = digits
    eps = 0.15
    fake = defences.NoisyInput(model, sigma=0.3, seed=0)
    naive = acc(fake, attacks.pgd(fake, x, y, eps=eps, steps=10), y, draws=4)
    fake = defences.NoisyInput(model, sigma=0.3, seed=0)
    eot = acc(fake, attacks.pgd(defences.EOT(fake, samples=16), x, y, eps=eps, steps=10), y,
              draws=4)
    assert eot <= naive - 0.05
    _, said = evaluation(fake, x, y, attacks=("pgd",), steps=5)
    assert "outputs are random" in said


def test_the_tools_change_gradients_not_outputs(digits):
    model, x, y = digits
    fake = defences.Quantized(model)
    with torch.no_grad():
        assert torch.equal(defences.BPDA(fake)(x), fake(x))
        assert torch.allclose(defences.EOT(model, samples=3)(x), model(x), atol=1e-5)
    x_req = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(fake(x_req).sum(), x_req)
    assert (grad == 0).all()  # the step function's gradient
    (grad,) = torch.autograd.grad(defences.BPDA(fake)(x_req).sum(), x_req)
    assert (grad != 0).any()


def test_wrappers_leave_the_model_alone(digits):
    model, x, y = digits
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for fake in (defences.Quantized(model), defences.SaturatedSoftmax(model),
                 defences.NoisyInput(model)):
        assert not fake.training  # the wrapped model's mode
        attacks.pgd(fake, x[:4], y[:4], eps=0.1, steps=2)
    assert not model.training
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


@pytest.mark.parametrize("make, match", [
    (lambda m: defences.Quantized(m, levels=1), "levels"),
    (lambda m: defences.SaturatedSoftmax(m, temperature=0), "temperature"),
    (lambda m: defences.NoisyInput(m, sigma=-1), "sigma"),
    (lambda m: defences.EOT(m, samples=0), "samples"),
    (lambda m: defences.BPDA(m), "preprocess"),
])
def test_bad_arguments_are_refused(make, match, digits):
    with pytest.raises(ValueError, match=match):
        make(digits[0])
