"""advcore.playground.robustness and its figures: published numbers, curves from cards and live, transfer,
2-D adversarial training. Live computations use tiny models or small subsets of the test digits
(said at each test) so the file runs in seconds on two shared CPU cores."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from advcore import sweep
from advcore.data import mnist
from advcore.evaluate import robust_accuracy
from advcore.models import AssetError, load_card, pretrained
from advcore.playground import robustness as rb
from advcore.playground.figures import robustness as figs
from tests.conftest import TinyCNN, WorstCaseCounts, labels_of


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Every model here is tiny (the largest is 784×10): on two shared cores, a second torch
    thread spends more time waiting than computing (57 s vs 11 s for the card test)."""
    with rb.one_thread():
        yield


def shipped(name: str) -> nn.Module:
    """A shipped model, or skip the test when its weights are not built yet."""
    try:
        return pretrained(name)
    except AssetError as exc:
        pytest.skip(str(exc))


# --- the published numbers --------------------------------------------------------------------


def test_references_are_the_papers_numbers() -> None:
    by = {(r.source, r.model, r.eps): r.accuracy for r in rb.REFERENCES}
    # Goodfellow et al. 2015 report error rates at ε = 0.25; stored as accuracy = 1 − error.
    assert by[("Goodfellow et al. 2015", "shallow softmax", 0.25)] == pytest.approx(0.001)
    assert by[("Goodfellow et al. 2015", "maxout network", 0.25)] == pytest.approx(0.106)
    assert by[("Goodfellow et al. 2015", "maxout, FGSM-trained", 0.25)] == \
        pytest.approx(0.821)
    assert by[("Madry et al. 2018", "PGD-trained CNN", 0.3)] == 0.89
    tutorial = sorted((r.eps, r.accuracy) for r in rb.REFERENCES if r.model == "LeNet")
    assert tutorial == [(0.05, 0.943), (0.1, 0.851), (0.15, 0.683), (0.2, 0.430), (0.25, 0.208),
                        (0.3, 0.087)]
    assert {r.attack for r in rb.REFERENCES if r.source == "Madry et al. 2018"} == {"pgd"}
    assert all(r.ours in rb.MODEL_ORDER for r in rb.REFERENCES)


def test_eps_in_grey_levels() -> None:
    assert rb.eps_255(0.25) == "63.75/255"
    assert rb.eps_255(0.1) == "25.5/255"
    assert rb.eps_255(0.0) == "0/255"


# --- curves -----------------------------------------------------------------------------------

CARD = {"curves": {"epsilons": [0.0, 0.1, 0.2], "pgd_steps": 20, "fgsm": [0.9, 0.5, 0.2],
                   "pgd": [0.9, 0.3, 0.0]}, "pgd100_accuracy_eps_0.3": 0.05}


def test_card_curves_read_both_attacks() -> None:
    fgsm, pgd = rb.card_curves("mnist-cnn", CARD, 1000)
    assert (fgsm.attack, fgsm.steps, fgsm.source, fgsm.n) == ("fgsm", 1, "card", 1000)
    assert (pgd.attack, pgd.steps) == ("pgd", 20)
    assert pgd.at(0.1) == 0.3 and pgd.at(0.15) is None


@pytest.mark.parametrize("card", [{}, {"curves": {"epsilons": [0, 0.1]}},
                                  {"curves": {"epsilons": [0, 0.1], "fgsm": [1], "pgd": [1, 0]}}])
def test_card_without_usable_curves_is_a_clear_error(card: dict) -> None:
    with pytest.raises(ValueError, match="mnist-cnn"):
        rb.card_curves("mnist-cnn", card, 1000)


def test_curve_cells_cover_every_point_once_cheapest_first() -> None:
    cells = rb.curve_cells(["mnist-linear", "mnist-cnn"], [0.0, 0.1, 0.2], n=600, chunk=250)
    assert len(cells) == len(set(cells))
    spans = [(0, 250), (250, 500), (500, 600)]
    for model in ("mnist-linear", "mnist-cnn"):
        assert {(c.start, c.stop) for c in cells if c.model == model and c.attack == "none"} == \
            set(spans)
        for attack in ("fgsm", "pgd"):
            got = {(c.eps, c.start, c.stop) for c in cells if c.model == model and
                   c.attack == attack}
            assert got == {(e, s, t) for e in (0.1, 0.2) for s, t in spans}
    costs = [rb.cell_cost(c, steps=20) for c in cells]
    assert costs == sorted(costs)


