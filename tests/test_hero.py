"""The home page's hero cache (advcore.playground.hero): exactly the arrays a direct computation gives,
rebuilt when corrupt or made for other inputs, and read without importing torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from advcore import _paths
from advcore.playground import hero, scenes

ROOT = Path(__file__).resolve().parent.parent
PARAMS = scenes.get_scene("seven-to-three").params


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVPLAY_CACHE_DIR", str(tmp_path))
    hero._COMPUTED.clear()
    yield tmp_path
    hero._COMPUTED.clear()


@pytest.fixture(scope="module")
def direct():
    """The oracle: the scene's attack run here by hand, from mnist()'s tensors and the model."""
    from advcore import data, models
    from advcore.playground import digits

    x, y = data.mnist("test")
    i = int(PARAMS["index"])
    return digits.attack_digit(models.pretrained(PARAMS["model"]), x[i : i + 1].numpy(),
                               int(y[i]), attack=PARAMS["attack"], eps=float(PARAMS["eps"]),
                               steps=int(PARAMS["steps"]), target=int(PARAMS["target"]))


FIELDS = ("clean", "perturbation", "adversarial", "probs_clean", "probs_adv")


def _same(a, b) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in FIELDS)


def test_the_cache_round_trips_exactly_the_direct_computation(cache, direct):
    assert hero.cached(PARAMS) is None
    first, from_cache = hero.hero(PARAMS)
    assert not from_cache and _same(first, direct)
    (written,) = cache.glob("hero-*.npz")
    assert written == hero.cache_path(PARAMS)
    with np.load(written, allow_pickle=False) as f:  # plain arrays and strings, no pickle
        assert f["clean"].dtype == np.float32 and f["probs_adv"].shape == (10,)
    hero._COMPUTED.clear()
    again = hero.cached(PARAMS)
    assert again is not None and _same(again, direct)
    assert (again.attack_label, again.norm) == ("PGD (L∞)", "linf")
    assert (again.pred_clean, again.pred_adv) == (7, 3)
    assert hero.hero(PARAMS)[1] is True
    assert not list(cache.glob(".hero-*"))  # no temporary file left behind


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong key", "wrong shape"])
def test_a_corrupt_or_stale_cache_file_is_ignored_and_rebuilt(cache, direct, damage):
    hero.hero(PARAMS)
    path = hero.cache_path(PARAMS)
    good = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not an npz")
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    else:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        if damage == "wrong key":  # a file made for other weights, under this file's name
            arrays["key"] = np.array("0" * 64)
        else:
            arrays["clean"] = np.zeros((27, 28), np.float32)
        np.savez(path, **arrays)
    assert hero.cached(PARAMS) is None
    rebuilt, from_cache = hero.hero(PARAMS)
    assert not from_cache and _same(rebuilt, direct)
    again = hero.cached(PARAMS)
    assert again is not None and _same(again, direct)


def test_the_key_follows_the_weights_the_scene_and_the_code(cache, tmp_path, monkeypatch):
    key = hero.cache_key(PARAMS)
    assert hero.cache_key(dict(PARAMS)) == key  # deterministic, order-free
    assert hero.cache_key({**PARAMS, "eps": "0.2"}) != key
    assert hero.cache_key({**PARAMS, "index": "9"}) != key
    assets = tmp_path / "assets"
    shutil.copytree(_paths.ASSETS, assets, ignore=shutil.ignore_patterns("screenshots"))
    monkeypatch.setattr(_paths, "ASSETS", assets)
    assert hero.cache_key(PARAMS) == key  # the same bytes elsewhere: the same key
    weights = assets / f"{PARAMS['model']}.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-1] ^= 1
    weights.write_bytes(bytes(raw))
    assert hero.cache_key(PARAMS) != key
    monkeypatch.setattr(hero, "HERO_VERSION", hero.HERO_VERSION + 1)
    weights.write_bytes(bytes(raw[:-1]) + bytes([raw[-1] ^ 1]))
    assert hero.cache_key(PARAMS) != key
    weights.unlink()  # missing weights: no cached hero; the page then names the file
    assert hero.cached(PARAMS) is None


def test_an_unwritable_cache_folder_still_gives_the_hero_computed_once(tmp_path, monkeypatch,
                                                                       direct):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("ADVPLAY_CACHE_DIR", str(blocker / "cache"))
    hero._COMPUTED.clear()
    calls = []
    real = hero.compute
    monkeypatch.setattr(hero, "compute", lambda p: calls.append(1) or real(p))
    assert _same(hero.hero(PARAMS)[0], direct) and _same(hero.hero(PARAMS)[0], direct)
    assert len(calls) == 1
    hero._COMPUTED.clear()


def test_two_sessions_missing_at_once_compute_it_once(cache, monkeypatch, direct):
    calls, results = [], []
    real = hero.compute
    monkeypatch.setattr(hero, "compute", lambda p: calls.append(1) or real(p))
    threads = [threading.Thread(target=lambda: results.append(hero.hero(PARAMS)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and all(_same(r, direct) for r, _ in results)


# The home page through app.py in a fresh interpreter, its hero already cached: the page draws the
# cached hero, and nothing it imports imports torch (the warm-up thread is what loads torch, so
# the check runs at the moment the page starts it).
CHILD = """
import json, sys
from streamlit.testing.v1 import AppTest
import pages.warm as warm
seen = {}
warm._warm = lambda after: seen.setdefault("heavy", sorted(
    m for m in ("torch", "sklearn", "pages.ui", "advcore.attacks", "advcore.models")
    if m in sys.modules))
at = AppTest.from_file(sys.argv[1], default_timeout=240)
at.run()
warm._thread.join()
print(json.dumps({"heavy": seen["heavy"], "exception": [e.value for e in at.exception],
                  "captions": [c.value for c in at.caption],
                  "panels": sum("data-panels=" in e.proto.body for e in at.get("html"))}))
"""


def test_home_draws_a_cached_hero_without_importing_torch(cache):
    from advcore import data

    data._cached_split()  # the MNIST split's own cache, as a second start finds it
    hero.hero(PARAMS)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ADVPLAY_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT / "app.py")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["exception"] == [] and report["panels"] == 1
    assert any("(cached on first start)" in c and "the network said 7, now it says 3" in c
               for c in report["captions"])
    assert report["heavy"] == []


def test_the_warm_up_starts_once_and_loads_torch_and_the_models(monkeypatch):
    from pages import warm

    # This process may have warmed already (any earlier home page run does): start afresh.
    monkeypatch.setattr(warm, "_thread", None)

    threads, barrier = [], threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        threads.append(warm.start())

    callers = [threading.Thread(target=start) for _ in range(4)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert len({id(t) for t in threads}) == 1 and threads[0].daemon
    threads[0].join(timeout=300)
    assert not threads[0].is_alive()
    from advcore import models

    assert "pages.ui" in sys.modules
    assert models.pretrained.cache_info().currsize >= len(models.PRETRAINED)
