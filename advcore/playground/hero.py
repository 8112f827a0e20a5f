"""The home page's hero, a targeted attack on one test digit, cached on disk.

Computing it means importing torch (~2 s) and running the attack (~1-3 s on one core); both
dominate a cold start. The result is five small arrays, so it is kept as a .npz (no pickle) in
advcore.data.cache_dir(), keyed by the SHA-256 of everything it is derived from: the weight
file's bytes, the digit's pixels and label, the scene's parameters, the source files of the
code that computes it, torch's version and HERO_VERSION. `cached` reads it with numpy alone
(this module imports torch only to compute); `hero` computes and writes it atomically when it
is missing, and a file that is unreadable, of the wrong shape or made for other inputs is
ignored and rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import tempfile
import threading
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advcore import _paths, data

HERO_VERSION = 1  # bump when what the hero computes changes meaning
_LOG = logging.getLogger(__name__)
_ADVCORE = Path(__file__).resolve().parent.parent
# The code the arrays come from: a change to any of these files makes a new key.
_SOURCES = ("playground/hero.py", "playground/digits.py", "playground/state.py", "models.py",
            "data.py", "attacks")
_ARRAYS = ("clean", "perturbation", "adversarial", "probs_clean", "probs_adv")
_LOCK = threading.Lock()  # one computation per process; a second session waits, then reads
# This process's own results, so that a cache folder it cannot write costs one computation, and
# the keys it failed to write (warned about once, not on every visit).
_COMPUTED: dict[str, Hero] = {}
_UNWRITABLE: set[str] = set()


@dataclass(frozen=True)
class Hero:
    """The hero's picture: clean, perturbation, adversarial (28, 28) float32 and probs_clean,
    probs_adv (10,) float32, with the attack's label and norm ("PGD (L∞)", "linf") for the
    caption, so that drawing it needs neither torch nor the attack registry."""

    clean: np.ndarray
    perturbation: np.ndarray
    adversarial: np.ndarray
    probs_clean: np.ndarray
    probs_adv: np.ndarray
    attack_label: str
    norm: str

    @property
    def pred_clean(self) -> int:
        return int(self.probs_clean.argmax())

    @property
    def pred_adv(self) -> int:
        return int(self.probs_adv.argmax())


def _source_digest() -> str:
    h = hashlib.sha256()
    for name in _SOURCES:
        path = _ADVCORE / name
        for f in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            h.update(f.relative_to(_ADVCORE).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _torch_version() -> str:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - torch is required
        return "?"


def _inputs(params: Mapping[str, str]) -> tuple[np.ndarray, int]:
    x, y = data.mnist_arrays("test")
    index = int(params["index"])
    return x[index : index + 1], int(y[index])


def cache_key(params: Mapping[str, str]) -> str:
    """The SHA-256 (hex) of everything the hero is derived from. Raises FileNotFoundError if the
    model's weight file is missing, data.MNISTFormatError if the digits cannot be read."""
    digit, label = _inputs(params)
    h = hashlib.sha256()
    h.update(f"hero v{HERO_VERSION}\0torch {_torch_version()}\0".encode())
    h.update(json.dumps(dict(params), sort_keys=True).encode() + b"\0")
    h.update(_paths.ASSETS.joinpath(f"{params['model']}.safetensors").read_bytes() + b"\0")
    h.update(f"label {label}\0".encode() + np.ascontiguousarray(digit).tobytes())
    h.update(_source_digest().encode())
    return h.hexdigest()


def _path(key: str) -> Path:
    return data.cache_dir() / f"hero-v{HERO_VERSION}-{key[:32]}.npz"


def cache_path(params: Mapping[str, str]) -> Path:
    """The file the hero of `params` is cached in."""
    return _path(cache_key(params))


def _read(path: Path, key: str) -> Hero | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["key"]) != key:
                raise ValueError("made for other inputs")
            arrays = {k: np.array(f[k], dtype=np.float32) for k in _ARRAYS}
            label, norm = str(f["attack_label"]), str(f["norm"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        _LOG.warning("hero cache %s is unusable (%s); rebuilding it", path, exc)
        return None
    shapes = [arrays[k].shape for k in _ARRAYS]
    if (shapes != [(28, 28)] * 3 + [(10,)] * 2 or norm not in ("linf", "l2")
            or not all(np.isfinite(a).all() for a in arrays.values())):
        _LOG.warning("hero cache %s has unexpected contents; rebuilding it", path)
        return None
    return Hero(**arrays, attack_label=label, norm=norm)


def cached(params: Mapping[str, str]) -> Hero | None:
    """The hero from its cache file, or None if there is none usable (numpy only, no torch).
    None too when the weight file is missing: `compute` then names the problem."""
    try:
        key = cache_key(params)
    except FileNotFoundError:
        return None
    return _read(_path(key), key)


def compute(params: Mapping[str, str]) -> Hero:
    """The hero computed now (imports torch): advcore.playground.digits.attack_digit on the shipped model,
    with ε quantised to the /digits slider's step as that page does, so both show the same."""
    from advcore import models
    from advcore.attacks import ATTACKS
    from advcore.playground import digits, state

    spec = ATTACKS[params["attack"]]
    step = state.DigitsScene.EPS_RANGES[spec.norm][2]
    eps = round(round(float(params["eps"]) / step) * step, 6)
    target = None if params.get("target", "none") == "none" else int(params["target"])
    digit, label = _inputs(params)
    result = digits.attack_digit(models.pretrained(params["model"]), digit.copy(), label,
                                 attack=params["attack"], eps=eps, steps=int(params["steps"]),
                                 target=target)
    return Hero(*(np.asarray(getattr(result, k), dtype=np.float32) for k in _ARRAYS),
                attack_label=spec.label, norm=spec.norm)


def _write(path: Path, key: str, hero: Hero, *, warn: bool = True) -> None:
    """Atomically: a temporary file in the same folder, then os.replace (readers see the old
    file or the new one, never half of one)."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".hero-", suffix=".npz",
                                         delete=False) as f:
            tmp = Path(f.name)
            np.savez(f, key=np.array(key), attack_label=np.array(hero.attack_label),
                     norm=np.array(hero.norm), **{k: getattr(hero, k) for k in _ARRAYS})
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home still gets the hero, just not the speed-up
        if warn:
            _LOG.warning("cannot write the hero cache %s (%s)", path, exc)
        _UNWRITABLE.add(key)
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def hero(params: Mapping[str, str]) -> tuple[Hero, bool]:
    """(the hero, whether it came from the cache). Computed and written on a miss; two
    sessions missing at once compute it once. Raises models.AssetError if the weights are
    missing or corrupt."""
    found = cached(params)
    if found is not None:
        return found, True
    with _LOCK:
        key = cache_key(params)
        found = _read(_path(key), key)
        if found is not None:
            return found, True
        result = _COMPUTED.get(key)
        if result is None:
            result = _COMPUTED[key] = compute(params)
        _write(_path(key), key, result, warn=key not in _UNWRITABLE)
        return result, False
