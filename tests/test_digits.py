"""advcore.playground.digits and advcore.playground.figures.digits: the digits page's maths and figures, without Streamlit.

Runs on the shipped softmax-regression model (fast, and exact enough to check ε bookkeeping).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advcore import data, models, sweep
from advcore.attacks import get_attack
from advcore.playground import digits
from advcore.playground.figures import digits as figs


@pytest.fixture(scope="module")
def linear() -> torch.nn.Module:
    try:
        return models.pretrained("mnist-linear")
    except models.AssetError as exc:
        pytest.skip(f"mnist-linear weights unavailable: {exc}")


@pytest.fixture(scope="module")
def test_set() -> tuple[torch.Tensor, torch.Tensor]:
    return data.mnist("test")


@pytest.mark.parametrize("attack, eps", [("fgsm", 0.1), ("bim", 0.05), ("pgd", 0.2),
                                         ("mifgsm", 0.1), ("deepfool", 1.5), ("cw-l2", 2.0)])
def test_attack_digit_respects_eps_and_bounds(linear, test_set, attack: str, eps: float) -> None:
    x, y = test_set
    r = digits.attack_digit(linear, x[3].numpy(), int(y[3]), attack=attack, eps=eps, steps=5)
    assert r.clean.shape == r.adversarial.shape == r.perturbation.shape == (28, 28)
    assert r.adversarial.min() >= 0 and r.adversarial.max() <= 1
    np.testing.assert_allclose(r.perturbation, r.adversarial - r.clean, atol=1e-7)
    size = r.linf if attack in ("fgsm", "bim", "pgd", "mifgsm") else r.l2
    assert size <= eps + 1e-5
    assert r.probs_clean.sum() == pytest.approx(1, abs=1e-5)
    assert r.pred_adv == int(np.argmax(r.probs_adv))


def test_eps_zero_changes_nothing(linear, test_set) -> None:
    x, y = test_set
    r = digits.attack_digit(linear, x[0].numpy(), int(y[0]), attack="pgd", eps=0.0, steps=10)
    assert r.linf == 0 and not r.flipped


def test_targeted_success_means_the_target_wins(linear, test_set) -> None:
    x, y = test_set
    target = (int(y[5]) + 1) % 10
    r = digits.attack_digit(linear, x[5].numpy(), int(y[5]), attack="pgd", eps=0.3, steps=40,
                            target=target)
    assert r.target == target
    assert r.success == (r.pred_adv == target)
    assert r.success  # a linear model gives way at ε = 0.3 (76.5/255)


@pytest.mark.parametrize("attack, eps", [("fgsm", 0.1), ("pgd", 0.1), ("deepfool", 2.0)])
def test_logit_race_starts_clean_and_ends_on_the_panels(linear, test_set, attack: str,
                                                        eps: float) -> None:
    x, y = test_set
    r = digits.attack_digit(linear, x[7].numpy(), int(y[7]), attack=attack, eps=eps, steps=10)
    race = digits.logit_race(linear, r, attack=attack, eps=eps, steps=10, frames=6)
    np.testing.assert_allclose(race.epsilons, np.linspace(0, eps, 6))
    assert race.images.shape == (6, 28, 28) and race.logits.shape == (6, 10)
    np.testing.assert_array_equal(race.images[0], r.clean)
    np.testing.assert_array_equal(race.images[-1], r.adversarial)
    norm = np.inf if attack != "deepfool" else 2
    for e, img in zip(race.epsilons, race.images, strict=True):
        assert np.linalg.norm((img - r.clean).ravel(), ord=norm) <= e + 1e-4


def test_logit_race_of_cw_is_cw_rerun_at_each_eps(linear, test_set) -> None:
    """For C&W, whose search never looks at ε, each frame of the race is what C&W itself
    returns at that frame's ε (the oracle: a re-run). The whole perturbation is capped, its
    negative pixels (ink taken away) as much as its positive ones."""
    x, y = test_set
    eps = 3.0
    r = digits.attack_digit(linear, x[3].numpy(), int(y[3]), attack="cw-l2", eps=eps, steps=50)
    assert r.perturbation.min() < -0.05 < 0.05 < r.perturbation.max()
    race = digits.logit_race(linear, r, attack="cw-l2", eps=eps, steps=50, frames=5)
    inner = torch.tensor(race.epsilons[1:-1], dtype=torch.float32)
    rerun = get_attack("cw-l2")(linear, x[3:4].repeat(len(inner), 1, 1, 1),
                                y[3:4].repeat(len(inner)), eps=inner, steps=50)
    np.testing.assert_allclose(race.images[1:-1], rerun[:, 0].numpy(), atol=1e-5)
    ink = race.images.reshape(len(race.images), -1).sum(1)
    assert np.all(np.diff(ink) * np.sign(ink[-1] - ink[0]) >= -1e-3)  # monotone towards the end


def test_fragility_is_the_smallest_flipping_eps(linear, test_set) -> None:
    x, y = test_set
    digit, label = x[1].numpy(), int(y[1])
    found = digits.fragility({"mnist-linear": linear}, digit, {"mnist-linear": label},
                             attack="fgsm", steps=1)["mnist-linear"]
    assert 0 < found < digits.FRAGILITY_EPS_MAX["linf"]
    at = digits.attack_digit(linear, digit, label, attack="fgsm", eps=found, steps=1)
    below = digits.attack_digit(linear, digit, label, attack="fgsm",
                                eps=found - digits.FRAGILITY_TOL["linf"], steps=1)
    assert at.pred_adv != label and below.pred_adv == label


def test_gallery_is_class_balanced_and_flips_are_right_then_wrong(linear, test_set) -> None:
    x, y = test_set
    idx = digits.gallery_indices(y.numpy(), 16)
    assert len(set(idx.tolist())) == 16
    assert sorted(y[idx[:10]].tolist()) == list(range(10))
    g = digits.attack_gallery(linear, x, y, idx, attack="fgsm", eps=0.15, steps=1)
    assert g.adversarial.shape == (16, 28, 28)
    np.testing.assert_array_equal(g.flipped, (g.pred_clean == g.labels) & (g.pred_adv != g.labels))
    assert g.flipped.any()
    halves = [digits.attack_gallery(linear, x, y, idx[a:b], attack="fgsm", eps=0.15, steps=1)
              for a, b in ((0, 4), (4, 16))]
    joined = digits.Gallery.concat(halves)
    np.testing.assert_array_equal(joined.adversarial, g.adversarial)
    np.testing.assert_array_equal(joined.indices, g.indices)


def test_counts_add_up_over_chunks(linear, test_set) -> None:
    x, y = test_set
    whole = digits.attack_counts(linear, x[:60], y[:60], attack="fgsm", eps=0.05, steps=1,
                                 target=3)
    parts = (digits.attack_counts(linear, x[:25], y[:25], attack="fgsm", eps=0.05, steps=1,
                                  target=3)
             + digits.attack_counts(linear, x[25:60], y[25:60], attack="fgsm", eps=0.05, steps=1,
                                    target=3))
    assert whole == parts
    assert whole.n == 60 and whole.eligible_target == int((y[:60] != 3).sum())


# --- figures -------------------------------------------------------------------------------------


def test_perturbation_scale_says_what_it_draws() -> None:
    delta = np.zeros((28, 28), np.float32)
    delta[3, 4] = 0.1
    assert figs.perturbation_scale(delta, eps=0.1, norm="linf", amplify=True) == (
        0.1, "±ε = ±0.100 (25.5/255), amplified ×10")
    scale, text = figs.perturbation_scale(delta, eps=0.1, norm="linf", amplify=False)
    assert scale == 1.0 and "true scale" in text
    scale, text = figs.perturbation_scale(delta, eps=2.0, norm="l2", amplify=True)
    assert scale == pytest.approx(0.1) and "max|δ|" in text and "L2" in text
    scale, text = figs.perturbation_scale(delta * 0, eps=0.0, norm="linf", amplify=True)
    assert "nothing changed" in text and scale > 0


def _pngs(page: str) -> dict[str, np.ndarray]:
    """The RGB pixels of each panel image in panels_html's output, by data-panel name."""
    import base64
    import io
    import re

    from PIL import Image

    return {name: np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))
            for name, data in re.findall(
                r"data-panel='(\w+)' src='data:image/png;base64,([^']+)'", page)}