def _tiny_models() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    a, b = TinyCNN().eval(), TinyCNN().eval()
    return {"a": a, "b": b}


def _tiny_data(model: nn.Module, n: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    return x, labels_of(model, x)


def test_live_curves_agree_with_evaluate_and_do_not_touch_the_models() -> None:
    models = _tiny_models()
    x, y = _tiny_data(models["a"])
    before = {k: copy.deepcopy(m.state_dict()) for k, m in models.items()}
    seen: list[float] = []
    curves = rb.live_curves(models, x, y, epsilons=[0.0, 0.05, 0.2], steps=3,
                            progress=lambda f, what: seen.append(f))
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    by = {(c.model, c.attack): c for c in curves}
    for name, m in models.items():
        for attack in ("fgsm", "pgd"):
            c = by[(name, attack)]
            assert c.source == "live" and c.n == len(x) and c.epsilons == (0.0, 0.05, 0.2)
            for e, acc in zip(c.epsilons[1:], c.accuracy[1:], strict=True):
                assert acc == pytest.approx(robust_accuracy(m, x, y, attack=attack, eps=e,
                                                            steps=3, seed=rb.SEED))
        assert all(torch.equal(v, m.state_dict()[k]) for k, v in before[name].items())
        assert not m.training
    assert by[("a", "fgsm")].accuracy[0] == 1.0  # labels are model a's own predictions


def test_chunked_fgsm_cells_sum_to_the_whole() -> None:
    """FGSM has no randomness, so cutting the digits into cells changes nothing."""
    models = _tiny_models()
    x, y = _tiny_data(models["b"], n=50)
    whole = rb.live_curves(models, x, y, epsilons=[0.1, 0.3], attacks=("fgsm",))
    parts = rb.live_curves(models, x, y, epsilons=[0.1, 0.3], attacks=("fgsm",), chunk=16)
    assert [c.accuracy for c in whole] == [c.accuracy for c in parts]


def test_takeaways_quote_the_curves_numbers() -> None:
    e = (0.0, 0.1, 0.3)
    curves = [rb.Curve("mnist-linear", "fgsm", e, (0.9, 0.05, 0.0), 1, 1000, "card"),
              rb.Curve("mnist-cnn", "fgsm", e, (0.99, 0.8, 0.05), 1, 1000, "card"),
              rb.Curve("mnist-cnn", "pgd", e, (0.99, 0.6, 0.0), 20, 1000, "card"),
              rb.Curve("mnist-cnn-robust", "pgd", e, (0.98, 0.95, 0.9), 20, 1000, "card")]
    text = " ".join(rb.takeaways(curves))
    assert "ε = 0.1 (25.5/255) leaves it 5%" in text
    assert "keeps 80% against one FGSM step and 60% against PGD-20" in text
    assert "mnist-cnn-robust keeps 90% where the same network trained normally keeps 0%" in text
    assert rb.takeaways(curves[:1]) and not rb.takeaways([])


def test_curve_difference() -> None:
    fgsm, pgd = rb.card_curves("m", CARD, 1000)
    moved = rb.Curve("m", "pgd", (0.0, 0.1), (0.9, 0.35), 20, 100, "live")
    assert rb.curve_difference([moved], [fgsm, pgd]) == pytest.approx(0.05)
    assert rb.curve_difference([], [fgsm]) == 0.0


def test_live_run_reproduces_the_linear_models_card() -> None:
    """All 1,000 test digits, mnist-linear only (a few seconds): one cell per point gives the
    card's numbers exactly, PGD included (same batch, same random start)."""
    model = shipped("mnist-linear")
    card = rb.card_curves("mnist-linear", load_card("mnist-linear"), 1000)
    x, y = mnist("test")
    live = rb.live_curves({"mnist-linear": model}, x, y, epsilons=card[0].epsilons,
                          steps=card[1].steps)
    assert rb.curve_difference(live, card) <= 0.0015  # the card rounds to 4 decimals


def test_paper_comparison_pairs_each_reference_with_our_model() -> None:
    curves = [c for name in rb.MODEL_ORDER for c in rb.card_curves(name, {
        "curves": {"epsilons": [0.0, 0.25, 0.3], "pgd_steps": 20, "fgsm": [1.0, 0.5, 0.4],
                   "pgd": [1.0, 0.2, 0.1]}}, 1000)]
    cards = {"mnist-cnn-robust": {"pgd100_accuracy_eps_0.3": 0.07}}
    rows = rb.paper_comparison(curves, cards)
    assert len(rows) == len(rb.REFERENCES)
    madry = next(r for r in rows if r.reference.source == "Madry et al. 2018")
    assert madry.ours_accuracy == 0.07 and "PGD-100" in madry.ours_setting
    softmax = next(r for r in rows if r.reference.model == "shallow softmax")
    assert softmax.ours_model == "mnist-linear" and softmax.ours_accuracy == 0.5
    assert softmax.difference == pytest.approx(0.5 - 0.001)
    lenet_005 = next(r for r in rows if r.reference.model == "LeNet" and r.reference.eps == 0.05)
    assert lenet_005.ours_accuracy is None  # our curve has no point at 0.05: say so, never guess
    table = figs.comparison_table(rows)
    assert table[0]["paper's accuracy"] == "0.1% (1 − 99.9% error)"
    assert next(t for t in table if "LeNet" in t["published"] and "ε 0.05" in t["attack"]
                )["ours"] == "mnist-cnn: —"


# --- transferability --------------------------------------------------------------------------


def test_transfer_matrix_diagonal_is_white_box() -> None:
    models = _tiny_models()
    x, y = _tiny_data(models["a"], n=30)
    m = rb.transfer_matrix(models, x, y, attack="fgsm", eps=0.2)
    assert m.accuracy.shape == (2, 2) and m.clean.shape == (2,)
    for i, name in enumerate(m.sources):
        assert m.accuracy[i, i] == pytest.approx(
            robust_accuracy(models[name], x, y, attack="fgsm", eps=0.2))
    assert ((m.accuracy >= 0) & (m.accuracy <= 1)).all()
    fig = figs.transfer_figure(m)
    assert np.asarray(fig.data[0].z).shape == (3, 2)  # a clean row on top of the matrix
    assert "Read a row across" in figs.transfer_summary(m)


# --- 2-D adversarial training -----------------------------------------------------------------


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_adversarial_training_raises_robust_accuracy(attack: str) -> None:
    """A short run (120 points, 150 epochs) keeps the test fast; the effect is already there."""
    r = rb.adversarial_training_2d("moons", attack=attack, eps=0.3, n=120, epochs=150,
                                   n_test=200, noise=0.15)
    assert r.after.accuracy[attack] > r.before.accuracy[attack] + 0.03
    assert r.after.accuracy["clean"] > 0.8
    g = r.before.grid
    assert g.prob.shape == (len(g.gy), len(g.gx))
    assert g.prob.min() >= 0 and g.prob.max() <= 1
    a = r.after.attacked
    assert a.x_adv.shape == r.X_test.shape and a.attack == attack
    # The animation's last frame is the attack the accuracy was measured with.
    assert (~a.frame_wrong[-1]).mean() == pytest.approx(r.after.accuracy[attack])
    # Both networks start from the same weights and data: the picture is reproducible.
    again = rb.adversarial_training_2d("moons", attack=attack, eps=0.3, n=120, epochs=150,
                                       n_test=200, noise=0.15)
    assert np.array_equal(again.after.grid.prob, r.after.grid.prob)
    before, after = figs.training_figures(r)
    assert after.layout.images[0].source.startswith("data:image/png")
    assert after.data[0].mode == "lines"  # the boundary, over the map
    assert f"{int(a.flipped.sum())} of 200 points flipped" in after.layout.title.text
    assert after.frames  # ▶ Play animates the test points


def test_adversarial_training_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="attack"):
        rb.adversarial_training_2d("moons", attack="cw-l2", eps=0.3)
    with pytest.raises(ValueError, match="eps"):
        rb.adversarial_training_2d("moons", attack="fgsm", eps=0.0)


