"""Ground-truth timings: exact ε* for the 2-D models (region enumeration + distances), certified
radii (IBP, CROWN, randomized smoothing) and mnist-linear's exact minimal L∞. Prints figures;
asserts nothing.

    python benchmarks/exact.py                  # default and largest boundary scenes, mnist-linear
    python benchmarks/exact.py --repeats 9 --threads 1 --cpu-time

Issue 13's target: the page's default scene (moons, 200 points, MLP 2-32-32), enumeration plus
every ε* in both norms, under 0.3 s on 2 cores. Each figure is the min and median of --repeats
runs of the same computation on the same trained model (training is timed once, separately).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from advcore import certify, exact  # noqa: E402
from advcore.playground.boundary import GRID_RESOLUTION, extent, points_of, train_model  # noqa: E402
from advcore.playground.state import BoundaryScene, bounds_of  # noqa: E402

SCENES = {
    "default 2-32-32, 200 pts": BoundaryScene(),
    "linear, 200 pts": BoundaryScene(model="linear"),
    "largest 2-128x4, 200 pts": BoundaryScene(width=128, depth=4),
    "largest 2-128x4, 1000 pts": BoundaryScene(width=128, depth=4, n=1000),
}


CLOCK = time.perf_counter  # --cpu-time: time.process_time, steadier on a shared machine


def timed(fn: Callable[[], object], repeats: int) -> tuple[str, object]:
    """'min 12.3 ms, median 13.0 ms' over `repeats` calls, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = CLOCK()
        out = fn()
        times.append(CLOCK() - t0)
    return f"min {1e3 * min(times):7.1f} ms, median {1e3 * statistics.median(times):7.1f} ms", out


def exact_figures(label: str, scene: BoundaryScene, repeats: int) -> None:
    X, y = points_of(scene)
    t0 = time.perf_counter()
    model = train_model(scene)
    trained = time.perf_counter() - t0
    box = exact.box_for(X, bounds_of(BoundaryScene, "eps")[1])

    def everything() -> tuple[exact.Segments, exact.Exact, exact.Exact]:
        seg = exact.boundary_segments(model, box)
        return (seg, *(exact.minimal_adversarial(model, X, y, norm=norm, box=box, segments=seg)
                       for norm in ("linf", "l2")))

    enum, seg = timed(lambda: exact.boundary_segments(model, box), repeats)
    dist, _ = timed(lambda: [exact.minimal_adversarial(model, X, y, norm=norm, box=box,
                                                       segments=seg) for norm in ("linf", "l2")],
                    repeats)
    total, (_, linf, l2) = timed(everything, repeats)
    print(f"\n{label}  (trained in {trained:.1f} s; box {np.round(box, 2).tolist()})")
    print(f"  regions on the boundary {seg.regions}, segments {len(seg)}, "
          f"polygons pruned unsplit {seg.pruned}")
    print(f"  enumeration            {enum}")
    print(f"  ε* L∞ + L2, {len(X)} points {dist}")
    print(f"  enumeration + all ε*   {total}")
    gx, gy = (np.linspace(lo, hi, GRID_RESOLUTION) for lo, hi in zip(*extent(X), strict=True))
    t, _ = timed(lambda: exact.distance_map(seg, gx, gy, norm="linf"), max(1, repeats // 3))
    print(f"  distance map {GRID_RESOLUTION}x{GRID_RESOLUTION}, L∞  {t}")
    for ex in (linf, l2):
        print(f"  {ex.norm:4}: median ε* {np.median(ex.eps):.3f}, exact robust accuracy at "
              f"ε = {scene.eps}: {exact.exact_robust_accuracy(ex.eps, scene.eps):.1%}")
    for norm in ("linf", "l2"):
        for method in certify.METHODS:
            t, radius = timed(lambda m=method, n=norm: certify.certified_radius(
                model, X, y, method=m, norm=n), max(1, repeats // 3))
            print(f"  certified radius {method:5} {norm:4} {t}   certified accuracy at "
                  f"ε = {scene.eps}: {certify.certified_accuracy(radius, scene.eps):.1%}")


def smoothing_figures(repeats: int) -> None:
    scene = BoundaryScene()
    X, y = points_of(scene)
    model = train_model(scene)
    x = torch.from_numpy(X)
    for n in (1_000, 10_000):
        t, out = timed(lambda n=n: certify.smooth_predict_certify(
            model, x, sigma=0.25, n0=100, n=n, alpha=0.001,
            generator=torch.Generator().manual_seed(0)), max(1, repeats // 3))
        print(f"  smoothing σ = 0.25, n0 = 100, n = {n:6}, {len(X)} points: {t}; abstains "
              f"{(out.prediction == certify.ABSTAIN).mean():.0%}, median radius "
              f"{np.median(out.radius):.3f}")


def mnist_figures(repeats: int) -> None:
    from advcore.data import mnist
    from advcore.models import pretrained

    model = pretrained("mnist-linear")
    x, y = mnist("test")
    t, eps = timed(lambda: exact.linear_minimal_linf(model, x, y), repeats)
    finite = eps[torch.isfinite(eps) & (eps > 0)]
    print(f"\nmnist-linear, {len(x)} test digits")
    print(f"  exact minimal L∞ (closed form)  {t}; median ε* {finite.median():.4f} "
          f"({255 * finite.median():.1f}/255)")
    t, radius = timed(lambda: certify.certified_radius(model, x, y, method="ibp",
                                                       bounds=(0.0, 1.0)), 1)
    print(f"  IBP certified radius (exact for a linear model)  {t}; max |IBP − exact| "
          f"{np.max(np.abs(radius - eps.numpy())[np.isfinite(radius)]):.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the app runs 1)")
    parser.add_argument("--quick", action="store_true", help="the default scene only")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time this process's CPU use instead of the wall clock")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.cpu_time else time.perf_counter
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} cores, "
          f"load average {load:.1f} at start; {args.repeats} repeats of "
          f"{'CPU' if args.cpu_time else 'wall-clock'} time")
    scenes = dict(list(SCENES.items())[:1]) if args.quick else SCENES
    for label, scene in scenes.items():
        exact_figures(label, replace(scene), args.repeats)
    print("\nrandomized smoothing, default scene")
    smoothing_figures(args.repeats)
    if not args.quick:
        mnist_figures(args.repeats)


if __name__ == "__main__":
    main()
