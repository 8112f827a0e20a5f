"""Cold start: `streamlit run app.py` to the home page fully drawn in Chromium, in seconds.

Starts the server itself (127.0.0.1, a free port), opens / in a fresh headless Chromium as soon
as /_stcore/health answers, and stops the clock when the hero's three digit panels are decoded
and the page is drawn (harness.wait_rendered). Then the server is stopped by its PID. The first
start of a fresh clone may build caches (the MNIST .npy); the figure to quote is the later
starts'. Prints each start and the median of the rest.

    python benchmarks/cold_start.py                 # this checkout, 4 starts
    python benchmarks/cold_start.py --root /other/checkout --starts 3
    python benchmarks/cold_start.py --vs /old/checkout   # A B A B …, side by side

Also prints the import time of the pages' shared module (`python -X importtime`'s top entries)
with --imports.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "browser"))
from harness import CHROMIUM, CHROMIUM_ARGS, free_port, wait_rendered  # noqa: E402


def one_start(root: Path) -> tuple[float, float]:
    """(seconds to /_stcore/health, seconds to the home page drawn) from spawning the server.

    Chromium is started first, as a speaker's browser already runs: the clock covers the
    server's start and the page, not the browser's own launch."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="cold-")) / "streamlit.log"
    base = f"http://127.0.0.1:{port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto("about:blank")
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address",
             "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
             "--browser.gatherUsageStats", "false"],
            cwd=root, stdout=log.open("w"), stderr=subprocess.STDOUT,
            env={"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(Path.home()),
                 "PYTHONPATH": str(root)})
        try:
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    if proc.poll() is not None:
                        raise RuntimeError(f"the server exited; see {log}") from None
                    time.sleep(0.02)
            healthy = time.perf_counter() - t0
            page.goto(base + "/")
            page.wait_for_function(
                "() => { const i = [...document.querySelectorAll('[data-panels] img')];"
                " return i.length === 3 && i.every(x => x.complete && x.naturalWidth); }",
                timeout=300_000, polling="raf")
            wait_rendered(page, quiet_ms=0)
            drawn = time.perf_counter() - t0
        finally:
            browser.close()
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    return healthy, drawn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--root", type=Path, default=HERE.parent, help="the checkout to start")
    ap.add_argument("--vs", type=Path, default=None, help="a second checkout, started in turn")
    ap.add_argument("--starts", type=int, default=4)
    ap.add_argument("--imports", action="store_true", help="also print the slowest imports")
    args = ap.parse_args()
    roots = [args.root] + ([args.vs] if args.vs else [])
    results: dict[Path, list[tuple[float, float]]] = {r: [] for r in roots}
    for k in range(args.starts):
        for root in roots:
            healthy, drawn = one_start(root)
            results[root].append((healthy, drawn))
            print(f"start {k + 1} {root}: health {healthy:5.2f} s, home drawn {drawn:5.2f} s",
                  flush=True)
    for root, runs in results.items():
        later = runs[1:] or runs
        print(f"{root}: median of starts 2-{len(runs)}: health "
              f"{statistics.median(h for h, _ in later):.2f} s, home drawn "
              f"{statistics.median(d for _, d in later):.2f} s")
    if args.imports:
        out = subprocess.run([sys.executable, "-X", "importtime", "-c",
                              "import streamlit; import pages.ui"], cwd=args.root,
                             capture_output=True, text=True).stderr.splitlines()
        rows = [(int(line.split("|")[1]), line) for line in out if line.count("|") == 2
                and line.split("|")[1].strip().isdigit()]
        for _, line in sorted(rows)[-12:]:
            print(line)


if __name__ == "__main__":
    main()