def test_panels_are_three_digits_and_a_signed_scale_centred_at_zero() -> None:
    rng = np.random.default_rng(0)
    clean = rng.random((28, 28), dtype=np.float32)
    delta = rng.uniform(-0.1, 0.1, (28, 28)).astype(np.float32)
    delta[0, :3] = (-0.1, 0.0, 0.1)
    adversarial = np.clip(clean + delta, 0, 1)
    page = figs.panels_html(clean, delta, adversarial, pred_clean=7, conf_clean=0.99,
                            pred_adv=3, conf_adv=0.8, eps=0.1, norm="linf")
    pngs = _pngs(page)
    assert list(pngs) == ["original", "perturbation", "adversarial"]
    assert all(p.shape == (28, 28, 3) for p in pngs.values())
    # The digits come back from their pixels to within 8-bit rounding.
    assert np.abs(figs.ink_of(pngs["original"]) - clean).max() <= 1 / 476 + 1e-9
    assert np.abs(figs.ink_of(pngs["adversarial"]) - adversarial).max() <= 1 / 476 + 1e-9
    # −ε, 0 and +ε are the two ends and the white middle of the diverging scale.
    ends = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in ("#2166ac", "#f7f7f7",
                                                                   "#b2182b")]
    assert [tuple(pngs["perturbation"][0, k]) for k in range(3)] == ends
    assert "colour scale ±ε = ±0.100 (25.5/255), amplified&nbsp;×10" in page
    assert "Adversarial → <b><span style='color:#d62728'>3</span></b>" in page  # a flip is red


