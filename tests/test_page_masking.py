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
