"""Training: 2-D models fit their data, adversarial training buys robustness, rebuilds are
deterministic, and the rebuild command refuses unknown names."""

from __future__ import annotations

import torch

from advcore import attacks
from advcore.data import toy_dataset
from advcore.evaluate import accuracy
from advcore.models import toy_model
from advcore.train import RECIPES, Recipe, main, train_mnist, train_toy


def _fit(name: str, dataset: str, **kw):
    X, y = toy_dataset(dataset, n=300, noise=0.1, seed=1)
    model = train_toy(toy_model(name, width=32, depth=2, seed=0), X, y, **kw)
    return model, torch.from_numpy(X), torch.from_numpy(y)


def test_mlp_fits_moons_and_returns_eval_mode():
    model, x, y = _fit("mlp", "moons")
    assert not model.training
    assert accuracy(model, x, y) >= 0.97


def test_linear_model_fits_blobs():
    model, x, y = _fit("linear", "blobs")
    assert accuracy(model, x, y) >= 0.95


def test_adversarial_training_raises_robust_accuracy():
    eps = 0.3
    plain, x, y = _fit("mlp", "moons")
    robust, _, _ = _fit("mlp", "moons", adversarial="fgsm", eps=eps)
    def robust_acc(m):
        return accuracy(m, attacks.fgsm(m, x, y, eps=eps, bounds=None), y)
    assert robust_acc(robust) > robust_acc(plain) + 0.05


def test_toy_training_is_deterministic():
    a, _, _ = _fit("mlp", "circles")
    b, _, _ = _fit("mlp", "circles")
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_mnist_training_is_deterministic():
    recipe = Recipe(epochs=1, lr=1e-3)
    a, _ = train_mnist("mnist-linear", recipe, show=False)
    b, _ = train_mnist("mnist-linear", recipe, show=False)
    for (ka, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), ka


def test_every_shipped_model_has_a_recipe():
    assert set(RECIPES) == {"mnist-linear", "mnist-cnn", "mnist-cnn-robust"}


def test_rebuild_command_rejects_unknown_names(capsys):
    try:
        main(["mnist-nope"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "unknown model" in capsys.readouterr().err


def test_worst_case_options_are_checked(capsys):
    for argv, words in ((["--worst-case-only"], "give it with --cards-only"),
                        (["--cards-only", "--worst-case-digits", "0"], "at least 1")):
        try:
            main(argv)
        except SystemExit as exc:
            assert exc.code == 2
        else:
            raise AssertionError(f"{argv} was accepted")
        assert words in capsys.readouterr().err


def test_evaluate_worst_case_writes_a_block_the_card_loader_accepts(worst_case_counts,
                                                                    monkeypatch):
    """The training command's worst-case figures for shipped mnist-linear on 50 digits (a few
    CPU seconds): a sound block, the curve's ε = 0.3 point is the main figure's one cell, and
    the ensemble never leaves more digits robust than PGD on the same digits. Its cells go
    through conftest's memo (the same cells other tests run; its progress bar is off, so the
    dropped progress callback only fed a bar that is not drawn)."""
    import pytest

    from advcore import models, sweep
    from advcore.train import evaluate_worst_case

    monkeypatch.setattr(sweep, "worst_case_count",
                        lambda model, x, y, *, eps, progress=None, **kw:
                        worst_case_counts(model, x, y, eps=eps, **kw))

    try:
        model = models.pretrained("mnist-linear")
    except models.AssetError as exc:
        pytest.skip(str(exc))
    out = evaluate_worst_case(model, digits=50, curve_digits=50, command="test")
    block = out["worst_case"]
    assert models._worst_case_problem(block) is None
    assert out["worst_case_accuracy_eps_0.3"] == block["accuracy"]
    assert block["digits"] == 50 and block["attacks"] == ["apgd-ce", "apgd-t", "square"]
    curve = block["curve"]
    assert curve["epsilons"][-1] == 0.3 and curve["robust"][-1] == block["robust"]
    assert curve["robust"][0] == curve["pgd_robust"][0] == block["clean"]
    assert all(k <= p for k, p in zip(curve["robust"], curve["pgd_robust"], strict=True))
    assert block["robust"] <= block["pgd_robust"] and block["cpu_seconds"] > 0
