"""Named scenes: each parses cleanly, opens its page without an exception or warning, sets the
controls it names, and shows what its title promises."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from advcore import attacks, data, models
from advcore.playground import digits, scenes, state

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("scene", scenes.SCENES, ids=lambda s: s.slug)
def test_scene_parses_without_warnings(scene):
    parsed, warnings = state.from_query(scenes.SCENE_TYPES[scene.page], scene.params)
    assert warnings == []
    for name, raw in scene.params.items():
        assert state.to_query(parsed)[name] == raw, name


def test_scene_slugs_are_unique_and_urls_keep_talk_mode():
    slugs = [s.slug for s in scenes.SCENES]
    assert len(slugs) == len(set(slugs))
    url = scenes.get_scene("seven-to-three").url(talk=True)
    assert url.startswith("/digits?") and "talk=1" in url
    with pytest.raises(ValueError, match="unknown scene"):
        scenes.get_scene("nope")


def _digit_outcome(slug: str) -> tuple[int, int]:
    p = scenes.get_scene(slug).params
    x, y = data.mnist("test")
    i = int(p["index"])
    target = None if p["target"] == "none" else int(p["target"])
    result = digits.attack_digit(models.pretrained(p["model"]), x[i : i + 1].numpy(), int(y[i]),
                                 attack=p["attack"], eps=float(p["eps"]), steps=int(p["steps"]),
                                 target=target)
    return int(result.probs_clean.argmax()), int(result.probs_adv.argmax())


def test_seven_becomes_three():
    assert _digit_outcome("seven-to-three") == (7, 3)


def test_robust_model_holds_the_same_seven():
    assert _digit_outcome("robust-holds") == (7, 7)


def test_softmax_regression_falls_at_goodfellows_eps():
    clean, adv = _digit_outcome("softmax-falls")
    assert clean == 7 and adv != 7
    x, y = data.mnist("test")
    model = models.pretrained("mnist-linear")
    x_adv = attacks.fgsm(model, x, y, eps=0.25)
    with torch.no_grad():
        error = (model(x_adv).argmax(1) != y).float().mean().item()
    assert error >= 0.99  # Goodfellow et al. 2015: 99.9% error for softmax at ε = 0.25


@pytest.mark.parametrize("scene", scenes.SCENES, ids=lambda s: s.slug)
def test_scene_opens_its_page_and_sets_its_controls(scene):
    at = AppTest.from_file(str(ROOT / "pages" / f"{scene.page}.py"), default_timeout=240)
    for name, value in scene.query(talk=True).items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [w.value for w in at.warning] == []
    # The page wrote its whole scene back to the URL: the named controls kept their values.
    for name, value in scene.query(talk=True).items():
        assert at.query_params[name] == [value] or at.query_params[name] == value, name


def _boundary(slug: str, **change):
    from advcore.playground import boundary

    scene, _ = state.from_query(state.BoundaryScene, {**scenes.get_scene(slug).params, **change})
    return boundary.compute(scene)


def test_fgsm_moves_every_point_to_a_corner_of_its_eps_square():
    result = _boundary("fgsm-corner")
    eps = float(scenes.get_scene("fgsm-corner").params["eps"])
    step = result.attacked.x_adv - result.X
    assert abs(abs(step) - eps).max() < 1e-5  # |δ| = ε along both axes: a corner


def test_pgd_flips_points_that_fgsm_misses_on_the_curved_boundary():
    pgd = _boundary("pgd-walks")
    fgsm = _boundary("pgd-walks", attack="fgsm")
    assert pgd.attacked.flipped.sum() >= fgsm.attacked.flipped.sum() + 10


def test_pgd_is_visibly_short_of_the_exact_answer():
    """The ground-truth scene: PGD's accuracy is an upper bound, well above the true one."""
    from advcore.playground import boundary

    p = scenes.get_scene("attack-short-of-truth").params
    scene, _ = state.from_query(state.BoundaryScene, p)
    X, y = boundary.points_of(scene)
    model = boundary.train_model(scene)
    truth = boundary.ground_truth(model, X, y, norm="linf")
    pgd = boundary.attack_points(model, X, y, attack="pgd", eps=scene.eps, steps=scene.steps,
                                 seed=scene.seed)
    missed = truth.missed(pgd)
    assert missed.sum() >= 15
    assert pgd.adversarial_accuracy - truth.exact_accuracy(scene.eps) >= 0.075
    assert truth.certified_accuracy(scene.eps) <= truth.exact_accuracy(scene.eps)
    assert missed[scene.point] and truth.eps_star[scene.point] < scene.eps / 2


def test_the_readme_lists_every_scene() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for scene in scenes.SCENES:
        assert f"*{scene.title}*" in readme, scene.title
