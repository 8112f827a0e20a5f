"""Where an ε change's time goes between the server and the browser: prints figures, asserts
nothing.

    python benchmarks/timeline.py                                   # digits, PGD-10
    python benchmarks/timeline.py --scene "model=mnist-cnn&attack=fgsm" --presses 12

Opens /digits in headless Chromium, presses → on the ε slider, and for each press records, from
the key press: when the browser sent the rerun request, when the websocket message carrying the
new panels arrived and when the panels were painted (both on the page's own clock: harness.py's
PaintClock), and when the run finished (Streamlit's script_finished message, as Playwright
delivers it; the next press waits for it). "drawn − msg" is browser time; a large gap there means
the frontend rendered other deltas first (deltas that arrive together are rendered together).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "browser")]


def main() -> None:
    import harness as c

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scene", default="model=mnist-cnn&attack=pgd&steps=10")
    ap.add_argument("--presses", type=int, default=10)
    args = ap.parse_args()
    rows = []
    with c.served_tab(log_prefix="bench-timeline-") as (base, tab):
        runs = c.RunLog(tab)
        clock = c.PaintClock(tab, ".st-key-digits-panels")
        tab.goto(f"{base}/digits?{args.scene}&eps=0.1&index=0")
        tab.get_by_text("colour scale ±ε = ±0.100").wait_for(timeout=120_000)
        runs.wait_finished(0)
        thumb = tab.locator("[data-testid='stSlider'] input[type='range']").first
        eps = 0.1
        for _ in range(args.presses):
            thumb.focus()
            eps = round(eps + 0.005, 3)
            label = f"colour scale ±ε = ±{eps:.3f}"
            clock.expect(label)
            t0 = time.perf_counter()
            thumb.press("ArrowRight")
            drawn = clock.wait()
            done = runs.wait_finished(t0) - t0
            time.sleep(0.2)
            sent = (runs.first("sent", t0) or t0) - t0
            panel = clock.message() or float("nan")
            n = sum(1 for t, kind, _ in runs.events if t0 < t <= t0 + done and kind != "sent")
            rows.append((sent, panel, drawn, done, n))
    print(f"/digits?{args.scene}: ε +0.005 per key press, times from the key press")
    print(f"{'request sent':>12} {'panels msg':>10} {'drawn':>7} {'drawn-msg':>9} "
          f"{'run done':>8} {'messages':>8}")
    for sent, panel, drawn, done, n in rows:
        print(f"{sent * 1e3:10.0f}ms {panel * 1e3:8.0f}ms {drawn * 1e3:5.0f}ms "
              f"{(drawn - panel) * 1e3:7.0f}ms {done * 1e3:6.0f}ms {n:8d}")
    for name, column in (("panels msg", 1), ("drawn", 2), ("run done", 3)):
        values = sorted(r[column] * 1e3 for r in rows)
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        print(f"{name:>10}: median {statistics.median(values):4.0f} ms, p95 {p95:4.0f} ms, "
              f"max {values[-1]:4.0f} ms")


if __name__ == "__main__":
    main()
