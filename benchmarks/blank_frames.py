"""Blank frames while ε moves, st.plotly_chart against the in-place chart. Prints figures.

    python benchmarks/blank_frames.py                       # 20 ε steps per page, both modes
    python benchmarks/blank_frames.py --presses 3 --digits-scene "model=mnist-linear&attack=fgsm"
    python benchmarks/blank_frames.py --modes inplace --before main   # main's code, then this

--before REF also runs each mode on commit REF's code (a `git archive` of it in a temporary
folder, its own server), before this tree's, in the same run: on a loaded machine only figures
taken side by side compare.

Each mode gets its own server: `native` (ADVPLAY_CHART=native: every chart is st.plotly_chart,
which mounts a new chart for each new figure) and `inplace` (pages/chart.py: Plotly.react on the
same div). On /boundary and on /digits it presses → on the focused ε slider and records each
press with Chromium's screencast, as benchmarks/clock_check.py does, then looks at every frame
after the key press:

- blank: a frame in which a chart's region is background only. A chart's "ink" is the share of
  its pixels that differ from the white page (by more than 12 grey levels, so Streamlit's faded
  stale look still counts as drawn); a frame is blank for that chart when its ink is under a
  tenth of what the chart had before the press.
- removed: how many times a `.js-plotly-plot` left the DOM (a MutationObserver), and painted
  frames (requestAnimationFrame) in which a chart region held no drawn Plotly chart.
- on /boundary, key press → points moved: the first screencast frame in which three quarters of
  the map pixels the step changes (by more than CHANGED_LEVEL grey levels between the picture
  before the press and the finished one) look finished (within CLOSE_LEVEL); with a preview (pages/chart.py) that is the preview's frame, the picture being the same.
- on /boundary, key press → the server's figure painted: two animation frames after the chart
  says it drew a figure from the server (its `data-server-draws` counter); code without that
  counter (before previews) draws the title only from the server's figure, so there it is
  PaintClock's time for the new title (two animation frames after it is in the DOM). PaintClock
  itself is reported too: with a preview the title moves with the points, before the server.

The screencast encodes every frame and so costs CPU itself: absolute times are a little higher
than without it, the same for both modes.
"""

from __future__ import annotations

import argparse
import base64
import io
import math
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "browser")]

CHART = "[data-testid='stPlotlyChart']"
SHOT_WIDTH = 1400
INK_LEVEL = 12       # grey levels from white that count as drawn
BLANK_SHARE = 0.1    # a chart with less than this share of its ink before the press is blank
CHANGED_LEVEL = 40   # grey levels: a map pixel the ε step changes (JPEG noise stays well under)
CLOSE_LEVEL = 16     # grey levels: a changed pixel that already looks as in the finished map
MIN_CHANGED = 30     # fewer changed pixels than this: the step moved nothing to time

WATCH_JS = """() => {
    // Removals of a Plotly chart from the DOM, and painted frames with a chart region empty.
    const w = window.__blank = {removed: 0, emptyFrames: 0, frames: 0, on: false};
    new MutationObserver(records => {
        for (const r of records) for (const n of r.removedNodes) {
            if (n.nodeType === 1 && (n.matches('.js-plotly-plot')
                                     || n.querySelector('.js-plotly-plot'))) w.removed++;
        }
    }).observe(document.body, {subtree: true, childList: true});
    const tick = () => {
        if (w.on) {
            w.frames++;
            const charts = [...document.querySelectorAll("[data-testid='stPlotlyChart']")];
            if (charts.length < w.expected || charts.some(c => !c.querySelector('.main-svg'))) {
                w.emptyFrames++;
            }
        }
        requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
}"""


# When the browser got the last big websocket message (a delta with a figure in it), on the
# page's clock: splits key press → painted into server (+ network) and browser.
MESSAGE_JS = """(() => {
    const Socket = window.WebSocket;
    window.WebSocket = class extends Socket {
        constructor(...args) {
            super(...args);
            this.addEventListener("message", event => {
                if (event.data instanceof ArrayBuffer && event.data.byteLength > 20000) {
                    window.__figureMessage = performance.now();
                }
            });
        }
    };
})()"""


