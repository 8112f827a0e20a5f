"""Check the instrument: does PaintClock's time match what the screen shows? Prints figures.

    python benchmarks/clock_check.py                # 8 ε presses on /digits, PGD-40

The browser benchmarks (digits.py --browser, timeline.py, boundary.py) time a change inside the
page with tests/browser/harness.py's PaintClock: keydown → two animation frames after the new
text is in the element. This records the same presses with Chromium's screencast and finds the
first frame whose panels region matches the finished picture (the last frame), so the two can be
compared. The screencast costs CPU itself (it encodes every frame), so both figures are higher
here than in the benchmarks; what matters is the difference, about the screencast's own delay.
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "browser")]


def main() -> None:
    import harness as c
    import numpy as np
    from PIL import Image

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scene", default="model=mnist-cnn&attack=pgd&steps=40")
    ap.add_argument("--presses", type=int, default=8)
    args = ap.parse_args()
    with c.served_tab(log_prefix="bench-clock-") as (base, tab):
        runs = c.RunLog(tab)
        clock = c.PaintClock(tab, ".st-key-digits-panels")
        start = time.perf_counter()
        tab.goto(f"{base}/digits?{args.scene}&eps=0.1&index=0")
        runs.wait_finished(start)
        panels = tab.locator(".st-key-digits-panels")
        panels.scroll_into_view_if_needed()
        box = panels.bounding_box()
        assert box is not None

        def crop(jpeg_b64: str) -> np.ndarray:
            im = Image.open(io.BytesIO(base64.b64decode(jpeg_b64))).convert("L")
            s = im.width / 1400
            region = (box["x"] * s, box["y"] * s, (box["x"] + box["width"]) * s,
                      (box["y"] + box["height"]) * s)
            return np.asarray(im.crop(tuple(int(v) for v in region)), dtype=np.float32)

        cdp = tab.context.new_cdp_session(tab)
        frames: list[tuple[float, str]] = []  # (epoch seconds, JPEG)

        def on_frame(event: dict) -> None:
            frames.append((event["metadata"]["timestamp"], event["data"]))
            cdp.send("Page.screencastFrameAck", {"sessionId": event["sessionId"]})

        cdp.on("Page.screencastFrame", on_frame)
        thumb = tab.locator("[data-testid='stSlider'] input[type='range']").first
        eps, rows = 0.1, []
        print(f"/digits?{args.scene}: key press → panels with the new ε")
        print(f"{'PaintClock':>10} {'screencast':>10} {'difference':>10}")
        for _ in range(args.presses):
            eps = round(eps + 0.005, 3)
            thumb.focus()
            cdp.send("Page.startScreencast", {"format": "jpeg", "quality": 60,
                                              "maxWidth": 1400, "everyNthFrame": 1})
            tab.wait_for_timeout(300)
            del frames[:-1]  # the picture before the press (a still page sends no more frames)
            clock.expect(f"colour scale ±ε = ±{eps:.3f}")
            start = time.perf_counter()
            thumb.press("ArrowRight")
            drawn = clock.wait()
            runs.wait_finished(start)
            tab.wait_for_timeout(500)
            cdp.send("Page.stopScreencast")
            # The keydown as epoch seconds: performance.timeOrigin + the clock's keydown.
            key = tab.evaluate("() => (performance.timeOrigin + window.__paintClock.key)")
            # The first frame after the keydown much closer to the finished picture than the
            # picture before the press was (ε moved by 0.005, so old and new are alike).
            final = crop(frames[-1][1])
            before = [jpeg for t, jpeg in frames if t * 1e3 <= key]
            gap = np.abs(crop(before[-1] if before else frames[0][1]) - final).mean()
            shown = next((t for t, jpeg in frames if t * 1e3 > key
                          and np.abs(crop(jpeg) - final).mean() < 0.25 * gap), None)
            if shown is None or gap < 1:
                continue
            rows.append((drawn * 1e3, shown * 1e3 - key))
            print(f"{rows[-1][0]:8.0f}ms {rows[-1][1]:8.0f}ms "
                  f"{rows[-1][1] - rows[-1][0]:+8.0f}ms")
    diffs = sorted(s - d for d, s in rows)
    print(f"screencast − PaintClock: median {diffs[len(diffs) // 2]:+.0f} ms, "
          f"range {diffs[0]:+.0f} to {diffs[-1]:+.0f} ms (n={len(diffs)})")


if __name__ == "__main__":
    main()
