"""Properties every registered attack must have, and exact oracles where the optimum is known.

The property tests are parametrised over `advcore.attacks.ATTACKS`: a new attack is tested by
being registered. Properties (after CleverHans' and Foolbox's test suites): the output lies in the
bounds and in the ε-ball, ε = 0 is the identity, the model and the input are unchanged, accuracy
falls as ε grows, PGD is at least as strong as FGSM, targeted attacks reach their target.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from advcore import attacks
from advcore.attacks import ATTACKS, AttackSpec, trajectory
from advcore.attacks import _geometry as geometry
from advcore.evaluate import accuracy, smallest_flipping_eps
from advcore.sweep import epsilon_sweep
from tests.conftest import Case, SingleLogit, TinyCNN, binary_linear, labels_of, points

NAMES = list(ATTACKS)
TARGETED = [name for name, spec in ATTACKS.items() if spec.targeted]
# A decision-based attack starts from a point already in the target class, which the tiny CNN
# (it predicts 3 of its 10 classes) has for few targets: it is tested on the binary model.
ITERATIVE_TARGETED = [name for name in TARGETED
                      if ATTACKS[name].iterative and ATTACKS[name].access != "labels"]
RANDOM_START = {"pgd", "pgd-l2"}
TOL = 1e-6
pytestmark = pytest.mark.usefixtures("one_thread")
FUZZ = settings(max_examples=8, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def fits(spec: AttackSpec, case: Case) -> None:
    """Skip a case with fewer classes than the attack is defined for (DLR needs 3); that the
    attack refuses it is tested on its own."""
    if case.n_classes < spec.min_classes:
        pytest.skip(f"{spec.name} needs {spec.min_classes} classes")


# The properties that hold at any query budget (the ε-ball, the model left alone, chunking) run
# the black-box attacks on a small one: their cost is a Python loop per query on tiny inputs.
SMALL_BUDGET = 100


def budget(spec: AttackSpec) -> dict[str, int]:
    """The small query budget for a black-box attack; nothing for a gradient attack."""
    return {"queries": SMALL_BUDGET} if spec.black_box else {}


def radius(spec: AttackSpec, case: Case) -> float:
    """A moderate ε in the attack's norm for the inputs of `case`."""
    d = case.x[0].numel()
    base = 0.1 if case.bounds else 0.3  # pixels in [0, 1] / standardised features
    return base if spec.norm == "linf" else base * math.sqrt(d) / 2


def norm_of(delta: Tensor, norm: str) -> Tensor:
    flat = delta.flatten(1)
    return flat.abs().amax(1) if norm == "linf" else flat.norm(dim=1)


def snapshot(model: nn.Module) -> tuple[bool, dict[str, Tensor], list[Tensor | None]]:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return model.training, state, [p.grad for p in model.parameters()]


def assert_unchanged(model: nn.Module, before: tuple) -> None:
    training, state, grads = before
    assert model.training == training
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), f"attack changed {k}"
    for p, g in zip(model.parameters(), grads, strict=True):
        assert p.grad is g is None, "attack touched a parameter's .grad"


# --- properties over the registry ------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_registry_entry_is_complete(name):
    spec = ATTACKS[name]
    assert spec.name == name
    assert spec.norm in geometry.NORMS
    assert spec.label and spec.paper
    assert attacks.get_attack(name) is spec


def test_unknown_attack_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown attack 'nope'.*fgsm"):
        attacks.get_attack("nope")


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(scale=st.floats(0.05, 3.0), seed=st.integers(0, 2**16))
def test_output_within_bounds_and_eps_ball(name, cnn_case, scale, seed):
    spec, case = ATTACKS[name], cnn_case
    eps = radius(spec, case) * scale
    x_adv = spec(case.model, case.x, case.y, eps=eps, steps=5, bounds=case.bounds, seed=seed,
                 **budget(spec))
    assert x_adv.shape == case.x.shape and x_adv.dtype == case.x.dtype
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert (norm_of(x_adv - case.x, spec.norm) <= eps * (1 + TOL) + TOL).all()


