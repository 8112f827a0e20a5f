"""Server memory: RSS after visiting every page, and over 200 reruns. Prints figures; asserts
nothing (the targets are printed beside them: ≤ 700 MB, no growth).

    python benchmarks/memory.py                  # every page once, then 200 reruns
    python benchmarks/memory.py --reruns 50      # quicker

Starts `streamlit run app.py` on a free port on 127.0.0.1 and reads the server's VmRSS from
/proc/<pid>/status (no psutil needed); the server is stopped by its PID at the end.

1. Every page and every named scene is opened once in headless Chromium (Debian's
   /usr/bin/chromium), RSS printed after each.
2. Reruns: the digits page is rerun `--reruns` times in one browser tab by moving ε back and
   forth between values already computed (so the caches do not grow: any growth is a leak), and
   RSS is sampled every 20 reruns.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "browser")]

import harness  # noqa: E402  (the browser tests' server and Chromium harness)

TARGET_MB = 700


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def wait_idle(page: object, after: float | None = None, timeout_s: float = 300) -> None:
    """The app's last run (one finished after `after`, if given) and 0.3 s of quiet."""
    harness.RunLog.of(page).settle(after, quiet_s=0.3, timeout_s=timeout_s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reruns", type=int, default=200)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from advcore.playground.scenes import SCENES
    from pages.catalog import PAGES

    proc, base, log = harness.serve_app("advplay-mem-")
    profile = tempfile.mkdtemp(prefix="advplay-mem-chromium-")
    try:
        print(f"server pid {proc.pid}; RSS at start {rss_mb(proc.pid):.0f} MB "
              f"(load average {os.getloadavg()[0]:.1f})")
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                profile, executable_path=harness.CHROMIUM, args=harness.CHROMIUM_ARGS, headless=True,
                viewport={"width": 1400, "height": 1000})
            page = ctx.new_page()
            harness.RunLog.of(page)  # before the app opens its websocket
            paths = ["/"] + [f"/{info.url_path}" for info in PAGES] + [s.url() for s in SCENES]
            for path in paths:
                t = time.perf_counter()
                page.goto(base + path)
                wait_idle(page, after=t)
                print(f"  {path[:60]:60s} {time.perf_counter() - t:6.1f} s  "
                      f"RSS {rss_mb(proc.pid):6.0f} MB")
            after_pages = rss_mb(proc.pid)
            print(f"RSS after every page and scene: {after_pages:.0f} MB "
                  f"(target ≤ {TARGET_MB} MB: {'ok' if after_pages <= TARGET_MB else 'OVER'})")

            # Reruns: ε back and forth between two values already computed (cache hits).
            t = time.perf_counter()
            page.goto(base + "/digits?model=mnist-cnn&attack=fgsm&eps=0.1&index=0")
            wait_idle(page, after=t)
            slider = page.locator("[data-testid='stSlider'] input[type='range']").first
            samples = []
            for i in range(args.reruns + 1):
                if i % 20 == 0:
                    samples.append((i, rss_mb(proc.pid)))
                if i == args.reruns:
                    break
                slider.focus()
                page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
                wait_idle(page)
            ctx.close()
        print("RSS over reruns: " + ", ".join(f"{i}: {mb:.0f}" for i, mb in samples) + " MB")
        first, last = samples[1][1], samples[-1][1]  # from after the first 20 (warm caches)
        print(f"growth from rerun 20 to {args.reruns}: {last - first:+.1f} MB "
              f"({(last - first) / max(args.reruns - 20, 1) * 1024:+.1f} kB per rerun)")
    finally:
        harness.stop(proc)
        shutil.rmtree(profile, ignore_errors=True)
        print(f"server log: {log}")


if __name__ == "__main__":
    main()
