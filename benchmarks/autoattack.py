"""advcore's worst-case evaluation against torchattacks' APGD, APGDT, Square and AutoAttack.

On the shipped mnist-cnn-robust (adversarially trained) at L∞ ε = 0.3, the first N test digits:
robust accuracy after each stage of advcore's ensemble (APGD-CE, APGD-T, Square, each run on the
digits still robust) and the time each stage took; then torchattacks' APGD-CE, APGD-T and Square
each alone, and its AutoAttack (standard: APGD-CE, APGD-T, FAB-T, Square), with their times.
Issue 14's cross-check: advcore's robust accuracy must be at most torchattacks' AutoAttack
figure + 0.5 points. Reference (Madry et al.'s PGD-trained MNIST model at ε = 0.3): 89.6% by
PGD, 88.4% by AutoAttack.

    python benchmarks/autoattack.py             # 1,000 digits: CPU-heavy (tens of minutes)
    python benchmarks/autoattack.py -n 100      # a smoke run
    python benchmarks/autoattack.py --alone 0   # AutoAttack only on the torchattacks side
    pip install --no-deps torchattacks          # the comparison (never a project requirement)

The digits run in chunks (default 100), advcore then torchattacks on each chunk, so the two
sides see the same machine load; every attack is per-digit, so the totals are those of one run.
Prints figures only; the cross-check is printed, not asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advcore import data, evaluate, models  # noqa: E402

EPS = 0.3
MARGIN = 0.005  # issue 14: advcore ≤ AutoAttack + 0.5 points


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    return evaluate.accuracy(model, x, y)


def advcore_rows(model: nn.Module, x: Tensor, y: Tensor, seed: int) -> tuple[list, Tensor]:
    """(stage, accuracy after it, seconds) per stage of the ensemble, and the robust mask."""
    rows, last = [], [time.perf_counter()]

    def progress(done: int, total: int, name: str, acc: float) -> None:
        now = time.perf_counter()
        rows.append((name, acc, now - last[0]))
        last[0] = now

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", evaluate.EvaluationWarning)
        result = evaluate.robust_accuracy(model, x, y, eps=EPS, seed=seed, progress=progress)
    for w in caught:
        if issubclass(w.category, evaluate.EvaluationWarning):
            print(f"  advcore sanity check: {w.message}")
    return rows, torch.as_tensor(result.robust)


def torchattacks_rows(model: nn.Module, x: Tensor, y: Tensor, seed: int, alone: bool) -> list:
    """(attack, accuracy, seconds): AutoAttack, and first each part alone if `alone`."""
    import torchattacks as ta

    made = {
        "APGD-CE": ta.APGD(model, norm="Linf", eps=EPS, steps=100, n_restarts=1, loss="ce",
                           seed=seed),
        "APGD-T": ta.APGDT(model, norm="Linf", eps=EPS, steps=100, n_restarts=1, n_classes=10,
                           seed=seed),
        "Square": ta.Square(model, norm="Linf", eps=EPS, n_queries=5000, n_restarts=1,
                            seed=seed),
        "AutoAttack": ta.AutoAttack(model, norm="Linf", eps=EPS, version="standard",
                                    n_classes=10, seed=seed),
    }
    rows = []
    for name, attack in made.items():
        if name != "AutoAttack" and not alone:
            continue
        start = time.perf_counter()
        x_adv = attack(x, y)
        rows.append((name, accuracy(model, x_adv, y), time.perf_counter() - start))
    return rows


def merge(total: dict, rows: list, weight: int) -> None:
    """Add chunk rows into name -> [correct digits, seconds, digits]."""
    for name, acc, sec in rows:
        into = total.setdefault(name, [0.0, 0.0, 0])
        into[0] += acc * weight
        into[1] += sec
        into[2] += weight


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1000, help="test digits (default 1000)")
    parser.add_argument("--chunk", type=int, default=100, help="digits per chunk (default 100)")
    parser.add_argument("--alone", type=int, default=200,
                        help="digits on which torchattacks' APGD, APGD-T and Square also run "
                             "alone (default 200; AutoAttack runs on all)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = models.pretrained("mnist-cnn-robust")
    x, y = data.mnist("test")
    x, y = x[: args.n], y[: args.n]
    n = len(y)
    print(f"mnist-cnn-robust, L∞ ε = {EPS}, {n} test digits in chunks of {args.chunk}, "
          f"{args.threads} thread(s); clean accuracy {accuracy(model, x, y):.2%}", flush=True)
    try:
        import torchattacks  # noqa: F401
        compare = True
    except ImportError:
        compare = False
    ours, theirs, robust = {}, {}, []
    for start in range(0, n, args.chunk):
        xc, yc = x[start:start + args.chunk], y[start:start + args.chunk]
        rows, mask = advcore_rows(model, xc, yc, args.seed + start)
        merge(ours, rows, len(yc))
        robust.append(mask)
        line = f"  digits {start}-{start + len(yc) - 1}: advcore {rows[-1][1]:.2%}"
        if compare:
            rows = torchattacks_rows(model, xc, yc, args.seed + start, start < args.alone)
            merge(theirs, rows, len(yc))
            line += f", torchattacks AutoAttack {rows[-1][1]:.2%}"
        print(line, flush=True)
    ours = [(name, k / m, sec, m) for name, (k, sec, m) in ours.items()]
    ours_acc = float(torch.cat(robust).float().mean())
    lo, hi = evaluate.clopper_pearson(int(torch.cat(robust).sum()), n)
    print(f"\nadvcore worst case: {ours_acc:.2%} (95% CI {lo:.2%}-{hi:.2%})")
    print(f"\n{'':<14}{'stage':<24}{'robust acc.':>12}{'time':>10}{'digits/s':>10}")
    for name, acc, sec, m in ours:
        print(f"{'advcore':<14}{name + ' (on survivors)':<24}{acc:>12.2%}{sec:>9.1f}s"
              f"{m / sec:>10.1f}")
    total = sum(row[2] for row in ours)
    print(f"{'advcore':<14}{'ensemble, total':<24}{ours_acc:>12.2%}{total:>9.1f}s"
          f"{n / total:>10.1f}")
    if not compare:
        print("(torchattacks not installed: pip install --no-deps torchattacks)")
        return
    for name, (k, sec, m) in theirs.items():
        label = name if name == "AutoAttack" else f"{name} (alone, {m})"
        print(f"{'torchattacks':<14}{label:<24}{k / m:>12.2%}{sec:>9.1f}s{m / sec:>10.1f}")
    aa = theirs["AutoAttack"][0] / n
    ok = ours_acc <= aa + MARGIN
    print(f"\ncross-check: advcore {ours_acc:.2%} vs torchattacks AutoAttack {aa:.2%} + 0.5 "
          f"points: {'holds' if ok else 'FAILS'}")


if __name__ == "__main__":
    main()
