"""Throughput and p95 latency of an ε change with 20 sessions at once: prints figures, asserts
nothing.

    python benchmarks/load.py                 # 20 sessions, 5 ε changes each, digits page
    python benchmarks/load.py --sessions 20 --changes 5 --page boundary

Each session is an AppTest of the page (the real script, the real shared caches) in its own
thread, as Streamlit serves each browser session in a thread. All sessions open the page (one after another), wait
at a barrier, then each moves its ε slider `--changes` times to values no session has used (so every
change really computes), timing each rerun. Reported: total throughput (reruns per second), and
the median / p95 / max latency of one ε change. A lone session's latency is printed first for
comparison. The machine's load average is printed: numbers are only comparable on a quiet box.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# page -> (query parameters, ε slider key, first ε, ε step). The step is finer than the slider's
# so that every change of every session is a value never computed before.
PAGES = {
    "digits": ({"model": "mnist-cnn", "attack": "fgsm"}, "digits.eps.linf", 0.05, 0.001),
    "boundary": ({"dataset": "moons", "n": "200", "attack": "fgsm"}, "boundary.eps", 0.05, 0.01),
}


def p95(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(round(0.95 * len(xs))) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--changes", type=int, default=5)
    ap.add_argument("--page", choices=PAGES, default="digits")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    from streamlit.runtime.scriptrunner import magic
    from streamlit.testing.v1 import AppTest

    # Each AppTest compiles the page with its own ScriptCache and CPython 3.11's ast.parse is not
    # thread-safe; the real server compiles a page once, under a lock. Do the same here.
    compile_lock, add_magic = threading.Lock(), magic.add_magic

    def locked_add_magic(code: str, script_path: str) -> object:
        with compile_lock:
            return add_magic(code, script_path)

    magic.add_magic = locked_add_magic

    params, slider, eps0, step = PAGES[args.page]
    path = str(ROOT / "pages" / f"{args.page}.py")

    def open_page() -> AppTest:
        at = AppTest.from_file(path, default_timeout=600)
        for k, v in params.items():
            at.query_params[k] = v
        return at.run()

    # Each session gets its own ε values; none repeats, so no change is a cache hit.
    values = [[round(eps0 + step * (s * args.changes + c + 1), 4) for c in range(args.changes)]
              for s in range(args.sessions + 1)]
    hi = 0.5 if args.page == "digits" else 2.0
    if values[-1][-1] > hi:
        ap.error(f"{args.sessions} × {args.changes} distinct ε values do not fit below {hi}")

    def change(at: AppTest, eps: float) -> float:
        t = time.perf_counter()
        at.slider(key=slider).set_value(eps).run()
        assert not at.exception, [e.value for e in at.exception]
        return time.perf_counter() - t

    print(f"page /{args.page}, {args.sessions} sessions × {args.changes} ε changes, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    lone_at = open_page()  # warm: models loaded, page compiled
    lone = [change(lone_at, eps) for eps in values[-1]]
    print(f"lone session:   median {statistics.median(lone) * 1000:7.0f} ms, "
          f"max {max(lone) * 1000:7.0f} ms")

    # Sessions open one after another (opening is not what is measured), then all move ε at once.
    sessions = [open_page() for _ in range(args.sessions)]
    start = threading.Barrier(args.sessions, timeout=600)

    def session(s: int) -> tuple[list[float], float, float]:
        try:
            start.wait()
            t0 = time.perf_counter()
            times = [change(sessions[s], eps) for eps in values[s]]
        except BaseException:
            start.abort()  # the others must not wait for this one forever
            raise
        return times, t0, time.perf_counter()

    with ThreadPoolExecutor(args.sessions) as pool:
        rows = list(pool.map(session, range(args.sessions)))
    latencies = [x for times, _, _ in rows for x in times]
    wall = max(end for *_, end in rows) - min(t0 for _, t0, _ in rows)
    print(f"{args.sessions} sessions:   {len(latencies)} ε changes in {wall:.1f} s "
          f"-> throughput {len(latencies) / wall:.2f} changes/s")
    print(f"latency of one ε change: median {statistics.median(latencies) * 1000:7.0f} ms, "
          f"p95 {p95(latencies) * 1000:7.0f} ms, max {max(latencies) * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
