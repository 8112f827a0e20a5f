"""C&W-L2 at its defaults against torchattacks' C&W, on the shipped mnist-cnn.

For untargeted and targeted attacks (target = (y + 1) mod 10) on the first N test digits:
success rate, median L2 of the successful perturbations (over each attack's own successes, and
over the digits both fooled), and wall time. Issue 14 asks advcore's defaults for ≥ 99%
untargeted and ≥ 95% targeted success, with a median L2 at most torchattacks'.

    python benchmarks/cw.py                 # 500 digits, torchattacks c=10, 500 steps
    python benchmarks/cw.py -n 100 --ta-steps 100
    pip install --no-deps torchattacks      # optional: the comparison column

Prints figures only; nothing here asserts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advcore import attacks, data, models  # noqa: E402


def summary(model: nn.Module, x: Tensor, x_adv: Tensor, goal: Tensor,
            targeted: bool) -> tuple[Tensor, Tensor]:
    """(N,) success flags and (N,) L2 norms of the perturbations."""
    with torch.no_grad():
        pred = model(x_adv).argmax(1)
    ok = pred == goal if targeted else pred != goal
    return ok, (x_adv - x).flatten(1).norm(dim=1)


def median(v: Tensor) -> float:
    return float(v.median()) if len(v) else float("nan")


def torchattacks_cw(model: nn.Module, x: Tensor, goal: Tensor, targeted: bool, c: float,
                    steps: int) -> Tensor | None:
    try:
        import torchattacks as ta
    except ImportError:
        return None
    attack = ta.CW(model, c=c, kappa=0.0, steps=steps, lr=0.01)
    if targeted:
        attack.set_mode_targeted_by_label(quiet=True)
    return attack(x, goal)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=500, help="test digits (default 500)")
    parser.add_argument("--ta-c", type=float, default=10.0, help="torchattacks' c (default 10)")
    parser.add_argument("--ta-steps", type=int, default=500,
                        help="torchattacks' Adam steps (default 500)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--no-torchattacks", action="store_true",
                        help="advcore's figures only (torchattacks' 500 steps take longest)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = models.pretrained("mnist-cnn")
    x, y = data.mnist("test")
    x, y = x[: args.n], y[: args.n]
    print(f"C&W-L2 on the first {len(y)} mnist-cnn test digits, {args.threads} thread(s)")
    print(f"{'mode':<11} {'attack':<32} {'success':>8} {'median L2':>10} {'both fooled':>12} "
          f"{'time':>8}")
    for targeted in (False, True):
        goal = (y + 1) % 10 if targeted else y
        start = time.perf_counter()
        ours = attacks.cw_l2(model, x, goal, targeted=targeted)
        t_ours = time.perf_counter() - start
        ok, l2 = summary(model, x, ours, goal, targeted)
        start = time.perf_counter()
        theirs = None if args.no_torchattacks else torchattacks_cw(model, x, goal, targeted,
                                                                    args.ta_c, args.ta_steps)
        t_theirs = time.perf_counter() - start
        mode = "targeted" if targeted else "untargeted"
        rows = [("advcore cw_l2 (defaults)", ok, l2, t_ours)]
        if theirs is not None:
            ok_t, l2_t = summary(model, x, theirs, goal, targeted)
            rows.append((f"torchattacks CW c={args.ta_c:g}, {args.ta_steps} st.", ok_t, l2_t,
                         t_theirs))
            both = ok & ok_t
        else:
            both = ok
        for label, flags, norms, seconds in rows:
            print(f"{mode:<11} {label:<32} {float(flags.float().mean()):>8.1%} "
                  f"{median(norms[flags]):>10.3f} {median(norms[both]):>12.3f} "
                  f"{seconds:>7.1f}s", flush=True)
    if theirs is None and not args.no_torchattacks:
        print("(torchattacks not installed: pip install --no-deps torchattacks)")


if __name__ == "__main__":
    main()
