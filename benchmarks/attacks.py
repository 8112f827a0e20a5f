"""Attack throughput on the shipped mnist-cnn over the 1,000 test digits.

For each attack: images per second, and the ratio of its time to the forward+backward lower bound
(the best time of a bare forward+backward pass over the same digits, in one batch or in chunks,
whichever is fastest, times the number of gradient evaluations the attack makes). When
torchattacks is importable (`pip install --no-deps torchattacks`; never a project requirement)
the same attacks run side by side, with advcore's throughput relative to it and a check that the
outputs agree.

    python benchmarks/attacks.py                # the table
    python benchmarks/attacks.py --chunks       # also: throughput per chunk size (tunes CHUNK_VALUES)
    python benchmarks/attacks.py --cpu-time --only APGD-CE-10 APGD-DLR-10 Square

APGD makes steps + 1 gradient evaluations (its random start, then each step). Square is timed
per query against a bare forward pass.

Prints figures only; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advcore import attacks, data, models  # noqa: E402
from advcore.attacks import _geometry as geometry  # noqa: E402
from advcore.attacks.pgd import STEP_FACTOR  # noqa: E402

# The family module (the package's `deepfool` is its public function): its iterates count the
# linearisations DeepFool makes.
deepfool_family = importlib.import_module("advcore.attacks.deepfool")

EPS = 0.1  # L∞, [0, 1] pixels (25.5/255)
EPS_L2 = 1.5
STEPS = 10
CW = dict(steps=10, search_steps=2, lr=0.01, c=1.0, kappa=0.0)
DEEPFOOL_STEPS = 50
SQUARE_QUERIES = 100
CHUNK_SIZES = (1000, 500, 250, 128, 100, 64, 50, 32)
clock = time.perf_counter  # --cpu-time: time.thread_time on one thread


def load_model() -> tuple[nn.Module, str]:
    try:
        return models.pretrained("mnist-cnn"), "mnist-cnn (shipped weights)"
    except models.AssetError as exc:
        print(f"note: {exc}; timing random weights of the same architecture", file=sys.stderr)
        model = models.build("mnist-cnn").eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return model, "mnist-cnn (random weights, same cost)"


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of `repeats` runs after one warm-up: the least disturbed by other processes."""
    fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return min(times)


def forward_backward(model: nn.Module, x: Tensor, y: Tensor, chunk: int) -> None:
    """One bare input-gradient pass over x, `chunk` digits at a time."""
    for s in range(0, len(x), chunk):
        xc = x[s : s + chunk].detach().requires_grad_(True)
        loss = F.cross_entropy(model(xc), y[s : s + chunk], reduction="sum")
        torch.autograd.grad(loss, xc)


def deepfool_iterations(model: nn.Module, x: Tensor, y: Tensor) -> int:
    frames = deepfool_family.plan(model, x, y, steps=DEEPFOOL_STEPS).frames(DEEPFOOL_STEPS)
    moved = (frames[1:] != frames[:-1]).flatten(2).any(2).any(1)
    return int(moved.sum())


def advcore_attacks(model: nn.Module, x: Tensor, y: Tensor) -> dict[str, tuple[int, Callable]]:
    """name -> (gradient evaluations, run)."""
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    iters = deepfool_iterations(model, x, y)
    return {
        "FGSM": (1, lambda: attacks.fgsm(model, x, y, eps=EPS)),
        "BIM-10": (STEPS, lambda: attacks.bim(model, x, y, eps=EPS, steps=STEPS)),
        "PGD-10": (STEPS, lambda: attacks.pgd(model, x, y, eps=EPS, steps=STEPS,
                                              generator=gen())),
        "PGD-L2-10": (STEPS, lambda: attacks.pgd(model, x, y, eps=EPS_L2, steps=STEPS,
                                                 norm="l2", generator=gen())),
        "MI-FGSM-10": (STEPS, lambda: attacks.mifgsm(model, x, y, eps=EPS, steps=STEPS)),
        # One forward and ten backward passes (one per class) per linearisation.
        f"DeepFool ({iters} it.)": (
            0, lambda: attacks.deepfool(model, x, y, steps=DEEPFOOL_STEPS)),
        f"C&W ({CW['search_steps']}×{CW['steps']})": (
            CW["steps"] * CW["search_steps"], lambda: attacks.cw_l2(model, x, y, **CW)),
        # One gradient at the random start, then one per iteration.
        "APGD-CE-10": (STEPS + 1, lambda: attacks.apgd(model, x, y, eps=EPS, steps=STEPS,
                                                        generator=gen())),
        "APGD-DLR-10": (STEPS + 1, lambda: attacks.apgd(model, x, y, eps=EPS, loss="dlr",
                                                         steps=STEPS, generator=gen())),
    }


