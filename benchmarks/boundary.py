"""Boundary page latency: server-side rerun after an ε change (AppTest) and browser update time
after moving ε (Playwright, real headless Chromium). Prints figures; asserts nothing.

    python benchmarks/boundary.py            # both
    python benchmarks/boundary.py --no-browser
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "browser")]

EPS_VALUES = (0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
BROWSER_PRESSES = 16


def summary(times: list[float]) -> str:
    """"median 120 ms, p95 180 ms, max 200 ms" (p95: nearest rank)."""
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, max(0, round(0.95 * len(ms)) - 1))]
    return f"median {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, max {ms[-1]:.0f} ms"


def server_side(repeats: int = len(EPS_VALUES)) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "boundary.py"), default_timeout=120)
    t0 = time.perf_counter()
    at.run()
    print(f"server: first run (trains the model) {time.perf_counter() - t0:.2f} s")
    times = []
    for eps in EPS_VALUES[:repeats]:
        t0 = time.perf_counter()
        at.slider(key="boundary.eps").set_value(eps).run()
        times.append(time.perf_counter() - t0)
        assert not at.exception
    print(f"server: rerun after an ε change (new ε, n={len(times)}): {summary(times)}")
    t0 = time.perf_counter()
    at.slider(key="boundary.eps").set_value(EPS_VALUES[0]).run()
    print(f"server: rerun after an ε change (cached ε): {(time.perf_counter() - t0) * 1000:.0f} ms")


def browser_side() -> None:
    import harness as c

    with c.served_tab(height=1100, log_prefix="bench-boundary-") as (base, tab):
        tab.goto(base + "/boundary")
        tab.locator(".js-plotly-plot .scatterlayer path.point").first.wait_for(timeout=120_000)
        time.sleep(2)
        thumb = (tab.locator("[data-testid='stSlider']").filter(has_text="radius")
                 .locator("input[type=range]"))
        times = []
        for k in range(BROWSER_PRESSES):
            title = tab.locator(".js-plotly-plot .gtitle").first.text_content()
            thumb.focus()
            t0 = time.perf_counter()
            tab.keyboard.press("ArrowRight" if k % 4 != 3 else "ArrowLeft")
            # Polled on every animation frame (wait_for_function's default), so within a frame.
            tab.wait_for_function(
                "t => { const e = document.querySelector('.js-plotly-plot .gtitle');"
                " return e !== null && e.textContent !== t; }",
                arg=title, timeout=60_000)
            times.append(time.perf_counter() - t0)
            time.sleep(0.5)
        print(f"browser: slider key press -> figure title updated (n={len(times)}): "
              f"{summary(times)}, all {[round(t * 1000) for t in times]}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    server_side()
    if not args.no_browser:
        browser_side()