@pytest.mark.parametrize("name", NAMES)
def test_unbounded_2d_features_stay_in_the_ball(name, mlp_case):
    fits(ATTACKS[name], mlp_case)
    spec, case = ATTACKS[name], mlp_case
    eps = 3.0 if spec.norm == "linf" else 4.0  # big enough to leave any [0, 1] box
    x_adv = spec(case.model, case.x, case.y, eps=eps, steps=5, bounds=None)
    assert torch.isfinite(x_adv).all()
    assert (norm_of(x_adv - case.x, spec.norm) <= eps * (1 + TOL) + TOL).all()
    assert accuracy(case.model, x_adv, case.y) < accuracy(case.model, case.x, case.y)


@pytest.mark.parametrize("name", NAMES)
def test_zero_eps_is_the_identity(name, any_case):
    fits(ATTACKS[name], any_case)
    spec, case = ATTACKS[name], any_case
    x_adv = spec(case.model, case.x, case.y, eps=0.0, bounds=case.bounds)
    assert torch.equal(x_adv, case.x)
    assert x_adv is not case.x


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("x_requires_grad", [False, True])
def test_model_and_input_are_unchanged(name, any_case, x_requires_grad):
    fits(ATTACKS[name], any_case)
    spec, case = ATTACKS[name], any_case
    x = case.x.clone().requires_grad_(x_requires_grad)
    x_before = x.detach().clone()
    before = snapshot(case.model)
    x_adv = spec(case.model, x, case.y, eps=radius(spec, case), steps=3, bounds=case.bounds,
                 **budget(spec))
    assert_unchanged(case.model, before)
    assert torch.equal(x.detach(), x_before)
    assert x.requires_grad == x_requires_grad and x.grad is None
    assert not x_adv.requires_grad and x_adv.grad_fn is None


@pytest.mark.parametrize("name", NAMES)
def test_model_in_train_mode_warns_and_stays_in_train_mode(name, mlp_case):
    fits(ATTACKS[name], mlp_case)
    spec, case = ATTACKS[name], mlp_case
    case.model.train()
    with pytest.warns(UserWarning, match="training mode"):
        spec(case.model, case.x, case.y, eps=0.2, steps=2, bounds=None)
    assert case.model.training


@pytest.mark.parametrize("name", NAMES)
def test_accuracy_falls_as_eps_grows(name, mlp_case):
    fits(ATTACKS[name], mlp_case)
    spec, case = ATTACKS[name], mlp_case
    epsilons = [0.0, 0.1, 0.2, 0.4, 0.8]
    sweep = epsilon_sweep(case.model, case.x, case.y, attack=name, epsilons=epsilons, steps=10,
                          bounds=None)
    acc = sweep.accuracy.tolist()
    slack = 2 / len(case.y) if name in RANDOM_START or spec.minimal else 0.0
    assert all(b <= a + slack for a, b in zip(acc, acc[1:], strict=False)), acc
    assert acc[0] == pytest.approx(accuracy(case.model, case.x, case.y))
    assert acc[-1] < acc[0]


@pytest.mark.parametrize("strong", ["bim", "pgd", "mifgsm"])
@pytest.mark.parametrize("eps", [0.1, 0.2, 0.3])
def test_iterative_attacks_are_at_least_as_strong_as_fgsm(strong, eps, mlp_case):
    """On a curved boundary. A random start can land PGD in a worse local optimum than FGSM's
    corner for the odd point, so PGD gets one point of slack; BIM and MI-FGSM start at x."""
    case = mlp_case
    one_step = attacks.fgsm(case.model, case.x, case.y, eps=eps, bounds=None)
    many = attacks.run_attack(strong, case.model, case.x, case.y, eps=eps, steps=20, bounds=None)
    slack = 1 / len(case.y) if strong in RANDOM_START else 0.0
    assert accuracy(case.model, many, case.y) <= accuracy(case.model, one_step, case.y) + slack


def test_pgd_is_stronger_than_fgsm_somewhere(mlp_case):
    case = mlp_case
    sweep = {name: epsilon_sweep(case.model, case.x, case.y, attack=name, bounds=None, steps=20,
                                 epsilons=[0.1, 0.2, 0.3]).accuracy for name in ("fgsm", "pgd")}
    assert (sweep["pgd"] < sweep["fgsm"]).any()