# --- examples and figures ---------------------------------------------------------------------


def test_one_per_class_and_examples() -> None:
    y = np.array([3, 1, 0, 1, 2, 3, 0])
    assert rb.one_per_class(y, 4).tolist() == [2, 1, 4, 0]
    models = _tiny_models()
    x, labels = _tiny_data(models["a"], n=20)
    idx = rb.one_per_class(labels.numpy())
    ex = rb.attack_examples(models, x, labels, idx, attack="pgd", eps=0.1, steps=3)
    assert ex.clean.shape == (len(idx), 8, 8)
    assert set(ex.adversarial) == {"a", "b"}
    assert np.abs(ex.adversarial["a"] - ex.clean).max() <= 0.1 + 1e-6
    fig = figs.examples_figure(ex, eps=0.1, attack="pgd")
    assert len(fig.data) == 3 * len(idx)


def test_curves_figure_labels_papers_and_units() -> None:
    curves = rb.card_curves("mnist-cnn", CARD, 1000)
    fig = figs.curves_figure(curves, rb.REFERENCES)
    names = [t.name for t in fig.data]
    assert any("Goodfellow 2015: softmax (1 − error)" in n for n in names)
    assert any("Madry" in n for n in names) and any("LeNet" in n for n in names)
    texts = {a.text for a in fig.layout.annotations}
    assert {"0.1%", "10.6%", "82.1%", "89%"} <= texts
    assert "0.1<br>" in " ".join(fig.layout.xaxis.ticktext)
    assert ">25.5<" in " ".join(fig.layout.xaxis.ticktext)
    assert any("out of 255" in a.text for a in fig.layout.annotations)
    live = [rb.Curve(c.model, c.attack, c.epsilons, c.accuracy, c.steps, 100, "live")
            for c in curves]
    both = figs.curves_figure(live, (), compare=curves, talk=True)
    assert sum(t.line.dash == "dot" for t in both.data) == 2
    assert both.layout.font.size > fig.layout.font.size
    # On a projector the legend sits above the panels in short names: the paper's without
    # "paper ·" and its unit note, the model's own name; the full names stay for the page.
    talk = figs.curves_figure(curves, rb.REFERENCES, talk=True)
    shown = [t.name for t in talk.data if t.showlegend is not False]
    assert "Goodfellow 2015: softmax" in shown and "mnist-cnn" in shown
    assert not any("paper ·" in n or "(" in n for n in shown), shown
    assert sum(map(len, shown)) < 0.7 * sum(len(t.name) for t in fig.data
                                            if t.showlegend is not False)
    assert talk.layout.legend.yanchor == "bottom" and talk.layout.legend.font.size >= 15


