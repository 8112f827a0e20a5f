"""AppTest for pages/robustness.py: no exception, the expected controls, the URL sets them, bad URL
values warn, and a changed control rewrites the URL. Live MNIST work is kept small here (100 test
digits, 2 PGD steps) so the file runs in well under a minute on two shared cores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from apptest_figures import figures
from streamlit.testing.v1 import AppTest

from advcore.models import AssetError, pretrained

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "robustness.py")


def page(**params: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=240)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def url(at: AppTest, name: str) -> str:
    """The value of one query parameter as the page left it."""
    value = at.query_params[name]
    return value[-1] if isinstance(value, list) else value


def models_built() -> bool:
    try:
        for name in ("mnist-linear", "mnist-cnn", "mnist-cnn-robust"):
            pretrained(name)
    except AssetError:
        return False
    return True


needs_models = pytest.mark.skipif(not models_built(), reason="shipped weights not built yet")


def test_default_page_shows_the_curves_and_the_table() -> None:
    at = page()
    assert not at.exception
    assert [t.label for t in at.tabs] == [":material/show_chart: Accuracy vs ε",
                                          ":material/shield: Adversarial training",
                                          ":material/swap_horiz: Transferability"]
    assert at.toggle(key="robustness.papers").value is True
    assert at.button(key="robustness.papers.recompute")
    assert figures(at) and at.dataframe
    assert url(at, "section") == "curves" and url(at, "talk") == "0"


def test_url_sets_the_curve_controls_and_a_toggle_rewrites_it() -> None:
    at = page(papers="0", n="250", steps="7")
    assert not at.exception and not at.warning or all("model card" in w.value for w in at.warning)
    assert at.toggle(key="robustness.papers").value is False
    assert at.select_slider(key="robustness.n.curves").value == 250
    assert at.number_input(key="robustness.steps.curves").value == 7
    at.toggle(key="robustness.papers").set_value(True).run()
    assert url(at, "papers") == "1"
    assert url(at, "n") == "250"


def test_bad_url_values_warn_and_fall_back() -> None:
    at = page(eps="lots", section="nowhere", n="5", attack="cw-l2")
    assert not at.exception
    # As read on the page: the escapes that keep a visitor's text inert are not seen.
    warnings = " ".join(w.value for w in at.warning).replace("\u200b\\", "")
    assert "eps = “lots” is not a number" in warnings
    assert "section = “nowhere” is not one of curves, training, transfer" in warnings
    assert "n = “5” is outside [50, 1000]" in warnings
    assert "attack = “cw-l2” is not one of fgsm, pgd" in warnings
    assert url(at, "section") == "curves" and url(at, "n") == "50"


def test_talk_mode_tucks_the_controls_away() -> None:
    at = page(talk="1")
    assert not at.exception
    assert [e.label for e in at.expander] == ["Controls"]
    assert at.toggle(key="robustness.talk").value is True
    assert url(at, "talk") == "1"
    at.toggle(key="robustness.talk").set_value(False).run()
    assert url(at, "talk") == "0" and not at.expander


def test_training_section_from_the_url() -> None:
    """The 2-D part trains two small networks live (200 points, a few seconds)."""
    at = page(section="training", dataset="circles", noise="0.1", seed="3", toy_attack="fgsm",
              toy_eps="0.25", attack="pgd", eps="0.3", steps="20")
    assert not at.exception
    assert at.selectbox(key="robustness.dataset").value == "circles"
    assert at.slider(key="robustness.noise").value == pytest.approx(0.1)
    assert at.number_input(key="robustness.seed").value == 3
    assert at.slider(key="robustness.toy_eps").value == pytest.approx(0.25)
    labels = [m.label for m in at.metric]
    assert labels[:3] == ["clean", "FGSM ε=0.25", "PGD ε=0.25"]
    if models_built():
        assert at.select_slider(key="robustness.eps.training").value == pytest.approx(0.3)
        assert [c.key for c in figures(at)] == [
            "robustness.fig.training0", "robustness.fig.training1", "robustness.fig.bars", "robustness.fig.examples"]
    else:  # a clear message, never a traceback
        assert any("cannot be loaded" in e.value for e in at.error)


@needs_models
def test_transfer_section_from_the_url() -> None:
    """FGSM on 100 test digits: three crafts and nine evaluations, about a second."""
    at = page(section="transfer", attack="fgsm", eps="0.2", n="100")
    assert not at.exception
    assert at.select_slider(key="robustness.eps.transfer").value == pytest.approx(0.2)
    assert at.select_slider(key="robustness.n.transfer").value == 100
    assert figures(at)
    assert any("Read a row across" in c.value for c in at.caption)


@needs_models
def test_recompute_runs_live_and_goes_back_to_the_cards() -> None:
    """Live curves on 100 digits with 2 PGD steps (small, so the test stays fast)."""
    at = page(n="100", steps="2")
    at.button(key="robustness.papers.recompute").click().run()
    assert not at.exception
    assert any("Live: FGSM and PGD-2 on the first 100 test digits" in s.value for s in at.success)
    at.button(key="robustness.papers.cards").click().run()
    assert not at.exception and not at.success


PROBE = """
import json, sys
from streamlit.testing.v1 import AppTest
out = {}
for section in ("curves", "training", "transfer"):
    at = AppTest.from_file("pages/robustness.py", default_timeout=240)
    at.query_params["section"] = section
    at.run()
    out[section] = {"exceptions": [e.value for e in at.exception],
                    "errors": [e.value for e in at.error],
                    "warnings": [w.value for w in at.warning]}
