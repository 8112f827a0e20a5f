"""How fast the digits page answers: prints figures, asserts nothing.

    python benchmarks/digits.py              # server-side reruns + compute times
    python benchmarks/digits.py --browser    # also: ε change -> panels redrawn in Chromium
    python benchmarks/digits.py --browser-only --repeats 3   # just that, 12 presses each way

1. Re-render after an ε change, server side: the page runs in AppTest (the real script, the real
   caches); the ε slider moves to a value never seen before ("cold": the attack runs) and back
   to a value already seen ("cached"). "panels" is the part a visitor waits for (attack + the
   three panels), "rerun" the whole script (race, gallery, ...; the browser already shows
   the new panels while the rest streams in).
2. Gallery (16 digits) and test-set accuracy (1,000 digits) compute times, cold and cached.
3. With --browser: the same ε step made with the keyboard in headless Chromium, timed inside
   the page from the keydown to the animation frame that first shows the panels' colour-scale
   label with the new ε (tests/browser/harness.py's PaintClock); "whole run" is until the
   server's script_finished message (race, gallery and test set included).

Numbers depend on the machine and on what else runs on it; the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PAGE = str(ROOT / "pages" / "digits.py")

from advcore.playground.state import DigitsScene  # noqa: E402  (after the path)

SCENES = [  # (model, attack, steps)
    ("mnist-cnn", "fgsm", 1),
    ("mnist-cnn", "bim", 10),
    ("mnist-cnn", "pgd", 10),
    ("mnist-cnn", "pgd", 40),
    ("mnist-cnn", "mifgsm", 10),
    ("mnist-cnn-robust", "pgd", 40),
    ("mnist-linear", "pgd", 40),
]
# One arrow-key press on the L∞ ε slider: the page quantises ε to it, so a walk in smaller steps
# would meet cached values.
STEP = DigitsScene.EPS_RANGES["linf"][2]
EPS_WALK = [round(0.1 + k * STEP, 4) for k in range(5)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.0f} ms"


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def panel_work(model: object, digit: object, label: int, attack: str, eps: float,
               steps: int) -> None:
    """What stands between an ε change and the new panels: the attack and the figure."""
    from advcore.playground import digits
    from advcore.playground.figures import digits as figs

    r = digits.attack_digit(model, digit, label, attack=attack, eps=eps, steps=steps)
    figs.panels_html(r.clean, r.perturbation, r.adversarial, pred_clean=r.pred_clean,
                     conf_clean=1.0, pred_adv=r.pred_adv, conf_adv=1.0, eps=eps, norm="linf")


def server_side(repeats: int) -> None:
    from streamlit.testing.v1 import AppTest

    from advcore import data, models

    x, y = data.mnist("test")
    print("\n1. ε change -> re-render, server side (median over the ε walk "
          f"{EPS_WALK[1:]}; digit #0)")
    print(f"{'model':18} {'attack':8} {'steps':>5} {'panels cold':>12} {'rerun cold':>12} "
          f"{'rerun cached':>13}")
    for model_name, attack, steps in SCENES:
        try:
            model = models.pretrained(model_name)
        except models.AssetError as exc:
            print(f"{model_name:18} skipped: {exc}")
            continue
        at = AppTest.from_file(PAGE, default_timeout=600)
        at.query_params.update({"model": model_name, "attack": attack, "steps": str(steps),
                                "eps": str(EPS_WALK[0]), "index": "0"})
        at.run()
        slider = "digits.eps.linf"
        panels, cold, cached = [], [], []
        for _ in range(repeats):
            for eps in EPS_WALK[1:]:
                panels.append(timed(partial(panel_work, model, x[0].numpy(), int(y[0]),
                                            attack, eps, steps)))
                at.slider(key=slider).set_value(eps)
                cold.append(timed(at.run))
                # Back and forth between two values already seen: everything comes from caches.
                at.slider(key=slider).set_value(EPS_WALK[0])
                cached.append(timed(at.run))
            EPS_WALK[1:] = [round(e + 4 * STEP, 4) for e in EPS_WALK[1:]]  # fresh for the next round
        print(f"{model_name:18} {attack:8} {steps:5d} {ms(statistics.median(panels)):>12} "
              f"{ms(statistics.median(cold)):>12} {ms(statistics.median(cached)):>13}")


def _test_set(model_name: str, attack: str, eps: float, steps: int) -> None:
    from pages import ui

    for start in range(0, 1000, 25):
        ui.test_counts(model_name, attack, eps, steps, None, start, start + 25)


def compute_times() -> None:
    import streamlit as st

    from pages import ui

    st.cache_data.clear()  # part 1 filled the caches; cold means cold
    print("\n2. Gallery (16 digits) and test-set accuracy (1,000 digits), cold vs cached")
    print(f"{'model':18} {'attack':8} {'steps':>5} {'gallery cold':>13} {'cached':>9} "
          f"{'test set cold':>14} {'cached':>9}")
    for model_name, attack, steps in [("mnist-cnn", "fgsm", 1), ("mnist-cnn", "pgd", 10),
                                      ("mnist-cnn", "pgd", 40), ("mnist-linear", "pgd", 40),
                                      ("mnist-cnn", "deepfool", 10)]:
        eps = 2.0 if attack == "deepfool" else 0.1
        if ui.model_or_none(model_name) is None:
            print(f"{model_name:18} skipped: weights unavailable")
            continue

        gallery = partial(ui.digit_gallery, model_name, attack, eps, steps, None)
        test_set = partial(_test_set, model_name, attack, eps, steps)
        g_cold, g_warm = timed(gallery), timed(gallery)
        if attack == "deepfool":
            t_cold = t_warm = float("nan")
        else:
            t_cold, t_warm = timed(test_set), timed(test_set)
        row = f"{model_name:18} {attack:8} {steps:5d} {ms(g_cold):>13} {ms(g_warm):>9} "
        row += (f"{ms(t_cold):>14} {ms(t_warm):>9}" if t_cold == t_cold
                else f"{'(not run)':>14} {'':>9}")
        print(row)
    st.cache_data.clear()


def browser(repeats: int) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "browser"))
    import harness  # the browser tests' server and Chromium harness

    print("\n3. ε change -> panels painted in headless Chromium (keyboard → on the ε slider, "
          f"+{STEP:g} a press)")
    print(f"{'model':18} {'attack':8} {'steps':>5} {'new ε: median':>14} {'p95':>7} "
          f"{'max':>7} {'seen ε: median':>15} {'max':>7} {'whole run':>10}")
    with harness.served_tab(log_prefix="bench-digits-") as (base, tab):
        tab.set_default_timeout(300_000)
        runs = harness.RunLog(tab)
        clock = harness.PaintClock(tab, ".st-key-digits-panels")
        for model_name, attack, steps in SCENES[:5]:
            start = time.perf_counter()
            tab.goto(f"{base}/digits?model={model_name}&attack={attack}&steps={steps}"
                     "&eps=0.1&index=0")
            tab.get_by_text("colour scale ±ε = ±0.100").wait_for()
            runs.wait_finished(start)
            thumb = tab.locator("[data-testid='stSlider'] input[type='range']").first
            cold, cached, whole, eps = [], [], [], 0.1
            # Right: ε values never seen (the attack runs); left: back over cached ones.
            for key, step, times in (("ArrowRight", STEP, cold), ("ArrowLeft", -STEP,
                                                                     cached)):
                for _ in range(repeats * 4):
                    eps = round(eps + step, 3)
                    thumb.focus()
                    clock.expect(f"colour scale ±ε = ±{eps:.3f}")
                    start = time.perf_counter()
                    thumb.press(key)
                    times.append(clock.wait())
                    # Let the rest of the page (race, gallery, test set) finish first.
                    whole.append(runs.wait_finished(start) - start)
            cold.sort()
            p95 = cold[min(len(cold) - 1, round(0.95 * (len(cold) - 1)))]
            print(f"{model_name:18} {attack:8} {steps:5d} {ms(statistics.median(cold)):>14} "
                  f"{ms(p95):>7} {ms(cold[-1]):>7} {ms(statistics.median(cached)):>15} "
                  f"{ms(max(cached)):>7} {ms(statistics.median(whole)):>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--browser", action="store_true", help="also time it in Chromium")
    parser.add_argument("--browser-only", action="store_true",
                        help="only the Chromium timings (part 3)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for the direct timings (the app uses 1)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    import torch

    # The app runs torch on one thread (pages/ui.py sets it when imported; new threads inherit
    # it); this main thread was started before that, so set it here too or the numbers below
    # would measure two OpenMP threads fighting the other processes for two cores.
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
          "(other processes slow everything below)")
    if not args.browser_only:
        server_side(args.repeats)
        compute_times()
    if args.browser or args.browser_only:
        browser(args.repeats)


if __name__ == "__main__":
    main()