def test_robust_bars_figure() -> None:
    values = {"mnist-cnn": {"clean": 0.98, "fgsm": 0.1, "pgd": 0.0},
              "mnist-cnn-robust": {"clean": 0.97, "fgsm": 0.9, "pgd": 0.88}}
    fig = figs.robust_bars_figure(values, eps=0.3, steps=20)
    assert [t.name.split()[0] for t in fig.data] == ["mnist-cnn", "mnist-cnn-robust"]
    assert list(fig.data[1].text) == ["97.0%", "90.0%", "88.0%"]


def test_one_thread_restores_the_thread_count() -> None:
    before = torch.get_num_threads()
    with rb.one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), rb.one_thread():
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_mnist_linears_exact_curve_lies_under_every_attack():
    from advcore import attacks, data, models
    from advcore.playground import robustness as rb_engine
    from advcore.playground.figures import robustness as rb_figs

    model = models.pretrained("mnist-linear")
    x, y = data.mnist("test")
    x, y = x[:200], y[:200]
    curve = rb_engine.exact_linear_curve(model, x, y, (0.0, 0.02, 0.05, 0.1, 0.25))
    assert curve.attack == "exact" and curve.n == 200
    assert all(a >= b for a, b in zip(curve.accuracy, curve.accuracy[1:], strict=False))
    for e, exact_acc in zip(curve.epsilons[1:], curve.accuracy[1:], strict=True):
        for attack in (attacks.fgsm, attacks.pgd):
            with torch.no_grad():
                acc = float((model(attack(model, x, y, eps=e)).argmax(1) == y).float().mean())
            assert exact_acc <= acc + 1e-9, (attack.__name__, e)
    fig = rb_figs.curves_figure([], exact=[curve])
    exact_traces = [t for t in fig.data if "exact" in t.name]
    assert len(exact_traces) == 2 and exact_traces[0].line.shape == "hv"  # both panels