def torchattacks_attacks(model: nn.Module, x: Tensor, y: Tensor) -> dict[str, Callable] | None:
    try:
        import torchattacks as ta
    except ImportError:
        return None
    alpha = STEP_FACTOR * EPS / STEPS
    made = {
        "FGSM": ta.FGSM(model, eps=EPS),
        "BIM-10": ta.PGD(model, eps=EPS, alpha=alpha, steps=STEPS, random_start=False),
        "PGD-10": ta.PGD(model, eps=EPS, alpha=alpha, steps=STEPS, random_start=True),
        "PGD-L2-10": ta.PGDL2(model, eps=EPS_L2, alpha=STEP_FACTOR * EPS_L2 / STEPS,
                              steps=STEPS, random_start=True),
        "MI-FGSM-10": ta.MIFGSM(model, eps=EPS, alpha=EPS / STEPS, steps=STEPS, decay=1.0),
        "DeepFool": ta.DeepFool(model, steps=DEEPFOOL_STEPS, overshoot=0.02),
        "C&W": ta.CW(model, c=CW["c"], kappa=CW["kappa"], steps=CW["steps"] * CW["search_steps"],
                     lr=CW["lr"]),
        "APGD-CE-10": ta.APGD(model, eps=EPS, steps=STEPS, loss="ce"),
        "APGD-DLR-10": ta.APGD(model, eps=EPS, steps=STEPS, loss="dlr"),
    }
    return {name: (lambda a=a: a(x, y)) for name, a in made.items()}


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def saturated(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Digits where float32 cross-entropy's gradient loses its true-class term (see
    advcore.attacks._geometry.loss_gradient); advcore follows the exact direction there."""
    with torch.no_grad():
        logits = model(x)
    rows = torch.arange(len(y))
    others = logits.index_put((rows, y), torch.tensor(-torch.inf))
    return others.logsumexp(1) - logits[rows, y] < geometry.SATURATION_LOG_ODDS


def agreement(name: str, ours: Tensor, theirs: Tensor, model: nn.Module, x: Tensor,
              y: Tensor) -> str:
    diff = (ours - theirs).abs().flatten(1).amax(1)
    if name == "FGSM":
        sat = saturated(model, x, y)
        return (f"max|Δ| {diff[~sat].max():.1g} on the {int((~sat).sum())} unsaturated digits; "
                f"{int((diff[sat] > 0).sum())} of {int(sat.sum())} saturated digits differ "
                f"(max|Δ| {diff.max():.2g})")
    if name == "BIM-10":
        return (f"max|Δ| {diff.max():.1g}; {int((diff > 1e-6).sum())} digits differ by > 1e-6")
    return "—"


def float64_gain(model: nn.Module, x: Tensor, y: Tensor, x_adv: Tensor, eps: float) -> Tensor:
    """The share of FGSM's first-order gain that x_adv captures, per digit, measured with
    cross-entropy's input gradient in float64 on a float64 copy of the model: 1 is the exact
    FGSM step; float32 rounding alone costs up to ~0.1%."""
    x64 = x.double().requires_grad_(True)
    loss = F.cross_entropy(copy.deepcopy(model).double()(x64), y, reduction="sum")
    (g64,) = torch.autograd.grad(loss, x64)
    best = (g64 * ((x.double() + eps * g64.sign()).clamp(0, 1) - x.double())).flatten(1).sum(1)
    return (g64 * (x_adv.double() - x.double())).flatten(1).sum(1) / best


def forward_only(model: nn.Module, x: Tensor, chunk: int) -> None:
    """One bare forward pass over x, `chunk` digits at a time: a score-based query's cost."""
    with torch.no_grad():
        for s in range(0, len(x), chunk):
            model(x[s : s + chunk])