@pytest.mark.parametrize("name", TARGETED)
def test_targeted_attacks_reach_the_target_on_a_binary_model(name, linear_case):
    """C&W's Adam moves about lr = 0.01 per step, so it gets enough steps to travel the ~3
    units to the farthest point's boundary."""
    fits(ATTACKS[name], linear_case)
    case = linear_case
    target = 1 - case.y
    x_adv = ATTACKS[name](case.model, case.x, target, eps=10.0, steps=300, targeted=True,
                          bounds=None)
    assert torch.equal(labels_of(case.model, x_adv), target)


@pytest.mark.parametrize("name", ITERATIVE_TARGETED)
def test_iterative_targeted_attacks_reach_any_target_class(name, cnn_case):
    """Unbounded, because a random tiny CNN cannot output every class inside the [0, 1] box."""
    case = cnn_case
    target = (case.y + 3) % 10
    eps = 2.0 if ATTACKS[name].norm == "linf" else 20.0
    x_adv = ATTACKS[name](case.model, case.x, target, eps=eps, steps=200, targeted=True,
                          bounds=None)
    assert torch.equal(labels_of(case.model, x_adv), target)


@pytest.mark.parametrize("name", [n for n, s in ATTACKS.items() if not s.targeted])
def test_targeted_mode_is_refused_where_the_method_has_none(name, linear_case):
    fits(ATTACKS[name], linear_case)
    case = linear_case
    with pytest.raises(ValueError, match="no targeted mode"):
        ATTACKS[name](case.model, case.x, case.y, eps=0.1, targeted=True, bounds=None)


# --- bad arguments ---------------------------------------------------------------------------


def _bad_calls(case: Case):
    m, x, y = case.model, case.x, case.y
    yield "eps must", dict(model=m, x=x, y=y, eps=-0.1)
    yield "eps must", dict(model=m, x=x, y=y, eps=float("nan"))
    yield "eps must", dict(model=m, x=x, y=y, eps=float("inf"))
    yield "eps must", dict(model=m, x=x, y=y, eps="0.1")
    yield "eps must", dict(model=m, x=x, y=y, eps=torch.full((len(y) + 1,), 0.1))
    yield "y must have shape", dict(model=m, x=x, y=y[:-1], eps=0.1)
    yield "y must be an integer", dict(model=m, x=x, y=y.float(), eps=0.1)
    yield "x must have shape", dict(model=m, x=x[0], y=y[:1], eps=0.1)
    yield "x must be a floating", dict(model=m, x=x.long(), y=y, eps=0.1)
    yield "labels must lie in", dict(model=m, x=x, y=y + 2, eps=0.1)
    yield "labels must lie in", dict(model=m, x=x, y=y - 1, eps=0.1)
    nan_x = x.clone()
    nan_x[0, 0] = float("nan")
    yield "NaN", dict(model=m, x=nan_x, y=y, eps=0.1)
    yield "outside bounds", dict(model=m, x=x, y=y, eps=0.1, bounds=(0.0, 1.0))
    yield "low < high", dict(model=m, x=x, y=y, eps=0.1, bounds=(1.0, 0.0))
    yield "single logit", dict(model=SingleLogit().eval(), x=x, y=y, eps=0.1)
    yield "model must be", dict(model=lambda t: t, x=x, y=y, eps=0.1)


@pytest.mark.parametrize("name", NAMES)
def test_bad_arguments_raise_a_clear_value_error(name, linear_case):
    fits(ATTACKS[name], linear_case)
    spec = ATTACKS[name]
    for match, kwargs in _bad_calls(linear_case):
        kwargs.setdefault("bounds", None)
        args = (kwargs.pop("model"), kwargs.pop("x"), kwargs.pop("y"))
        with pytest.raises(ValueError, match=match):
            spec(*args, steps=2, **kwargs)


@pytest.mark.parametrize("fn", [attacks.pgd, attacks.bim, attacks.deepfool])
def test_unknown_norm_is_refused(fn, linear_case):
    case = linear_case
    with pytest.raises(ValueError, match="norm must be one of"):
        fn(case.model, case.x, case.y, eps=0.1, norm="l1", bounds=None)


