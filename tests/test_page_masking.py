"""AppTest for pages/masking.py: no exception, the claim, the sanity checks and the worst case are
on the page and come from advcore.playground.masking, the URL picks the fake defence and a changed choice
rewrites it, talk mode keeps its switch in the URL. Each fake defence's report is computed once
per process (cached), 5-20 s of CPU each."""

from __future__ import annotations

from pathlib import Path

import pytest
from apptest_figures import figures
from streamlit.testing.v1 import AppTest

from advcore import data, models
from advcore.playground import masking
from pages.ui import MASKING_DIGITS

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "masking.py")
pytestmark = pytest.mark.usefixtures("one_thread")


def page(**params: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=240)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def url(at: AppTest, name: str) -> str:
    value = at.query_params[name]
    return value[-1] if isinstance(value, list) else value


def expected(defence: str) -> masking.MaskingReport:
    x, y = data.mnist("test")
    return masking.masking_report(models.pretrained("mnist-cnn"), x[:MASKING_DIGITS],
                                  y[:MASKING_DIGITS], defence)


def shown_text(at: AppTest) -> str:
    """The page's markdown as read on screen (escapes and zero-width spaces removed)."""
    return " ".join(m.value for m in at.markdown).replace("\u200b\\", "")


@pytest.fixture(scope="module")
def default() -> AppTest:
    return page()


def test_the_page_opens_on_quantization_and_says_what_these_are(default: AppTest) -> None:
    at = default
    assert not at.exception and not at.error and not at.warning
    assert at.title[0].value == "Masking lab"
    assert "teaching objects, not defences" in at.info[0].value
    assert figures(at)
    assert url(at, "defence") == "quantized" and url(at, "talk") == "0"


def test_the_numbers_are_the_engines(default: AppTest) -> None:
    at, report = default, expected("quantized")
    shown = {m.label: m.value for m in at.metric}
    for m in report.measurements:
        assert shown[f"{m.label} · {m.threat}"] == f"{m.accuracy:.0%}"
    assert shown["Worst case (every attack)"] == f"{report.worst:.0%}"
    assert shown["PGD-20 · L∞ ε = 0.3"] != shown["Worst case (every attack)"]
    texts = shown_text(at)
    assert report.warnings and all(w in texts for w in report.warnings)
    assert "gradient is zero or vanishing" in texts


def test_the_url_picks_the_defence_and_a_new_choice_rewrites_it() -> None:
    at = page(defence="noisy")
    assert not at.exception and not at.warning
    assert at.segmented_control(key="masking.defence").value == "noisy"
    assert "outputs are random" in shown_text(at)
    assert any(m.label.startswith("EOT-PGD") for m in at.metric)
    at.segmented_control(key="masking.defence").set_value("saturated").run()
    assert not at.exception
    assert url(at, "defence") == "saturated"
    assert any(m.label.startswith("HopSkipJump") for m in at.metric)
    assert "look like probabilities" in shown_text(at)


def test_a_bad_url_warns_and_falls_back() -> None:
    at = page(defence="<b>real</b>", talk="maybe")
    assert not at.exception
    assert len(at.warning) == 2 and all(w.value.startswith("URL parameter") for w in at.warning)
    assert at.segmented_control(key="masking.defence").value == "quantized"


def test_talk_mode_from_the_url_stays_in_the_url() -> None:
    at = page(talk="1")
    assert not at.exception
    assert at.toggle(key="masking.talk").value is True
    assert url(at, "talk") == "1"
    assert figures(at) and at.metric
    at.toggle(key="masking.talk").set_value(False).run()
    assert url(at, "talk") == "0"


# --- in 2-D ---------------------------------------------------------------------------------


def plane_expected(dataset: str, defence: str, eps: float) -> masking.PlaneReport:
    from advcore.playground import boundary
    spec = masking.plane_spec(dataset)
    X, y = boundary.points_of(spec)
    return masking.plane_report(boundary.train_model(spec, points=(X, y)), X, y,
                                defence=defence, eps=eps, seed=spec.seed)


def test_the_2d_section_shows_what_pgd_claims_what_square_finds_and_the_truth(
        default: AppTest) -> None:
    at, r = default, plane_expected("moons", "quantized", 0.3)
    assert any(h.value.startswith("In 2-D") for h in at.header)
    assert url(at, "dataset") == "moons" and url(at, "toy_defence") == "quantized"
    assert url(at, "toy_eps") == "0.3"
    shown = {m.label: m.value for m in at.metric}
    assert shown["Accuracy under PGD-20"] == f"{r.pgd.adversarial_accuracy:.0%}"
    assert shown[f"Accuracy under Square ({masking.PLANE_QUERIES} queries)"] == \
        f"{r.square.adversarial_accuracy:.0%}"
    truth = float((r.correct & ~r.within).mean())
    assert shown["True robust accuracy (exact)"] == f"{truth:.0%}"
    assert r.pgd.adversarial_accuracy - truth >= 0.1  # the lesson holds on the default scene
    texts = shown_text(at)
    assert (f"for {int((r.within & r.pgd.flipped).sum())} of the {r.within_count} points"
            in texts)
    assert f"Square found {int((r.within & r.square.flipped).sum())} of them" in texts
    assert "A common mistake is to trust an attack that cannot see the gradient" in texts
    assert [f.key for f in figures(at)][-1] == "masking.plane_fig"


def test_the_2d_controls_come_from_the_url_and_rewrite_it() -> None:
    at = page(dataset="circles", toy_defence="saturated", toy_eps="0.25")
    assert not at.exception and not at.warning
    assert at.selectbox(key="masking.dataset").value == "circles"
    assert at.segmented_control(key="masking.toy_defence").value == "saturated"
    assert at.slider(key="masking.toy_eps").value == 0.25
    r = plane_expected("circles", "saturated", 0.25)
    assert f"Square found {int((r.within & r.square.flipped).sum())} of them" in shown_text(at)
    at.slider(key="masking.toy_eps").set_value(0.5).run()
    assert not at.exception
    assert url(at, "toy_eps") == "0.5" and url(at, "dataset") == "circles"
    assert "within ε = 0.5" in shown_text(at)


def test_bad_2d_url_values_warn_and_fall_back() -> None:
    at = page(dataset="mnist", toy_defence="<script>x</script>", toy_eps="9")
    assert not at.exception and not at.error
    warned = [w.value for w in at.warning]
    assert len(warned) == 3 and all(w.startswith("URL parameter") for w in warned)
    assert any("toy_eps" in w and "using 1.0" in w for w in warned)
    assert at.selectbox(key="masking.dataset").value == "moons"
    assert at.segmented_control(key="masking.toy_defence").value == "quantized"
    assert at.slider(key="masking.toy_eps").value == 1.0
    assert any(m.label == "True robust accuracy (exact)" for m in at.metric)