# --- the worst case beside PGD ----------------------------------------------------------------


def _linear_digits(n: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    x, y = mnist("test")
    return shipped("mnist-linear"), x[:n], y[:n]


def test_worst_case_count_is_a_direct_engine_call_and_its_progress_reaches_the_end(
        worst_case_counts: WorstCaseCounts) -> None:
    """The wrappers that report progress and ask should_stop only watch: the counts are those
    of robust_accuracy called directly on the same digits (the oracle), and the reported
    fraction only grows and ends at 1.0. Shipped mnist-linear, 50 digits, ε = 0.05."""
    model, x, y = _linear_digits(50)
    seen: list[float] = []
    # Watched, so it runs here; the counts are kept for the next test (conftest's memo).
    got = worst_case_counts(model, x, y, eps=0.05, progress=lambda f, what: seen.append(f),
                            should_stop=lambda: False)
    direct = robust_accuracy(model, x, y, eps=0.05, seed=rb.SEED)
    assert got.n == 50 and got.robust == int(direct.robust.sum())
    assert got.clean == int(direct.clean.sum())
    assert dict(got.per_attack) == {k: round(v * 50) for k, v in direct.per_attack.items()}
    assert len(seen) > 10 and seen == sorted(seen) and seen[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in seen)
    assert 0 < got.robust < got.clean  # a setting where the figure means something


def test_worst_case_line_lies_at_or_below_pgd_on_the_same_digits(
        worst_case_counts: WorstCaseCounts) -> None:
    """The property, on a real small run: at every ε the ensemble leaves at most as many of the
    same digits robust as PGD-20, and the figure draws exactly those points in the PGD panel.
    Shipped mnist-linear on 50 digits at six ε, and mnist-cnn on 20 digits at ε = 0.1 (the
    counts through conftest's memo: cells another test ran are not run twice)."""
    points = []
    model, x, y = _linear_digits(50)
    for e in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3):
        count = worst_case_counts(model, x, y, eps=e)
        pgd = sweep.correct(model, x, y, attack="pgd", eps=e, steps=20)
        points.append(sweep.combine_worst_case("mnist-linear", e, [count], pgd=pgd, pgd_steps=20))
    cnn = shipped("mnist-cnn")
    xs, ys = mnist("test")
    xs, ys = xs[:20], ys[:20]
    count = sweep.worst_case_count(cnn, xs, ys, eps=0.1)
    pgd = sweep.correct(cnn, xs, ys, attack="pgd", eps=0.1, steps=20)
    points.append(sweep.combine_worst_case("mnist-cnn", 0.1, [count], pgd=pgd, pgd_steps=20))
    for w in points:
        assert w.robust <= w.pgd, (w.model, w.eps, w.robust, w.pgd)
        lo, hi = w.ci
        assert lo <= w.accuracy <= hi
    assert any(w.gap > 0 for w in points)  # PGD does overstate somewhere
    fig = figs.curves_figure([], worst=points)
    worst = [t for t in fig.data if "worst case" in (t.name or "")]
    assert len(worst) == 2 and all(t.line.dash == "dash" and t.showlegend is not False
                                   for t in worst)
    assert {t.xaxis for t in worst} == {"x2"}  # the PGD panel only
    linear = next(t for t in worst if "mnist-linear" in t.name)
    assert list(linear.y) == [100 * w.accuracy for w in points[:6]]
    assert linear.line.color == figs.darker(figs.MODEL_COLORS["mnist-linear"])
    assert "50 digits" in linear.name and "PGD-20" in linear.customdata[0][3]


def test_worst_case_cells_cover_the_digits_once_cheapest_model_first() -> None:
    cells = rb.worst_case_cells(["mnist-cnn-robust", "mnist-linear"], 0.3, n=120)
    assert [(c.model, c.start, c.stop) for c in cells] == [
        ("mnist-linear", 0, 50), ("mnist-linear", 50, 100), ("mnist-linear", 100, 120),
        ("mnist-cnn-robust", 0, 50), ("mnist-cnn-robust", 50, 100),
        ("mnist-cnn-robust", 100, 120)]
    assert {c.attack for c in cells} == {rb.WORST}
    with pytest.raises(ValueError):
        rb.worst_case_cells(["mnist-cnn"], 0.3, n=0)