@pytest.mark.parametrize("steps", [0, -1, 2.5, True])
def test_bad_step_counts_are_refused(steps, linear_case):
    case = linear_case
    with pytest.raises(ValueError, match="steps must be an integer"):
        attacks.pgd(case.model, case.x, case.y, eps=0.1, steps=steps, bounds=None)


def test_smaller_integer_label_dtypes_are_accepted(cnn_case):
    case = cnn_case
    expected = attacks.fgsm(case.model, case.x, case.y, eps=0.1)
    for dtype in (torch.int32, torch.uint8):
        assert torch.equal(attacks.fgsm(case.model, case.x, case.y.to(dtype), eps=0.1), expected)


def test_numpy_scalars_are_accepted_as_eps(cnn_case):
    np = pytest.importorskip("numpy")
    case = cnn_case
    expected = attacks.fgsm(case.model, case.x, case.y, eps=0.25)
    got = attacks.fgsm(case.model, case.x, case.y, eps=np.float32(0.25))
    assert torch.equal(got, expected)


# --- exact oracles on linear models ----------------------------------------------------------


def _margins(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    with torch.no_grad():
        z = model(x)
    rows = torch.arange(len(y))
    return z[rows, y] - z[rows, 1 - y]


@pytest.mark.parametrize("weight_scale", [1.0, 40.0])
@pytest.mark.parametrize("eps", [0.05, 0.3, 1.0])
def test_fgsm_is_the_closed_form_optimum_on_a_linear_model(eps, weight_scale):
    """z_y − z_o moves by exactly −ε‖w_y − w_o‖₁: the best any L∞ step of size ε can do.

    weight_scale = 40 makes most margins > 17, where float32 softmax rounds p_y to exactly 1 and
    cross-entropy's gradient loses its true-class term (and vanishes past a margin of ~100).
    """
    model = binary_linear()
    with torch.no_grad():
        model.linear.weight.mul_(weight_scale)
        model.linear.bias.mul_(weight_scale)
    x = points(64, seed=3)
    y = labels_of(model, x)
    w = model.linear.weight.detach()
    l1 = (w[0] - w[1]).abs().sum()
    before = _margins(model, x, y)
    x_adv = attacks.fgsm(model, x, y, eps=eps, bounds=None)
    after = _margins(model, x_adv, y)
    torch.testing.assert_close(after, before - eps * l1, rtol=1e-5, atol=1e-4 * weight_scale)


def test_smallest_flipping_eps_of_fgsm_is_margin_over_l1_norm(linear_case):
    case = linear_case
    w = case.model.linear.weight.detach()
    exact = _margins(case.model, case.x, case.y) / (w[0] - w[1]).abs().sum()
    found = smallest_flipping_eps(case.model, case.x, case.y, attack="fgsm", eps_max=3.0,
                                  tol=1e-4, bounds=None)
    reachable = exact < 3.0
    torch.testing.assert_close(found[reachable], exact[reachable], rtol=0, atol=2e-4)
    assert torch.isinf(found[~reachable]).all()


@pytest.mark.parametrize("norm, dual", [("l2", 2), ("linf", 1)])
@pytest.mark.parametrize("overshoot", [0.0, 0.02])
def test_deepfool_steps_exactly_to_a_linear_boundary(norm, dual, overshoot, linear_case):
    """On a binary linear model one DeepFool step is the closed-form projection onto the
    hyperplane: ‖δ‖ = |f| / ‖w‖_dual (times 1 + overshoot), along w (L2) or sign(w) (L∞)."""
    case = linear_case
    w = case.model.linear.weight.detach()
    w_diff = w[0] - w[1]
    margin = _margins(case.model, case.x, case.y)
    x_adv = attacks.deepfool(case.model, case.x, case.y, overshoot=overshoot, norm=norm,
                             bounds=None)
    delta = x_adv - case.x
    distance = margin / w_diff.norm(p=dual)
    torch.testing.assert_close(norm_of(delta, norm), (1 + overshoot) * distance, rtol=1e-4,
                               atol=2e-4)
    direction = torch.where(case.y == 0, -1.0, 1.0)[:, None] * w_diff
    if norm == "linf":
        direction = direction.sign()
    cos = torch.nn.functional.cosine_similarity(delta, direction.expand_as(delta), dim=1)
    torch.testing.assert_close(cos, torch.ones_like(cos))
    assert (labels_of(case.model, x_adv) != case.y).all()


def test_cw_finds_a_near_minimal_l2_perturbation_on_a_linear_model(linear_case):
    case = linear_case
    w = case.model.linear.weight.detach()
    distance = _margins(case.model, case.x, case.y) / (w[0] - w[1]).norm()
    x_adv = attacks.cw_l2(case.model, case.x, case.y, steps=200, lr=0.05, bounds=None)
    found = (x_adv - case.x).norm(dim=1)
    assert (labels_of(case.model, x_adv) != case.y).all()
    assert (found >= distance - 1e-4).all()
    assert (found <= distance * 1.05 + 0.02).all()


# --- helpers: trajectory, epsilon_sweep, determinism, chunking, threads ----------------------


@pytest.mark.parametrize("name", NAMES)
def test_trajectory_frames_end_at_the_attack_output(name, cnn_case, monkeypatch):
    # Chunks of 5 inputs: the frames must not depend on how the batch is split.
    monkeypatch.setattr(geometry, "CHUNK_VALUES", 5 * 64)
    spec, case = ATTACKS[name], cnn_case
    eps, steps = radius(spec, case), 4
    frames = trajectory(case.model, case.x, case.y, attack=name, eps=eps, steps=steps, seed=7)
    assert frames.shape == (steps + 1, *case.x.shape)
    assert torch.equal(frames[0], case.x)
    final = spec(case.model, case.x, case.y, eps=eps, steps=steps, seed=7)
    torch.testing.assert_close(frames[-1], final, rtol=0, atol=TOL)
    assert (norm_of((frames - case.x).flatten(0, 1), spec.norm) <= eps * (1 + TOL) + TOL).all()


def test_trajectory_at_zero_eps_repeats_the_input(cnn_case):
    case = cnn_case
    frames = trajectory(case.model, case.x, case.y, attack="pgd", eps=0.0, steps=3)
    assert frames.shape == (4, *case.x.shape)
    assert (frames == case.x).all()


def test_trajectory_validates_its_arguments(cnn_case):
    case = cnn_case
    with pytest.raises(ValueError, match="eps must"):
        trajectory(case.model, case.x, case.y, eps=-1.0)
    with pytest.raises(ValueError, match="steps must"):
        trajectory(case.model, case.x, case.y, eps=0.1, steps=0)
    with pytest.raises(ValueError, match="no targeted mode"):
        trajectory(case.model, case.x, case.y, attack="deepfool", eps=0.1, targeted=True)


@pytest.mark.parametrize("targeted", [False, True])
def test_epsilon_sweep_shapes_and_success_flags(targeted, cnn_case):
    case = cnn_case
    y = (case.y + 1) % 10 if targeted else case.y
    epsilons = [0.0, 0.05, 0.2]
    sweep = epsilon_sweep(case.model, case.x, y, attack="pgd", epsilons=epsilons, steps=5,
                          targeted=targeted, seed=3)
    n = len(y)
    assert sweep.epsilons.tolist() == pytest.approx(epsilons)
    assert sweep.adversarial.shape == (3, *case.x.shape)
    assert sweep.success.shape == sweep.predictions.shape == (3, n)
    assert sweep.success.dtype == torch.bool and sweep.predictions.dtype == torch.int64
    for i, eps in enumerate(epsilons):
        x_adv = attacks.pgd(case.model, case.x, y, eps=eps, steps=5, targeted=targeted,
                            generator=torch.Generator().manual_seed(3))
        assert torch.equal(sweep.adversarial[i], x_adv)
        pred = labels_of(case.model, x_adv)
        assert torch.equal(sweep.predictions[i], pred)
        assert torch.equal(sweep.success[i], pred == y if targeted else pred != y)
    assert not sweep.success[0].any()  # the model is right on every clean input


def test_epsilon_sweep_refuses_empty_or_negative_epsilons(cnn_case):
    case = cnn_case
    with pytest.raises(ValueError, match="must not be empty"):
        epsilon_sweep(case.model, case.x, case.y, epsilons=[])
    with pytest.raises(ValueError, match="eps must"):
        epsilon_sweep(case.model, case.x, case.y, epsilons=[0.1, -0.1])


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_same_seed_same_pgd_output(norm, cnn_case):
    case = cnn_case

    def run(seed: int) -> Tensor:
        return attacks.pgd(case.model, case.x, case.y, eps=0.1, steps=3, norm=norm,
                           generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))


