"""The victim's view: one visitor's ε-change latency, idle and while 10 hostile URLs run.

    python benchmarks/fairshare.py                        # this checkout
    python benchmarks/fairshare.py --before 2105381       # and that commit, one after the other

A server (`streamlit run app.py` on a free 127.0.0.1 port, stopped by its PID) gets a victim
session (wsclient: Streamlit's websocket protocol) on /digits, mnist-cnn, FGSM, that moves ε to
`--changes` new slider values, timing each change from the request to `script_finished`: first
idle, then while `--hostile` other sessions each open a costly URL of their own (PGD-100 on the
robust CNN at ε = 0.3, a different digit each: fragility bisection on three models, the race
and the 16-digit gallery, minutes of CPU each without the pool). Prints the victim's median and
p95 latency in both phases and their ratio (target: p95 under load ≤ 2× idle), and the load
average. `--before` runs the same on a git worktree of an older commit.

    python benchmarks/fairshare.py --scenario transfer --hostile 1 --changes 6

`--scenario transfer` measures head-of-line blocking in the pool instead: the hostile sessions
each open the robustness lab's transfer matrix with PGD-100 on 1,000 digits (a different ε
each, so nothing is shared), and the victim opens /digits with PGD-10 on a new test digit each
time (its fragility bisection is a pooled job), timed from the request to `script_finished`.
With one queue the victim's fragility waited behind a whole transfer row.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests" / "browser")]

import cpu_per_change  # noqa: E402
import harness  # noqa: E402
import wsclient  # noqa: E402

VICTIM = ("digits", "model=mnist-cnn&attack=fgsm&eps=0.1&index=8")


def hostile_urls(n: int, scenario: str = "digits") -> list[tuple[str, str]]:
    if scenario == "transfer":
        return [("robustness", f"section=transfer&attack=pgd&steps=100&eps={0.3 - 0.01 * i:.2f}"
                 "&n=1000") for i in range(n)]
    return [("digits", f"model=mnist-cnn-robust&attack=pgd&eps=0.3&steps=100&index={100 + i}")
            for i in range(n)]


def victim_opens(url: str, indices: list[int]) -> list[float]:
    """Open /digits with PGD-10 on each test digit in turn (a fresh session each), timed."""
    out = []
    for index in indices:
        ws = wsclient.Session(url)
        t = time.perf_counter()
        if not ws.open("digits", f"model=mnist-cnn&attack=pgd&steps=10&eps=0.1&index={index}"):
            raise RuntimeError(f"victim's digit {index} failed")
        out.append(time.perf_counter() - t)
        ws.close()
    return out


def p95(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(round(0.95 * len(xs))) - 1)]


def victim_changes(ws: wsclient.Session, values: list[float]) -> list[float]:
    out = []
    for eps in values:
        t = time.perf_counter()
        if not ws.move("ε: largest", eps):
            raise RuntimeError(f"victim's change to {eps} failed")
        out.append(time.perf_counter() - t)
    return out


def phase(server: cpu_per_change.Server, changes: int, hostile: int,
          scenario: str = "digits") -> None:
    url = f"ws://127.0.0.1:{server.port}/_stcore/stream"
    victim = wsclient.Session(url)
    victim.open(*VICTIM)
    if scenario == "transfer":
        victim_opens(url, [900])  # compile the page and load the model once, untimed
        idle = victim_opens(url, list(range(10, 10 + changes)))
    else:
        idle = victim_changes(victim, [round(0.11 + 0.01 * i, 2) for i in range(changes)])
    attackers: list[wsclient.Session] = []

    def attack(page: str, query: str) -> None:
        ws = wsclient.Session(url)
        attackers.append(ws)
        # Closed at the end of the phase, mid-run: that error is expected.
        with contextlib.suppress(Exception):
            ws.open(page, query, timeout=3600)

    threads = [threading.Thread(target=attack, args=pq, daemon=True)
               for pq in hostile_urls(hostile, scenario)]
    for t in threads:
        t.start()
    time.sleep(3)  # let every hostile run start its work before the victim moves
    if scenario == "transfer":
        loaded = victim_opens(url, list(range(500, 500 + changes)))
    else:
        loaded = victim_changes(victim, [round(0.31 + 0.01 * i, 2) for i in range(changes)])
    load = os.getloadavg()[0]
    for ws in attackers:
        ws.close()
    victim.close()
    print(f"{server.label:>18s}: idle median {statistics.median(idle):6.2f} s, p95 "
          f"{p95(idle):6.2f} s | with {hostile} hostile URLs median "
          f"{statistics.median(loaded):6.2f} s, p95 {p95(loaded):6.2f} s | p95 ratio "
          f"{p95(loaded) / p95(idle):5.1f}× (target ≤ 2×) | load average {load:.1f}",
          flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before")
    ap.add_argument("--changes", type=int, default=10)
    ap.add_argument("--hostile", type=int, default=10)
    ap.add_argument("--scenario", choices=("digits", "transfer"), default="digits",
                    help="digits: the victim moves FGSM's ε while hostile /digits URLs run; "
                         "transfer: the victim opens new PGD-10 digits while transfer matrices "
                         "run")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    roots = []
    tree = None
    if args.before:
        tree = Path(tempfile.mkdtemp(prefix="advplay-before-")) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.before],
                       cwd=ROOT, check=True, capture_output=True)
        roots.append((f"before {args.before[:7]}", tree))
    roots.append(("now", ROOT))
    try:
        for label, root in roots:  # one at a time: the hostile load must not hit both
            server = cpu_per_change.serve(label, root)
            try:
                phase(server, args.changes, args.hostile, args.scenario)
            finally:
                harness.stop(server.proc)
    finally:
        if tree is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                           capture_output=True)
            shutil.rmtree(tree.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