# When the map's chart drew a figure from the server (pages/chart.js's data-server-draws counter),
# two animation frames later, on the page's clock; 0 if the chart keeps no such counter.
SERVER_CLOCK_JS = """() => {
    const box = document.querySelector("[data-testid='stPlotlyChart']");
    const clock = window.__serverClock = window.__serverClock || {drawn: 0, counted: false};
    clock.drawn = 0;
    clock.counted = box.dataset.serverDraws !== undefined;
    if (clock.box === box) return;
    clock.box = box;
    new MutationObserver(() => {
        requestAnimationFrame(() => requestAnimationFrame(() => {
            if (!clock.drawn) clock.drawn = performance.now();  // the first after the press
        }));
    }).observe(box, {attributes: true, attributeFilter: ["data-server-draws"]});
}"""


def ink(gray: Any) -> float:
    import numpy as np

    return float(np.mean(gray < 255 - INK_LEVEL))


def measure(tab: Any, c: Any, clock: Any, base: str, *, path: str, presses: int, eps0: float,
            step: float, title: str | None, scroll_to: str | None) -> dict[str, Any]:
    """Press → `presses` times on `path`'s ε slider; blank frames, removals and paint times."""
    import numpy as np
    from PIL import Image

    runs = c.RunLog.of(tab)
    before = time.perf_counter()
    tab.goto(base + path)
    runs.settle(after=before, timeout_s=300)
    c.wait_rendered(tab)
    slider = tab.get_by_test_id("stSlider").filter(has_text=re.compile(r"^ε")).first
    thumb = slider.get_by_role("slider")
    thumb.focus()
    if scroll_to:
        tab.locator(scroll_to).first.scroll_into_view_if_needed()
    charts = tab.locator(CHART)
    boxes = [charts.nth(i).bounding_box() for i in range(charts.count())]
    boxes = [b for b in boxes if b and b["y"] + b["height"] > 0 and b["y"] < tab.viewport_size[
        "height"]]
    tab.evaluate(WATCH_JS)
    tab.evaluate(f"() => {{ window.__blank.expected = {charts.count()}; }}")
    scale = SHOT_WIDTH / tab.viewport_size["width"]

    def regions(jpeg_b64: str) -> list[np.ndarray]:
        im = Image.open(io.BytesIO(base64.b64decode(jpeg_b64))).convert("L")
        return [np.asarray(im.crop(tuple(int(v * scale) for v in (
            b["x"], max(b["y"], 0), b["x"] + b["width"],
            min(b["y"] + b["height"], tab.viewport_size["height"])))), dtype=np.float32)
            for b in boxes]

    cdp = tab.context.new_cdp_session(tab)
    frames: list[tuple[float, str]] = []

    def on_frame(event: dict) -> None:
        frames.append((event["metadata"]["timestamp"], event["data"]))
        cdp.send("Page.screencastFrameAck", {"sessionId": event["sessionId"]})

    cdp.on("Page.screencastFrame", on_frame)
    eps = eps0
    blank_frames = blank_presses = analysed = no_reference = 0
    shown_ms: list[float] = []
    clock_ms: list[float] = []
    server_ms: list[float] = []
    browser_ms: list[float] = []
    figure_ms: list[float] = []  # key press → the server's figure painted
    tab.evaluate("() => { window.__blank.on = true; }")
    for _ in range(presses):
        eps = round(eps + step, 4)
        cdp.send("Page.startScreencast", {"format": "jpeg", "quality": 70,
                                          "maxWidth": SHOT_WIDTH, "everyNthFrame": 1})
        tab.wait_for_timeout(300)
        # The picture before the press: the last frame so far (the screencast sends one as it
        # starts; a still page sends no more). Without it a preview painted in the first frame
        # after the key would leave nothing to compare with, and that press out of the figures.
        del frames[:-1]
        clock.expect(title.format(eps=eps) if title else "\u0000 (only the key press)")
        tab.evaluate("() => { window.__figureMessage = 0; }")
        if title:
            tab.evaluate(SERVER_CLOCK_JS)
        start = time.perf_counter()
        tab.keyboard.press("ArrowRight")  # the thumb has the focus; no scrolling
        if title:
            clock_ms.append(clock.wait() * 1e3)
        runs.wait_finished(start)
        c.wait_rendered(tab, quiet_ms=400)
        if title:
            # The server's figure: the chart's own clock where it has one, else the title's.
            if tab.evaluate("() => window.__serverClock.counted"):
                tab.wait_for_function("() => window.__serverClock.drawn > 0")
            drawn = tab.evaluate("() => { const c = window.__paintClock, s = window.__serverClock,"
                                 " m = window.__figureMessage;"
                                 " const d = s.counted ? s.drawn : c.drawn;"
                                 " return [d - c.key, m ? m - c.key : null, m ? d - m : null]; }")
            figure_ms.append(drawn[0])
            if drawn[1] is not None:
                server_ms.append(drawn[1])
                browser_ms.append(drawn[2])
        cdp.send("Page.stopScreencast")
        # The keydown as epoch milliseconds: performance.timeOrigin + the clock's keydown.
        key = tab.evaluate("() => (performance.timeOrigin + window.__paintClock.key)")
        if not frames:
            continue
        after = [(t * 1e3, regions(jpeg)) for t, jpeg in frames]
        earlier = [r for t, r in after if t <= key]
        if not earlier:
            no_reference += 1
            continue
        analysed += 1
        reference = [ink(r) for r in earlier[-1]]
        later = [(t, r) for t, r in after if t > key]
        blanks = sum(1 for _, r in later
                     if any(ink(x) < BLANK_SHARE * ref for x, ref in zip(r, reference,
                                                                      strict=True) if ref > 0))
        blank_frames += blanks
        blank_presses += blanks > 0
        if title:  # the map (first chart): first frame close to the finished picture
            # The pixels an ε step changes are few (the points move a little): judge only
            # those that differ clearly between the picture before the press and the finished
            # one, and take the first frame in which three quarters of them look finished. (A
            # mean over the whole map was under one grey level for most steps, which left
            # them out of the figure.)
            final = after[-1][1][0]
            changed = np.abs(earlier[-1][0] - final) > CHANGED_LEVEL
            if changed.sum() >= MIN_CHANGED:
                shown = next((t for t, r in later
                              if (np.abs(r[0] - final)[changed] < CLOSE_LEVEL).mean() >= 0.75),
                             None)
                if shown is not None:
                    shown_ms.append(shown - key)
    watch = tab.evaluate("() => { window.__blank.on = false; return window.__blank; }")
    return {"presses": analysed, "no_reference": no_reference, "charts": len(boxes),
            "blank_frames": blank_frames,
            "blank_presses": blank_presses, "removed": watch["removed"],
            "empty_painted": watch["emptyFrames"], "painted": watch["frames"],
            "shown_ms": shown_ms, "clock_ms": clock_ms, "server_ms": server_ms,
            "browser_ms": browser_ms, "figure_ms": figure_ms}


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ms" if values else "–"