@pytest.mark.parametrize("name", NAMES)
def test_results_do_not_depend_on_chunk_size(name, cnn_case, monkeypatch):
    spec, case = ATTACKS[name], cnn_case
    whole = spec(case.model, case.x, case.y, eps=radius(spec, case), steps=3, seed=5,
                 **budget(spec))
    monkeypatch.setattr(geometry, "CHUNK_VALUES", 7 * 64)
    split = spec(case.model, case.x, case.y, eps=radius(spec, case), steps=3, seed=5,
                 **budget(spec))
    torch.testing.assert_close(split, whole, rtol=0, atol=TOL)


def test_per_input_eps_matches_separate_calls(cnn_case, monkeypatch):
    monkeypatch.setattr(geometry, "CHUNK_VALUES", 5 * 64)
    case = cnn_case
    eps = torch.linspace(0.0, 0.2, len(case.y))
    together = attacks.fgsm(case.model, case.x, case.y, eps=eps)
    for i in (0, 7, len(case.y) - 1):
        alone = attacks.fgsm(case.model, case.x[i : i + 1], case.y[i : i + 1], eps=float(eps[i]))
        torch.testing.assert_close(together[i : i + 1], alone, rtol=0, atol=TOL)
    assert (norm_of(together - case.x, "linf") <= eps + TOL).all()