def test_colours_round_trip_and_the_change_is_counted_in_words() -> None:
    ink = np.linspace(0, 1, 28 * 28).reshape(28, 28)
    assert np.abs(figs.ink_of(figs.colourize(ink, figs.INK, 0.0, 1.0)) - ink).max() <= 1 / 476
    delta = np.zeros((28, 28), np.float32)
    delta[:2] = 0.1   # 56 pixels at +ε
    delta[2] = -0.1   # 28 at −ε
    delta[3, :5] = 0.03
    assert figs.perturbation_summary(delta, eps=0.1, norm="linf") == (
        "+ε on 56 pixels (ink added), −ε on 28 (ink removed), less than ε on 700.")
    assert figs.perturbation_summary(delta * 0, eps=0.1, norm="linf") == "No pixel changed."
    assert "‖δ‖₂ = " in figs.perturbation_summary(delta, eps=2.0, norm="l2")


def test_probability_bars_are_as_tall_as_the_probabilities_and_mark_label_and_target() -> None:
    import re

    before = np.full(10, 0.01)
    before[7] = 0.91
    after = np.full(10, 0.02)
    after[3] = 0.82
    page = figs.probabilities_html(before, after, label=7, target=3)
    bars = [float(h) for h in re.findall(r"width:100%;height:([0-9.]+)px;background:#", page)]
    assert len(bars) == 20
    heights = np.array(bars).reshape(10, 2)  # per class: before, after
    np.testing.assert_allclose(heights / 150, np.stack([before, after], 1), atol=1e-3)
    assert "<b>7</b> (label)" in page and "<b>3</b> (target)" in page
    assert "title='class 3: 82.00% after'" in page


def test_gallery_frames_exactly_the_flips() -> None:
    import re

    labels = np.array([1, 2, 3, 4])
    pred_clean = np.array([1, 2, 0, 4])  # #2 was already wrong: not a flip
    pred_adv = np.array([7, 2, 5, 4])
    page = figs.gallery_html(np.zeros((4, 28, 28)), [10, 11, 12, 13], labels, pred_clean,
                             pred_adv, columns=2)
    assert re.findall(r"data-index='(\d+)' data-flipped='(\d)'", page) == [
        ("10", "1"), ("11", "0"), ("12", "0"), ("13", "0")]
    assert page.count("3px solid #d62728") == 1 and "1 flipped" in page
    assert "#10 1→7" in page and "#12 3→5" in page


def test_race_animation_redraws_every_frame() -> None:
    eps = np.linspace(0, 0.1, 4)
    fig = figs.logit_race_figure(eps, np.zeros((4, 28, 28)), np.zeros((4, 10)), label=1,
                                 target=None, norm="linf")
    assert len(fig.frames) == 4
    play = fig.layout.updatemenus[0].buttons[0].args[1]
    assert play["frame"]["redraw"] is True  # a heatmap animated without redraw vanishes
    # The slider's "ε = …" sits at its right end, clear of the Play/Pause buttons on its left.
    assert fig.layout.sliders[0].currentvalue.xanchor == "right"


def test_fragility_labels_stay_inside_the_figure() -> None:
    """A digit no attack flips up to eps_max has its bar to eps_max and its words inside it
    (beside it they ran past the right edge in talk mode); a finite ε's label is beside its bar."""
    fig = figs.fragility_figure({"a": 0.05, "b": float("inf")}, current_eps=0.1, norm="linf",
                                eps_max=0.5, talk=True)
    beside, inside = fig.layout.annotations[:2]
    assert beside.xanchor == "left" and beside.x == 0.05
    assert inside.xanchor == "right" and inside.x == 0.5 <= fig.layout.xaxis.range[1]
    assert inside.text.startswith("not flipped up to<br>")


# --- the new attacks: what they cost, HopSkipJump's ε-free walk, no gradient for black boxes --

BLACK_BOX = ("square", "square-l2", "hsja")


def backward_passes(model: torch.nn.Module) -> tuple[torch.nn.Module, list[int]]:
    """A copy of `model` and a one-item list counting the backward passes through its layers
    (a module backward hook, independent of the page's own counter)."""
    import copy

    clone = copy.deepcopy(model)
    count = [0]
    first = next(m for m in clone.modules() if not list(m.children()))
    first.register_full_backward_hook(lambda *_: count.__setitem__(0, count[0] + 1))
    return clone, count


