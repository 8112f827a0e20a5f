"""advcore.playground.masking and its figure: each fake defence's report on a few test digits, and the bar
chart drawn from it. Small inputs (8 digits of the shipped mnist-cnn), fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

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


# --- in 2-D: the masked /boundary network, PGD against Square, the exact truth ---------------

PLANE_EPS = 0.3


@pytest.fixture(scope="module")
def plane():
    """The moons network of /boundary's default scene (200 points, fixed seed 0), trained once."""
    from advcore.playground import boundary
    spec = masking.plane_spec("moons")
    X, y = boundary.points_of(spec)
    return boundary.train_model(spec, points=(X, y)), X, y


@pytest.fixture(scope="module")
def plane_reports(plane) -> dict[str, masking.PlaneReport]:
    model, X, y = plane
    return {d: masking.plane_report(model, X, y, defence=d, eps=PLANE_EPS)
            for d in masking.PLANE_FAKES}


@pytest.mark.parametrize("defence", list(masking.PLANE_FAKES))
def test_pgd_fools_almost_none_of_the_points_within_reach_and_square_most(
        plane_reports, defence: str) -> None:
    r = plane_reports[defence]
    reach = r.within_count
    assert reach >= 30  # the exact answer: many points lie within ε of the boundary
    pgd = int((r.within & r.pgd.flipped).sum())
    square = int((r.within & r.square.flipped).sum())
    assert pgd <= 0.1 * reach
    # Rounding keeps the scores, so Square reads its way across; one-hot scores leave it the
    # corners of the ε-square to try, which finds most but not all.
    assert square >= (0.95 if defence == "quantized" else 0.75) * reach
    assert r.pgd.adversarial_accuracy >= r.square.adversarial_accuracy + 0.1
    assert r.pgd_stuck.mean() >= 0.95  # a zero gradient at every step: PGD never moved


@pytest.mark.parametrize("defence", list(masking.PLANE_FAKES))
@pytest.mark.parametrize("eps", [0.1, 0.5])
def test_no_attack_beats_the_exact_truth(plane, defence: str, eps: float) -> None:
    model, X, y = plane
    r = masking.plane_report(model, X, y, defence=defence, eps=eps)
    for attacked in (r.pgd, r.square):
        assert not (attacked.flipped & ~r.within).any()
        assert (attacked.perturbation <= eps + 1e-5).all()


def test_the_quantized_truth_is_the_networks_within_a_rounding_step(plane) -> None:
    """Two independent answers: every rounding cell enumerated, and advcore.exact's boundary of
    the unrounded network; the rounding moves each point's distance by at most one step."""
    model, X, y = plane
    rounded = masking.plane_truth(model, X, y, "quantized", eps_max=1.0)
    network = masking.plane_truth(model, X, y, "saturated", eps_max=1.0)
    assert (np.isfinite(rounded) == np.isfinite(network)).mean() >= 0.99
    both = np.isfinite(rounded) & np.isfinite(network)
    assert both.sum() >= 100
    assert np.abs(rounded[both] - network[both]).max() <= masking.PLANE_STEP


def test_the_wrappers_keep_the_networks_decisions(plane) -> None:
    """The same argmax on a fine grid: exactly for the saturated softmax; for the rounding,
    everywhere but within half a step of the boundary (advcore.exact says how near)."""
    from advcore import exact
    from advcore.playground import boundary
    model, X, _ = plane
    lo, hi = boundary.extent(X)
    g = np.stack(np.meshgrid(np.linspace(lo[0], hi[0], 150), np.linspace(lo[1], hi[1], 150)),
                 -1).reshape(-1, 2).astype(np.float32)
    pts = torch.from_numpy(g)
    with torch.no_grad():
        inner = model(pts).argmax(1)
        saturated = masking.plane_fake(model, "saturated")(pts).argmax(1)
        rounded = masking.plane_fake(model, "quantized")(pts).argmax(1)
    assert torch.equal(saturated, inner)
    differ = (rounded != inner).numpy()
    assert differ.mean() < 0.01
    if differ.any():
        near = exact.minimal_adversarial(model, g[differ], inner.numpy()[differ], norm="linf",
                                         box=exact.box_for(X, 0.1))
        assert (near.eps <= masking.PLANE_STEP / 2 + 1e-5).all()


def test_square_on_the_plane_never_reads_a_gradient(plane, plane_reports) -> None:
    from advcore.attacks import ATTACKS
    from tests.test_blackbox import NoGradient
    model, X, y = plane
    for defence, r in plane_reports.items():
        spy = NoGradient(masking.plane_fake(model, defence))
        result = ATTACKS["square"].run(spy, torch.from_numpy(X), torch.from_numpy(y),
                                       eps=PLANE_EPS, queries=masking.PLANE_QUERIES,
                                       bounds=None, seed=0)
        assert int(result.queries.sum()) == spy.rows
        # the page's Square is this gradient-free run, query for query
        assert np.array_equal(result.x_adv.numpy(), r.square.x_adv)
        assert np.array_equal(result.queries.numpy(), r.square.queries)


def test_an_unknown_plane_defence_is_refused(plane) -> None:
    model, X, y = plane
    with pytest.raises(ValueError, match="unknown fake defence"):
        masking.plane_report(model, X, y, defence="noisy", eps=0.3)


def test_the_scene_offers_exactly_the_plane_defences() -> None:
    assert state.choices_of(state.MaskingScene, "toy_defence") == tuple(masking.PLANE_FAKES)


@pytest.mark.parametrize("talk", [False, True])
def test_the_plane_figure_shows_both_attacks_on_the_same_map(plane_reports, talk: bool) -> None:
    from advcore.playground.figures.masking import plane_figure
    r = plane_reports["quantized"]
    fig = plane_figure(r, talk=talk)
    assert len(fig.layout.images) == 2
    assert fig.layout.images[0].source == fig.layout.images[1].source
    reach = r.within_count
    assert f"{reach} of {r.n} points" in fig.layout.title.text
    left, right = (a.text for a in fig.layout.annotations)
    assert left.startswith("<b>PGD-20</b>") and right.startswith("<b>Square</b>")
    assert f"fooled {int((r.within & r.pgd.flipped).sum())} of {reach}" in left
    assert f"fooled {int((r.within & r.square.flipped).sum())} of {reach}" in right
    paths = [t for t in fig.data if t.name.endswith("'s path")]
    assert [t.xaxis for t in paths] == ["x", "x2"]
    # one path per point within reach, each of the attack's frames, then a gap
    assert sum(v is None for v in paths[1].x) == reach
    assert len(paths[1].x) == reach * (len(r.square.frames) + 1)
    assert fig.layout.font.size == (22 if talk else 14)
