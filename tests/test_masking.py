"""advcore.playground.masking and its figure: each fake defence's report on a few test digits, and the bar
chart drawn from it. Small inputs (8 digits of the shipped mnist-cnn), fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest

from advcore import data, models
from advcore.playground import masking, state
from advcore.playground.figures.masking import TITLE, claims_figure

pytestmark = pytest.mark.usefixtures("one_thread")
N = 8


@pytest.fixture(scope="module")
def quantized() -> masking.MaskingReport:
    x, y = data.mnist("test")
    return masking.masking_report(models.pretrained("mnist-cnn"), x[:N], y[:N], "quantized")


def test_quantization_looks_robust_to_pgd_and_falls_to_bpda(quantized) -> None:
    by_label = {m.label: m for m in quantized.measurements}
    assert [m.naive for m in quantized.measurements] == [True, True, False, False]
    assert by_label["PGD-20"].accuracy >= 0.85 and quantized.claimed >= 0.85
    assert by_label["BPDA-PGD-20"].accuracy <= 0.25
    assert quantized.worst <= min(m.accuracy for m in quantized.measurements)
    assert quantized.worst <= quantized.claimed - 0.5
    said = " ".join(quantized.warnings)
    assert "gradient is zero or vanishing" in said and "black-box attack (square)" in said


def test_the_worst_case_is_per_digit(quantized) -> None:
    every = np.logical_and.reduce([quantized.clean, *(m.robust for m in quantized.measurements)])
    assert quantized.worst == pytest.approx(every.mean())
    assert all(m.robust.shape == (N,) and m.robust.dtype == bool for m in quantized.measurements)


def test_the_scene_offers_exactly_the_registered_fake_defences() -> None:
    assert state.choices_of(state.MaskingScene, "defence") == tuple(masking.FAKES)


def test_an_unknown_defence_is_refused() -> None:
    x, y = data.mnist("test")
    with pytest.raises(ValueError, match="unknown fake defence"):
        masking.masking_report(models.pretrained("mnist-cnn"), x[:2], y[:2], "nope")


def _report(**robust: list[bool]) -> masking.MaskingReport:
    rows = [masking.Measurement(label, label in ("FGSM", "PGD-20"), "L∞ ε = 0.3",
                                np.array(r, bool)) for label, r in robust.items()]
    return masking.MaskingReport("quantized", 0.3, np.arange(4), np.ones(4, bool), tuple(rows),
                                 ())


@pytest.mark.parametrize("talk", [False, True])
def test_the_figure_has_a_bar_per_attack_then_the_claim_and_the_worst_case(talk: bool) -> None:
    report = _report(**{"FGSM": [1, 1, 1, 1], "PGD-20": [1, 1, 1, 0], "BPDA": [0, 1, 0, 0]})
    fig = claims_figure(report, talk=talk)
    (bar,) = fig.data
    assert list(bar.y) == [100, 75, 25, 75, 25]
    assert [t.split("<br>")[0] for t in bar.x][-2:] == ["<b>claimed</b>", "<b>worst case</b>"]
    assert list(bar.text) == ["100%", "75%", "25%", "75%", "25%"]
    assert bar.marker.color[0] != bar.marker.color[2]  # naive and right tool differ
    assert fig.layout.title.text.startswith(TITLE)
    assert fig.layout.font.size == (22 if talk else 14)