def p90(values: list[float]) -> str:
    """The 90th percentile (nearest rank)."""
    if not values:
        return "–"
    ranked = sorted(values)
    return f"{ranked[min(len(ranked) - 1, math.ceil(0.9 * len(ranked)) - 1)]:.0f} ms"


def checkout(ref: str) -> Path:
    """Commit `ref`'s files (git archive) in a temporary folder: the app as it was."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-blank-{re.sub(r'[^A-Za-z0-9]', '_', ref)}-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def main() -> None:
    import harness as c

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presses", type=int, default=20)
    ap.add_argument("--modes", default="native,inplace")
    ap.add_argument("--boundary-scene", default="",
                    help="URL parameters of the /boundary scene (default: the page's own)")
    ap.add_argument("--digits-scene", default="model=mnist-cnn&attack=fgsm&index=0")
    ap.add_argument("--before", metavar="REF", default="",
                    help="also measure each mode on git commit REF's code (say main), first")
    ap.add_argument("--pages", default="/boundary,/digits",
                    help="which pages to measure (comma-separated)")
    args = ap.parse_args()
    pages = {
        "/boundary": dict(path=f"/boundary?{args.boundary_scene + '&' if args.boundary_scene else ''}"
                               "eps=0.3", eps0=0.3, step=0.05,
                          title="at ε = {eps:g}:", scroll_to=None),
        "/digits": dict(path=f"/digits?{args.digits_scene}&eps=0.1", eps0=0.1, step=0.005,
                        title=None, scroll_to=f"{CHART}"),
    }
    pages = {page: how for page, how in pages.items() if page in args.pages.split(",")}
    roots = {"": ROOT}
    if args.before:
        roots = {f"@{args.before}": checkout(args.before), **roots}
    runs = [(mode + tag, mode, root) for tag, root in roots.items()
            for mode in args.modes.split(",")]
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for label, mode, root in runs:
        env = {"ADVPLAY_CHART": "native" if mode == "native" else "inplace"}
        with c.served_tab(width=1400, height=1000, log_prefix=f"bench-blank-{mode}-",
                          env=env, root=root) as (base, tab):
            clock = c.PaintClock(tab, CHART)  # the keydown's time, and the map's new title
            tab.add_init_script(MESSAGE_JS)
            for page, how in pages.items():
                results[label, page] = measure(tab, c, clock, base, presses=args.presses,
                                               **how)
                r = results[label, page]
                print(f"{label:>8} {page:<10} {r['presses']} presses, {r['charts']} charts: "
                      f"{r['blank_frames']} blank frames ({r['blank_presses']} presses with "
                      f"one), {r['removed']} charts removed, {r['empty_painted']} of "
                      f"{r['painted']} painted frames with a chart missing"
                      + (f" ({r['no_reference']} left out: no frame before the key)"
                         if r["no_reference"] else "")
                      + (f"; points moved (screencast) median {median(r['shown_ms'])} "
                         f"({len(r['shown_ms'])} presses timed), "
                         f"server's figure painted median {median(r['figure_ms'])} (key → "
                         f"figure message {median(r['server_ms'])}, message → painted "
                         f"{median(r['browser_ms'])}), title (PaintClock) median "
                         f"{median(r['clock_ms'])}" if r["clock_ms"] else ""),
                      flush=True)
    labels = [label for label, _, _ in runs]
    print()
    print(f"{'':<38}" + "".join(f"{m:>16}" for m in labels))
    for page in pages:
        for what, field in (("blank frames", "blank_frames"), ("charts removed", "removed"),
                            ("empty painted frames", "empty_painted")):
            print(f"{page + ' ' + what:<38}" + "".join(
                f"{results[m, page][field]:>16}" for m in labels))
    if "/boundary" in pages:
        for what, field in (("points moved (screencast)", "shown_ms"),
                            ("server's figure painted", "figure_ms"),
                            ("  key → message", "server_ms"),
                            ("  message → painted", "browser_ms"),
                            ("title (PaintClock)", "clock_ms")):
            print(f"{'/boundary ' + what:<38}" + "".join(
                f"{median(results[m, '/boundary'][field]):>16}" for m in labels))
        for what, field in (("points moved p90", "shown_ms"),
                            ("server's figure p90", "figure_ms")):
            print(f"{'/boundary ' + what:<38}" + "".join(
                f"{p90(results[m, '/boundary'][field]):>16}" for m in labels))
    print(f"(per page {args.presses} ε presses; times from the key press, median unless p90; "
          f"target: 0 blank frames, /boundary points moved ≤ 100 ms; load average "
          f"{os.getloadavg()[0]:.1f} at the end)")


if __name__ == "__main__":
    main()