def test_combined_cells_add_their_counts_and_keep_each_warning_once() -> None:
    a = sweep.WorstCount(50, 48, 40, (("apgd-ce", 42), ("square", 40)), ("masked",))
    b = sweep.WorstCount(20, 20, 19, (("apgd-ce", 19), ("square", 19)), ("masked",))
    w = sweep.combine_worst_case("m", 0.3, [a, b], pgd=61, pgd_steps=100)
    assert (w.n, w.clean, w.robust, w.pgd) == (70, 68, 59, 61)
    assert w.per_attack == (("apgd-ce", 61), ("square", 59)) and w.warnings == ("masked",)
    assert w.accuracy == 59 / 70 and w.gap == pytest.approx(2 / 70)
    text = rb.worst_case_summary(w)
    assert "PGD-100 says **87%**" in text and "the worst case says **84%**" in text
    assert "95% CI" in text and "first 70 test digits" in text
    many = sweep.combine_worst_case("m", 0.3, [sweep.WorstCount(1000, 990, 843, (), ())], pgd=867,
                                 pgd_steps=100)
    assert "**84.3%**" in rb.worst_case_summary(many)  # a decimal only where n supports it
    with pytest.raises(ValueError):
        sweep.combine_worst_case("m", 0.3, [], pgd=0, pgd_steps=1)


WORST_BLOCK = {"eps": 0.3, "digits": 250, "clean": 245, "robust": 210, "accuracy": 0.84,
               "ci95": [0.789, 0.883], "attacks": ["apgd-ce", "apgd-t", "square"],
               "per_attack": {"apgd-ce": 0.86, "apgd-t": 0.848, "square": 0.84},
               "pgd_steps": 100, "pgd_robust": 218,
               "curve": {"digits": 50, "pgd_steps": 20, "epsilons": [0.0, 0.1, 0.3],
                         "robust": [49, 46, 41], "pgd_robust": [49, 47, 43]}}


def test_card_worst_case_reads_the_block_and_old_cards_fall_back() -> None:
    main, curve = rb.card_worst_case("mnist-cnn-robust", {**CARD, "worst_case": WORST_BLOCK})
    assert (main.n, main.robust, main.pgd, main.pgd_steps, main.source) == (250, 210, 218, 100,
                                                                             "card")
    assert dict(main.per_attack)["apgd-t"] == 212
    assert [(w.eps, w.robust, w.pgd, w.n) for w in curve] == [
        (0.0, 49, 49, 50), (0.1, 46, 47, 50), (0.3, 41, 43, 50)]
    assert rb.card_worst_case("mnist-cnn", CARD) == (None, [])
    assert "--cards-only" in rb.no_worst_case_message("mnist-cnn")
    with pytest.raises(AssetError, match="worst-case figure has a count"):
        rb.card_worst_case("mnist-cnn", {**CARD, "worst_case": {**WORST_BLOCK, "robust": 251}})


def test_paper_comparison_puts_our_worst_case_beside_autoattack() -> None:
    curves = rb.card_curves("mnist-cnn-robust", CARD, 1000)
    cards = {"mnist-cnn-robust": {**CARD, "worst_case": WORST_BLOCK}}
    rows = {r.reference.source: r for r in rb.paper_comparison(curves, cards)
            if r.reference.ours == "mnist-cnn-robust"}
    aa = rows["Croce & Hein 2020"]
    assert aa.reference.accuracy == 0.884 and "89.6% by PGD" in aa.reference.reported
    assert aa.ours_accuracy == 0.84 and "250 digits" in aa.ours_setting
    old = rb.paper_comparison(curves, {"mnist-cnn-robust": CARD})
    assert next(r for r in old if r.reference.source == "Croce & Hein 2020").ours_accuracy is None
    table = figs.comparison_table([aa])
    assert table[0]["attack"].startswith("AutoAttack") and table[0]["ours − paper"] == "-4.4 pp"