def square_cost(model: nn.Module, x: Tensor, y: Tensor, repeats: int) -> None:
    """Square's time per query against one bare forward pass per digit queried.

    Square only queries the digits it has not fooled yet, so its bound is (total queries, from
    AttackResult.queries) × (the best per-digit time of a bare forward pass over the same digits).
    """
    print(f"\nSquare: cost per query against a bare forward pass ({SQUARE_QUERIES} queries):")
    fwd = min(best_time(lambda c=c: forward_only(model, x, c), repeats) for c in CHUNK_SIZES)
    per_digit = fwd / len(x)
    print(f"  forward-only bound: {len(x) / fwd:.0f} images/s")
    for name, eps in (("square", EPS), ("square-l2", EPS_L2)):
        spec = attacks.get_attack(name)
        result = spec.run(model, x, y, eps=eps, queries=SQUARE_QUERIES)
        t = best_time(lambda s=spec, e=eps: s.run(model, x, y, eps=e, queries=SQUARE_QUERIES),
                      max(1, repeats // 3))
        total = int(result.queries.sum())
        print(f"  {spec.label:<14} {total:>8} queries in {t:.2f}s: {t / total * 1e6:.0f} µs a "
              f"query, {t / (total * per_digit):.2f} × a forward pass; accuracy "
              f"{accuracy(model, result.x_adv, y):.1%}")


def chunk_table(model: nn.Module, x: Tensor, y: Tensor, repeats: int) -> None:
    print("\nThroughput (images/s) by chunk size (CHUNK_VALUES = digits × 784):")
    print(f"{'digits/chunk':>12} {'fwd+bwd':>9} {'FGSM':>9} {'PGD-10':>9}")
    saved = geometry.CHUNK_VALUES
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    try:
        for c in CHUNK_SIZES:
            geometry.CHUNK_VALUES = c * x[0].numel()
            bare = best_time(lambda c=c: forward_backward(model, x, y, c), repeats)
            fgsm = best_time(lambda: attacks.fgsm(model, x, y, eps=EPS), repeats)
            pgd = best_time(lambda: attacks.pgd(model, x, y, eps=EPS, steps=STEPS,
                                                generator=gen()), max(1, repeats // 2))
            n = len(x)
            print(f"{c:>12} {n / bare:>9.0f} {n / fgsm:>9.0f} {n / pgd * STEPS:>9.0f}"
                  "   (PGD: digit-steps/s)")
    finally:
        geometry.CHUNK_VALUES = saved


def interleaved_best(
    runs: dict[str, Callable[[], object]], rounds: int, warm_up: bool = True
) -> dict[str, float]:
    """The best time of each run over `rounds` rounds, every round running each once in turn.

    Interleaving puts every measurement under the same background load, so the ratios in the
    table stay meaningful on a machine that is doing other work.
    """
    if warm_up:
        for run in runs.values():
            run()
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for key, run in runs.items():
            start = clock()
            run()
            best[key] = min(best[key], clock() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="rounds of timings; best is kept")
    parser.add_argument("--chunks", action="store_true", help="also time each chunk size")
    parser.add_argument("--cpu-time", action="store_true",
                        help="one thread, timed by its CPU time: ratios that hold on a busy machine")
    parser.add_argument("--only", nargs="+", metavar="ATTACK",
                        help="time only these attacks, e.g. --only FGSM PGD-10")
    args = parser.parse_args(argv)
    if args.cpu_time:
        global clock
        torch.set_num_threads(1)
        clock = time.thread_time

    model, label = load_model()
    x, y = data.mnist("test")
    n = len(x)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{label}; {n} test digits; torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads, {platform.machine()}; load average {load:.1f} at start; best of "
          f"{args.repeats} interleaved rounds{' of CPU time' if args.cpu_time else ''}; advcore chunks of "
          f"{geometry.CHUNK_VALUES // x[0].numel()} digits", flush=True)
    ours = advcore_attacks(model, x, y)
    if args.only:
        ours = {k: v for k, v in ours.items() if k.split(" (")[0] in args.only}
    theirs = torchattacks_attacks(model, x, y) or {}
    # The bound at every chunk size runs in the same rounds as the attacks, under the same load.
    # The CNN runs ~10% slower on perturbed digits than on clean ones (whatever the code around
    # it), so iterative attacks, whose passes after the first see perturbed digits, are also
    # compared with a bound measured on such digits: PGD's output at the same ε.
    x_iter = attacks.pgd(model, x, y, eps=EPS, steps=STEPS, generator=torch.Generator())
    runs: dict[str, Callable[[], object]] = {}
    for c in CHUNK_SIZES:
        runs[f"bound@{c}"] = lambda c=c: forward_backward(model, x, y, c)
        runs[f"iterates@{c}"] = lambda c=c: forward_backward(model, x_iter, y, c)
    slow: dict[str, Callable[[], object]] = {}  # minimal attacks: seconds to minutes a run
    for name, (grads, run) in ours.items():
        key = name.split(" (")[0]
        group = runs if 0 < grads <= STEPS else slow
        group[name] = run
        if key in theirs:
            group["ta:" + key] = theirs[key]
    best = interleaved_best(runs, args.repeats)
    best |= interleaved_best(slow, max(1, args.repeats // 3), warm_up=False)
    best_chunk = min(CHUNK_SIZES, key=lambda c: best[f"bound@{c}"])
    bound = best[f"bound@{best_chunk}"]
    print(f"forward+backward lower bound: {n / bound:.0f} images/s ({best_chunk} digits a chunk; "
          f"one {n}-digit batch: {n / best[f'bound@{n}']:.0f} images/s)")
    print("  by chunk size: " + ", ".join(
        f"{c}: {n / best[f'bound@{c}']:.0f}" for c in CHUNK_SIZES) + " images/s")
    iter_chunk = min(CHUNK_SIZES, key=lambda c: best[f"iterates@{c}"])
    iter_bound = best[f"iterates@{iter_chunk}"]
    print(f"on perturbed digits (PGD's output): {n / iter_bound:.0f} images/s ({iter_chunk} "
          "digits a chunk); '× iter' compares an iterative attack with that\n")

    header = (f"{'attack':<18} {'grads':>5} {'advcore img/s':>13} {'× bound':>8} "
              f"{'× iter':>7}")
    if theirs:
        header += f" {'torchattacks img/s':>18} {'advcore/ta':>10}  agreement"
    print(header)
    print("-" * len(header))
    for name, (grads, run) in ours.items():
        t = best[name]
        ratio = f"{t / (grads * bound):>8.2f}" if grads else f"{'—':>8}"
        iter_ratio = f"{t / (grads * iter_bound):>7.2f}" if grads > 1 else f"{'—':>7}"
        line = f"{name:<18} {grads or '':>5} {n / t:>13.0f} {ratio} {iter_ratio}"
        key = name.split(" (")[0]
        if key in theirs:
            t_ta = best["ta:" + key]
            adv, ref = run(), theirs[key]()
            note = agreement(key, adv, ref, model, x, y)
            if note == "—":
                note = f"accuracy {accuracy(model, adv, y):.1%} vs {accuracy(model, ref, y):.1%}"
            line += f" {n / t_ta:>18.0f} {t_ta / t:>10.2f}  {note}"
        print(line, flush=True)
    fgsm_name = next((k for k in ours if k.startswith("FGSM")), None)
    if fgsm_name and "FGSM" in theirs:
        print("\nFGSM against the float64 reference (share of the first-order gain kept; worst "
              "digit, and digits losing more than 0.1%):")
        for who, adv in (("advcore", ours[fgsm_name][1]()), ("torchattacks", theirs["FGSM"]())):
            kept = float64_gain(model, x, y, adv, EPS)
            print(f"  {who:<13} worst {kept.min():.2%}, {int((kept < 0.999).sum())} digits lose > 0.1%")
    if not theirs:
        print("\n(torchattacks not importable: `pip install --no-deps torchattacks` to compare)")
    if not args.only or "Square" in args.only:
        square_cost(model, x, y, args.repeats)
    if args.chunks:
        chunk_table(model, x, y, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
