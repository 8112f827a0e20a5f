"""Server CPU seconds per ε change, on every page with an ε slider: prints figures, asserts nothing.

    python benchmarks/cpu_per_change.py                      # this checkout only
    python benchmarks/cpu_per_change.py --before 2105381     # and that commit, side by side
    python benchmarks/cpu_per_change.py --before 2105381 61d5da6 --changes 6 --only digits-fgsm

Each checkout is served by its own `streamlit run app.py` on a free 127.0.0.1 port (stopped by
its PID). `--before REV [REV ...]` checks each REV out into a temporary `git worktree` (removed
at the end) and serves it too, so the old code really runs: no flag, no stash. All servers run
at once and the changes alternate between them, so the machine's load falls on all alike. The
ratio column is the first REV's mean over this checkout's.

A lightweight websocket client (benchmarks/wsclient.py) opens each scene, then moves its ε
slider `--changes` times to slider values it has not visited (as a visitor dragging it would),
each a rerun of the slider's fragment. The server's CPU time (utime + stime from
/proc/<pid>/stat) is read before and after each change, once its `script_finished` arrived.
Printed per scene: the median and mean CPU seconds per change, for each checkout, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests" / "browser")]

import harness  # noqa: E402
import wsclient  # noqa: E402

# name -> (page, query, slider label part, first ε, ε step between changes)
SCENES = {
    "digits-fgsm": ("digits", "model=mnist-cnn&attack=fgsm&eps=0.1&index=8", "ε: largest",
                    0.11, 0.01),
    "digits-pgd10": ("digits", "model=mnist-cnn&attack=pgd&eps=0.1&steps=10&index=8",
                     "ε: largest", 0.11, 0.01),
    "digits-linear": ("digits", "model=mnist-linear&attack=fgsm&eps=0.25&index=3", "ε: largest",
                      0.26, 0.01),
    # The new attacks on the default digit (#2), with the page's default budgets.
    "digits-apgd-ce": ("digits", "model=mnist-cnn&attack=apgd-ce&eps=0.1&steps=10",
                       "ε: largest", 0.11, 0.01),
    "digits-apgd-dlr": ("digits", "model=mnist-cnn&attack=apgd-dlr&eps=0.1&steps=10",
                        "ε: largest", 0.11, 0.01),
    "digits-square": ("digits", "model=mnist-cnn&attack=square&eps=0.1", "ε: largest", 0.11,
                      0.01),
    "digits-square-l2": ("digits", "model=mnist-cnn&attack=square-l2&eps=2", "ε: L2", 2.1,
                         0.1),
    "digits-hsja": ("digits", "model=mnist-cnn&attack=hsja&eps=2", "ε: L2", 2.1, 0.1),
    "boundary": ("boundary", "dataset=moons&n=200&attack=fgsm&eps=0.3", "ε (", 0.35, 0.05),
    "boundary-square": ("boundary", "dataset=moons&n=200&attack=square&eps=0.3", "ε (", 0.35,
                        0.05),
    "boundary-square-l2": ("boundary", "dataset=moons&n=200&attack=square-l2&eps=0.3", "ε (",
                           0.35, 0.05),
    "boundary-hsja": ("boundary", "dataset=moons&n=200&attack=hsja&eps=0.3", "ε (", 0.35, 0.05),
    "how-it-works": ("how-it-works", "", "ε (per pixel", 0.05, 0.005),
}


@dataclass
class Server:
    label: str
    root: Path
    proc: subprocess.Popen
    port: int


def serve(label: str, root: Path) -> Server:
    port = harness.free_port()
    log = Path(tempfile.mkdtemp(prefix=f"advplay-cpu-{label}-")) / "streamlit.log"
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=root, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        harness.wait_healthy(f"http://127.0.0.1:{port}", proc, log, seconds=180)
    except RuntimeError:
        harness.stop(proc)
        raise
    return Server(label, root, proc, port)


def measure(servers: list[Server], scene: str, changes: int) -> dict[str, list[float]]:
    page, query, slider, eps0, step = SCENES[scene]
    sessions = {}
    for s in servers:
        ws = wsclient.Session(f"ws://127.0.0.1:{s.port}/_stcore/stream")
        if not ws.open(page, query):
            raise RuntimeError(f"{s.label}: /{page}?{query} did not finish")
        sessions[s.label] = ws
    cpu: dict[str, list[float]] = {s.label: [] for s in servers}
    for c in range(changes):
        eps = round(eps0 + step * c, 4)
        for s in servers:
            before = wsclient.cpu_seconds(s.proc.pid)
            if not sessions[s.label].move(slider, eps):
                raise RuntimeError(f"{s.label}: the ε change to {eps} did not finish")
            cpu[s.label].append(wsclient.cpu_seconds(s.proc.pid) - before)
    for ws in sessions.values():
        ws.close()
    return cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", nargs="+", default=[],
                    help="commits to serve beside this checkout (each in a git worktree)")
    ap.add_argument("--changes", type=int, default=8)
    ap.add_argument("--only", nargs="*", choices=SCENES, help="scenes to measure (default all)")
    args = ap.parse_args()
    import logging

    logging.getLogger("websockets").setLevel(logging.ERROR)
    trees: list[Path] = []
    servers: list[Server] = []
    try:
        for before in args.before:
            tree = Path(tempfile.mkdtemp(prefix="advplay-before-")) / "tree"
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), before],
                           cwd=ROOT, check=True, capture_output=True)
            trees.append(tree)
            rev = subprocess.run(["git", "rev-parse", "--short", before], cwd=ROOT,
                                 check=True, capture_output=True, text=True).stdout.strip()
            servers.append(serve(f"before ({rev})", tree))
        servers.append(serve("now", ROOT))
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
              f"{args.changes} new ε values per scene, server CPU-s per change")
        head = "".join(f"{s.label:>26s}" for s in servers)
        print(f"{'scene':15s}{head}{'ratio':>9s}" if len(servers) > 1 else f"{'scene':15s}{head}")
        for scene in args.only or SCENES:
            cpu = measure(servers, scene, args.changes)
            cells = "".join(f"{statistics.median(v):>11.3f} med {statistics.mean(v):6.3f} mean"
                            for v in cpu.values())
            line = f"{scene:15s}{cells}"
            if len(servers) > 1:
                means = [statistics.mean(v) for v in cpu.values()]
                old, new = means[0], means[-1]
                line += f"{old / max(new, 1e-3):8.1f}×"
            print(line, flush=True)
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        for s in servers:
            harness.stop(s.proc)
        for tree in trees:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                           capture_output=True)
            shutil.rmtree(tree.parent, ignore_errors=True)


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"({time.monotonic() - started:.0f} s)")
