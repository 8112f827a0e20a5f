"""The masking lab's 2-D section: what it costs, and what it finds. Prints figures; asserts
nothing.

    python benchmarks/masking_plane.py                  # every data set and fake defence, ε 0.3
    python benchmarks/masking_plane.py --quick          # moons only, 1 repeat (a smoke run)
    python benchmarks/masking_plane.py --eps 0.1 0.3 0.5 --repeats 5

Per data set: training the /boundary page's default network once (200 points, 2-32-32); then per
fake defence the exact truth (`plane_truth`, once per model and defence: the page caches it) and
the attacks at each ε (`plane_report` given the truth: PGD-20, Square at 100 queries, the grids),
each the min and median of --repeats runs on one torch thread, as the app runs. Beside the times:
how many correctly classified points lie within ε of the boundary (the exact answer), and how
many of those PGD and Square fooled.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from advcore.data import TOY_DATASETS  # noqa: E402
from advcore.playground import boundary, masking  # noqa: E402
from advcore.playground.state import MaskingScene, bounds_of  # noqa: E402


def timed(fn: Callable[..., object], repeats: int, *args: object,
          **kwargs: object) -> tuple[object, float, float]:
    """fn(*args, **kwargs), and the min and median of its wall time over `repeats` runs (s)."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - t0)
    return out, min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eps", type=float, nargs="+", default=[0.3])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="moons only, one repeat")
    args = parser.parse_args()
    torch.set_num_threads(1)
    datasets = ["moons"] if args.quick else list(TOY_DATASETS)
    repeats = 1 if args.quick else args.repeats
    eps_max = float(bounds_of(MaskingScene, "toy_eps")[1])
    print(f"load average {os.getloadavg()[0]:.2f}; {repeats} repeat(s); times min / median s")
    print(f"{'data':8} {'defence':10} {'train':>6} {'truth':>13} {'ε':>5} {'attacks':>13} "
          f"{'within ε':>8} {'PGD':>4} {'Square':>6} {'queries':>8}")
    for name in datasets:
        spec = masking.plane_spec(name)
        X, y = boundary.points_of(spec)
        t0 = time.perf_counter()
        model = boundary.train_model(spec, points=(X, y))
        train = time.perf_counter() - t0
        for defence in masking.PLANE_FAKES:
            truth, t_min, t_med = timed(masking.plane_truth, repeats, model, X, y, defence,
                                        eps_max=eps_max)
            for eps in args.eps:
                r, a_min, a_med = timed(masking.plane_report, repeats, model, X, y,
                                        defence=defence, eps=eps, eps_star=truth,
                                        seed=spec.seed)
                within = r.within
                queries = r.square.queries[within].sum() if r.square.queries is not None else 0
                print(f"{name:8} {defence:10} {train:6.2f} {t_min:6.2f}/{t_med:6.2f} {eps:5g} "
                      f"{a_min:6.2f}/{a_med:6.2f} {int(within.sum()):8d} "
                      f"{int((within & r.pgd.flipped).sum()):4d} "
                      f"{int((within & r.square.flipped).sum()):6d} {int(queries):8,d}")


if __name__ == "__main__":
    main()