@pytest.mark.parametrize("attack, eps", [("fgsm", 0.1), ("pgd", 0.1), ("apgd-ce", 0.1),
                                         ("apgd-dlr", 0.1), ("deepfool", 2.0)])
def test_gradient_attacks_report_the_passes_they_made(linear, test_set, attack, eps) -> None:
    x, y = test_set
    from advcore.attacks import get_attack

    spy, passes = backward_passes(linear)
    r = digits.attack_digit(linear, x[5].numpy(), int(y[5]), attack=attack, eps=eps, steps=7)
    get_attack(attack)(spy, x[5:6], y[5:6], eps=eps, steps=7, seed=digits.SEED)
    assert r.queries is None and r.gradients == passes[0] > 0
    if attack == "pgd":
        assert r.gradients == 7  # one per step


@pytest.mark.parametrize("attack, eps", [("square", 0.15), ("square-l2", 2.0), ("hsja", 3.0)])
def test_black_box_attacks_report_the_engines_query_count(linear, test_set, attack, eps) -> None:
    from advcore.attacks import run_attack

    x, y = test_set
    r = digits.attack_digit(linear, x[7].numpy(), int(y[7]), attack=attack, eps=eps, steps=120)
    ref = run_attack(attack, linear, x[7:8], y[7:8], eps=eps, queries=120, seed=digits.SEED,
                     return_info=True)
    assert r.gradients is None and r.queries == int(ref.queries[0])
    assert 1 <= r.queries <= 120
    np.testing.assert_array_equal(r.adversarial, ref.x_adv[0, 0].numpy())


def test_hopskipjump_capped_walk_is_the_attack_at_every_eps(linear, test_set) -> None:
    from advcore.attacks import run_attack

    x, y = test_set
    idx = torch.arange(4)
    walked = digits.walk(linear, x[idx], y[idx], attack="hsja", steps=200)
    for eps in (0.5, 1.0, 4.0):
        ref = run_attack("hsja", linear, x[idx], y[idx], eps=eps, queries=200,
                         seed=digits.SEED, return_info=True)
        torch.testing.assert_close(sweep.cap(x[idx], walked.x_adv, eps), ref.x_adv,
                                   rtol=0, atol=1e-6)
        torch.testing.assert_close(walked.queries, ref.queries, rtol=0, atol=0)
    one = digits.attack_digit(linear, x[0].numpy(), int(y[0]), attack="hsja", eps=1.0,
                              steps=200, walked=digits.walk(linear, x[:1], y[:1],
                                                            attack="hsja", steps=200))
    direct = digits.attack_digit(linear, x[0].numpy(), int(y[0]), attack="hsja", eps=1.0,
                                 steps=200)
    np.testing.assert_allclose(one.adversarial, direct.adversarial, atol=1e-6)
    assert one.queries == direct.queries
    g = digits.attack_gallery(linear, x, y, np.arange(4), attack="hsja", eps=1.0, steps=200,
                              walked=walked)
    np.testing.assert_array_equal(g.queries, walked.queries.numpy())
    with pytest.raises(ValueError, match="only caps"):
        digits.walk(linear, x[:1], y[:1], attack="square", steps=10)


@pytest.mark.parametrize("attack", BLACK_BOX)
def test_black_box_attacks_on_the_page_never_read_a_gradient(linear, test_set, attack) -> None:
    from tests.test_blackbox import NoGradient

    x, y = test_set
    spy = NoGradient(linear)
    eps = 0.2 if attack == "square" else 3.0
    r = digits.attack_digit(spy, x[1].numpy(), int(y[1]), attack=attack, eps=eps, steps=40)
    digits.logit_race(spy, r, attack=attack, eps=eps, steps=40, frames=4)
    digits.attack_gallery(spy, x, y, np.arange(3), attack=attack, eps=eps, steps=40)
    digits.attack_counts(spy, x[:5], y[:5], attack=attack, eps=eps, steps=40)
    found = digits.fragility({"linear": spy}, x[1].numpy(), {"linear": int(y[1])},
                             attack=attack, steps=40)
    assert spy.rows > 0 and found["linear"] > 0


def test_black_box_fragility_bisects_with_its_own_budget(linear, test_set) -> None:
    """The smallest ε it reports flips the digit with that budget, and (a coarser tolerance
    below) a run at ε − tolerance does not."""
    from advcore.attacks import run_attack

    x, y = test_set
    found = digits.fragility({"linear": linear}, x[2].numpy(), {"linear": int(y[2])},
                             attack="square", steps=60)["linear"]
    assert 0 < found <= digits.FRAGILITY_EPS_MAX["linf"]
    adv = run_attack("square", linear, x[2:3], y[2:3], eps=found, queries=60, seed=digits.SEED)
    assert int(linear(adv).argmax()) != int(y[2])