print(json.dumps(out))
"""


def test_missing_and_corrupt_weights_give_a_message_not_a_traceback(tmp_path: Path) -> None:
    """A copy of the app whose assets hold mnist-linear only, plus a corrupt mnist-cnn weight
    file. Run in a fresh interpreter: model caches are per process, and nothing is mocked."""
    import json
    import shutil
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    for part in ("advcore", "pages"):
        shutil.copytree(root / part, tmp_path / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "assets").mkdir()
    for suffix in (".json", ".safetensors"):
        src = root / "assets" / f"mnist-linear{suffix}"
        if not src.exists():
            pytest.skip("mnist-linear is not built")
        shutil.copy(src, tmp_path / "assets" / src.name)
    (tmp_path / "assets" / "mnist-cnn.safetensors").write_bytes(b"not a safetensors file")
    run = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600, env={"PATH": "/usr/bin:/bin",
                                                      "PYTHONPATH": str(tmp_path),
                                                      "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert all(not o["exceptions"] for o in out.values())
    assert any("mnist-cnn-robust" in w and "missing" in w for w in out["curves"]["warnings"])
    for section in ("training", "transfer"):
        assert any("cannot be loaded" in e and "rebuild it with" in e
                   for e in out[section]["errors"]), out[section]
    assert any("mnist-cnn" in e and "corrupt" in e for e in out["transfer"]["errors"])


def _sentences(at: AppTest) -> dict[str, str]:
    """The "PGD says X%, the worst case says Y%" sentence per model, as the page wrote it."""
    out = {}
    for m in at.markdown:
        if " says **" in m.value and m.value.startswith("**"):
            out[m.value.split("**")[1]] = m.value
    return out


@needs_models
def test_cards_give_pgd_and_the_worst_case_with_digits_and_interval() -> None:
    at = page()
    assert not at.exception
    said = _sentences(at)
    from advcore.models import load_card, worst_case_of

    for name in ("mnist-linear", "mnist-cnn", "mnist-cnn-robust"):
        block = worst_case_of(load_card(name))
        if block is None:  # an old card: a clear note instead of a number
            assert any(name in i.value and "--cards-only" in i.value for i in at.info)
            continue
        text = said[name]
        assert "PGD-100 says" in text and "the worst case says" in text and "95% CI" in text
        assert f"the first {block['digits']:,} test digits" in text and "model card" in text
    spec = json.dumps(figures(at)[0].spec)
    assert "worst case (model card" in spec and '"dash":"dash"' in spec.replace(" ", "")


@needs_models
def test_live_worst_case_matches_a_direct_engine_call_and_its_bar_ends_full() -> None:
    """The oracle: the page's two numbers for mnist-linear at ε = 0.05 on the first 50 digits
    are those of robust_accuracy and PGD-20 called directly on the same digits; the progress
    bar of the run is left full. (mnist-linear alone: about a second of CPU.)"""
    from advcore import sweep
    from advcore.data import mnist
    from advcore.evaluate import robust_accuracy
    from advcore.playground import robustness as rb

    at = page(steps="20")
    at.multiselect(key="robustness.worst.models").set_value(["mnist-linear"])
    at.select_slider(key="robustness.worst.eps").set_value(0.05)
    at.button(key="robustness.worst.run").click().run()
    assert not at.exception
    text = _sentences(at)["mnist-linear"]
    assert "measured live" in text
    model = pretrained("mnist-linear")
    x, y = mnist("test")
    direct = robust_accuracy(model, x[:50], y[:50], eps=0.05, seed=rb.SEED)
    pgd = sweep.correct(model, x[:50], y[:50], attack="pgd", eps=0.05, steps=20)
    assert f"PGD-20 says **{100 * pgd / 50:.0f}%**" in text
    assert f"the worst case says **{100 * direct.accuracy:.0f}%**" in text
    lo, hi = direct.ci
    assert f"95% CI {100 * lo:.0f}%–{100 * hi:.0f}%" in text
    bars = at.get("progress")
    assert bars and bars[-1].proto.value == 100
    assert "done" in bars[-1].proto.text
    spec = json.dumps(figures(at)[0].spec)
    assert "worst case (live, 50 digits)" in spec


@needs_models
def test_eps_moved_on_one_tab_is_the_eps_of_the_next() -> None:
    """Each tab has its own ε slider, drawn only while the tab is open (Streamlit then forgets
    it): the scene, which the URL carries, takes the ε the visitor moved to over to the next
    tab, and back again."""
    at = page(section="transfer", attack="fgsm", eps="0.2", n="100")
    at.select_slider(key="robustness.eps.transfer").set_value(0.25).run()
    assert not at.exception
    assert url(at, "eps") == "0.25"
    at.session_state["robustness.section"] = ":material/shield: Adversarial training"
    at.run()
    assert not at.exception
    assert url(at, "section") == "training"
    assert at.select_slider(key="robustness.eps.training").value == pytest.approx(0.25)
    at.select_slider(key="robustness.eps.training").set_value(0.1).run()
    at.session_state["robustness.section"] = ":material/swap_horiz: Transferability"
    at.run()
    assert not at.exception
    assert url(at, "section") == "transfer"
    assert at.select_slider(key="robustness.eps.transfer").value == pytest.approx(0.1)