@pytest.mark.parametrize("name", ["fgsm", "pgd", "deepfool"])
def test_concurrent_attacks_on_one_shared_model_match_serial_runs(name, cnn_case):
    """Cached models serve many browser sessions at once: no shared mutable state."""
    case = cnn_case
    model = TinyCNN().eval()  # parameters require grad: .grad must stay None under threads
    model.load_state_dict(case.model.state_dict())
    seeds = list(range(8))

    def run(seed: int) -> Tensor:
        return ATTACKS[name](model, case.x, case.y, eps=0.1, steps=5, seed=seed)

    serial = [run(s) for s in seeds]
    barrier = threading.Barrier(4)

    def threaded(seed: int) -> Tensor:
        if seed < 4:
            barrier.wait(timeout=10)
        return run(seed)

    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(threaded, seeds))
    for a, b in zip(serial, parallel, strict=True):
        assert torch.equal(a, b)
    assert all(p.grad is None for p in model.parameters())


MINIMAL = [name for name, spec in ATTACKS.items() if spec.minimal]


@pytest.mark.parametrize("name", MINIMAL)
@pytest.mark.parametrize("case_name", ["mlp", "cnn"])
def test_a_minimal_attack_succeeds_on_nearly_every_input(name, case_name, request):
    """With an ε that does not bind, a minimal attack (DeepFool, C&W, HopSkipJump) looks for the
    boundary until it crosses it: it must fool at least 95% of the inputs of a small model
    (with its defaults: C&W's tanh start must let pixels at the box edges move)."""
    case = request.getfixturevalue(f"{case_name}_case")
    spec = ATTACKS[name]
    x_adv = spec(case.model, case.x, case.y, eps=1e3, steps=100, bounds=case.bounds)
    assert float((labels_of(case.model, x_adv) != case.y).float().mean()) >= 0.95


def test_cw_moves_pixels_that_sit_on_the_box_edges():
    """A digit-like input whose pixels are all exactly 0 or 1, and a model that only looks at
    them: C&W must reach the boundary, which needs those very pixels to move."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    x = (torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(2)) > 0.7).float()
    y = labels_of(model, x)
    x_adv = attacks.cw_l2(model, x, y)
    assert (labels_of(model, x_adv) != y).all()
    t = (y + 1) % 10
    x_t = attacks.cw_l2(model, x, t, targeted=True)
    assert float((labels_of(model, x_t) == t).float().mean()) >= 0.9


def test_attack_spec_is_built_with_keywords_only():
    spec = ATTACKS["fgsm"]
    with pytest.raises(TypeError):
        AttackSpec("x", "X", "linf", False, True, False, "p", spec.plan)  # type: ignore[misc]