def test_mnist_comparison_reads_the_card_only_where_it_holds_that_exact_number() -> None:
    """The oracle: a value from the card is the card's curve at that ε; a value computed live
    is advcore.sweep.correct on the same digits. With the card's digits and PGD-20 at a card ε
    nothing runs; with other steps only PGD runs; with fewer digits everything does."""
    model = shipped("mnist-linear")
    card = load_card("mnist-linear")
    x, y = mnist("test")
    n_all = len(y)
    curves = {"mnist-linear": rb.card_curves("mnist-linear", card, n_all)}
    asked: list[list[sweep.Cell]] = []

    def count(cells: list[sweep.Cell]) -> dict[sweep.Cell, int]:
        asked.append(cells)
        return {c: sweep.correct(model, x[c.start:c.stop], y[c.start:c.stop], attack=c.attack,
                                 eps=c.eps, steps=steps) for c in cells}

    steps = 20
    values, live = rb.mnist_comparison(("mnist-linear",), curves, eps=0.1, steps=20, n=n_all,
                                       chunk=250, count=count)
    c = card["curves"]
    i = c["epsilons"].index(0.1)
    assert not live and not asked
    assert values["mnist-linear"] == {"clean": c["fgsm"][0], "fgsm": c["fgsm"][i],
                                      "pgd": c["pgd"][i]}

    steps = 3
    values, live = rb.mnist_comparison(("mnist-linear",), curves, eps=0.1, steps=3, n=n_all,
                                       chunk=400, count=count)
    assert live and len(asked) == 1
    assert {(cell.attack, cell.eps) for cell in asked[0]} == {("pgd", 0.1)}
    assert [(cell.start, cell.stop) for cell in asked[0]] == [(0, 400), (400, 800),
                                                              (800, n_all)]
    assert values["mnist-linear"]["fgsm"] == c["fgsm"][i]
    pgd3 = sum(sweep.correct(model, x[s:t], y[s:t], attack="pgd", eps=0.1, steps=3)
               for s, t in sweep.spans(n_all, 400))
    assert values["mnist-linear"]["pgd"] == pgd3 / n_all

    steps = 20
    values, live = rb.mnist_comparison(("mnist-linear",), {}, eps=0.07, steps=20, n=60,
                                       chunk=25, count=count)
    assert live and {cell.attack for cell in asked[-1]} == {sweep.CLEAN, "fgsm", "pgd"}
    want = {what: sweep.accuracy_curve(model, x[:60], y[:60], attack=a, epsilons=[e],
                                       steps=20, chunk=25)[0]
            for what, a, e in (("clean", sweep.CLEAN, 0.0), ("fgsm", "fgsm", 0.07),
                               ("pgd", "pgd", 0.07))}
    assert values["mnist-linear"] == want


def test_the_worst_case_shown_prefers_live_then_the_cards_main_figure_then_its_curve() -> None:
    def w(eps: float, n: int, source: str = "card") -> sweep.WorstCase:
        return sweep.WorstCase("m", eps, n, n, n // 2, n // 2 + 1, 20, source=source)

    main, curve = w(0.3, 200), [w(0.1, 50), w(0.2, 50), w(0.3, 50)]
    live = w(0.3, 100, "live")
    assert rb.shown_worst_case(0.3, live, main, curve) is live
    assert rb.shown_worst_case(0.3, None, main, curve) is main  # 200 digits beat 50
    assert rb.shown_worst_case(0.2, None, main, curve) is curve[1]
    assert rb.shown_worst_case(0.25, None, main, curve) is None
    assert rb.shown_worst_case(0.1, None, None, curve) is curve[0]
    line = rb.card_worst_case_line({"m": main}, {"m": curve, "k": [w(0.3, 50)]})
    assert line == [curve[0], curve[1], main, w(0.3, 50)]


def test_worst_case_costs_weigh_digits_and_models() -> None:
    cells = rb.worst_case_cells(["mnist-cnn-robust", "mnist-linear"], 0.3, n=120)
    costs = {c: rb.worst_case_cost(c) for c in cells}
    assert sum(v for c, v in costs.items() if c.model == "mnist-linear") == pytest.approx(
        120 * rb.WORST_COST["mnist-linear"])
    assert rb.worst_case_cost(sweep.Cell("unknown", sweep.WORST, 0.3, 0, 10)) == 10
    assert rb.pgd_cost(["mnist-cnn"], n=100, steps=40) == pytest.approx(
        2 * rb.pgd_cost(["mnist-cnn"], n=100, steps=20))
