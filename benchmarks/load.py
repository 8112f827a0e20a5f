"""Throughput and latency of ε changes with many sessions at once: prints figures, asserts
nothing.

    python benchmarks/load.py                 # 20 sessions, 5 ε changes each, digits page
    python benchmarks/load.py --sessions 20 --changes 5 --page boundary
    python benchmarks/load.py --audience 100 200 --replicas 1 2   # real servers, websockets

--audience: an audience on real servers, over Streamlit's websocket (benchmarks/wsclient.py, a
few kB a session instead of a browser), all on 127.0.0.1. For each replica count, the app is
served once (1: one `streamlit run app.py`; 2 or more: deploy/deploy.py's replicas behind
HAProxy) and, for each audience size, that many sessions open the same named-scene URL (a QR
code on a slide) one after another, then each moves ε `--changes` times to random slider values
with a random think time of 1-3 s between moves, bounded by `--max-seconds`. Printed: ε changes
per second, p50/p95/p99 latency (request to `script_finished`), the replicas' RSS, their CPU
seconds per change, and what that makes per core.

Without --audience:

Each session is an AppTest of the page (the real script, the real shared caches) in its own
thread, as Streamlit serves each browser session in a thread. All sessions open the page (one after another), wait
at a barrier, then each moves its ε slider `--changes` times to values no session has used (so every
change really computes), timing each rerun. Reported: total throughput (reruns per second), and
the median / p95 / max latency of one ε change. A lone session's latency is printed first for
comparison. The machine's load average is printed: numbers are only comparable on a quiet box.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
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


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, max(0, int(round(q * len(xs))) - 1))]


AUDIENCE_URL = ("digits", "model=mnist-cnn&attack=fgsm&eps=0.1&steps=10&index=8&target=none")


def audience_run(ws_url: str, pids: list[int], sessions: list, n: int, changes: int,
                 max_s: float) -> None:
    """Grow `sessions` to n open sessions (8 opening at a time), then let all n move ε."""
    import random

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import wsclient

    def open_one(_: int) -> object:
        s = wsclient.Session(ws_url)
        s.open(*AUDIENCE_URL, timeout=max_s + 120)  # bounded: a stuck open fails the run
        return s

    t_open = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        sessions += list(pool.map(open_one, range(n - len(sessions))))
    opened = time.perf_counter() - t_open
    cpu0 = sum(wsclient.cpu_seconds(p) for p in pids)
    deadline = time.monotonic() + max_s
    latencies: list[float] = []
    failed = [0]
    errors: dict[str, int] = {}
    lock = threading.Lock()

    def run(i: int) -> None:
        rng = random.Random(i)
        for _ in range(changes):
            time.sleep(rng.uniform(1.0, 3.0))  # a person's pause between two moves
            if time.monotonic() > deadline:
                return
            eps = rng.randrange(1, 51) / 100  # the slider's grid, 0.01-0.50
            t = time.perf_counter()
            why = "the run did not finish cleanly"
            try:
                ok = sessions[i].move("ε: largest", eps, timeout=max(1.0, deadline - t + 60))
            except Exception as exc:  # a timeout or a dropped socket: failed
                ok, why = False, type(exc).__name__
            if not ok:
                with lock:
                    errors[why] = errors.get(why, 0) + 1
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - t)
                else:
                    failed[0] += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max_s + 120)
    wall = time.perf_counter() - t0
    cpu = sum(wsclient.cpu_seconds(p) for p in pids) - cpu0
    rss = sum(wsclient.rss_mb(p) for p in pids)
    if not latencies:
        print(f"  {n} sessions: no ε change finished ({failed[0]} failed)")
        return
    per = cpu / len(latencies)
    print(f"  {n:4d} sessions (opening took {opened:4.0f} s): {len(latencies)} ε changes in "
          f"{wall:4.0f} s = {len(latencies) / wall:5.2f}/s, {failed[0]} failed | latency p50 "
          f"{pct(latencies, .5):5.2f} s, p95 {pct(latencies, .95):5.2f} s, p99 "
          f"{pct(latencies, .99):5.2f} s | RSS {rss:5.0f} MB | {per:.3f} CPU-s a change = "
          f"{1 / per:4.1f} changes/s per core | load average {os.getloadavg()[0]:.1f}",
          flush=True)
    if errors:
        print("    failures: " + ", ".join(f"{k} × {v}" for k, v in errors.items()), flush=True)


def audience(sizes: list[int], replicas: list[int], changes: int, max_s: float) -> None:
    sys.path[:0] = [str(ROOT / "deploy"), str(ROOT / "tests" / "browser"),
                    str(ROOT / "benchmarks")]
    import cpu_per_change
    import harness

    import deploy

    print(f"audience on /{AUDIENCE_URL[0]}?{AUDIENCE_URL[1]}, {changes} ε changes a session, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for r in replicas:
        tmp = Path(tempfile.mkdtemp(prefix="advplay-load-"))
        if r == 1:
            server = cpu_per_change.serve("one replica", ROOT)
            stop = functools.partial(harness.stop, server.proc)
            port, pids = server.port, [server.proc.pid]
            print("1 replica, direct:")
        else:
            dep = deploy.start(r, warm_slugs=[], state_dir=tmp)
            stop, port = functools.partial(deploy.stop, dep), dep.port
            pids = [x.pid for x in dep.replicas]
            print(f"{r} replicas behind HAProxy (cookie stickiness):")
        sessions: list = []
        try:
            for n in sorted(sizes):
                audience_run(f"ws://127.0.0.1:{port}/_stcore/stream", pids, sessions, n,
                             changes, max_s)
        finally:
            for s in sessions:
                s.close()
            stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--changes", type=int, default=5)
    ap.add_argument("--page", choices=PAGES, default="digits")
    ap.add_argument("--audience", type=int, nargs="*", help="session counts on real servers")
    ap.add_argument("--replicas", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--max-seconds", type=float, default=120)
    args = ap.parse_args()
    if args.audience:
        if max(args.audience) > 300:
            ap.error("at most 300 sessions: this stays a benchmark, not a flood")
        if not args.replicas or min(args.replicas) < 1 or max(args.replicas) > 4:
            ap.error("--replicas: 1 to 4 (all on this machine's 127.0.0.1)")
        import logging

        logging.getLogger("websockets").setLevel(logging.ERROR)
        audience(args.audience, args.replicas, args.changes, args.max_seconds)
        return
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
