"""advcore.digits and advcore.figures.digits: the digits page's maths and figures, without Streamlit.

Runs on the shipped softmax-regression model (fast, and exact enough to check ε bookkeeping).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advcore import data, digits, models
from advcore.figures import digits as figs


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
