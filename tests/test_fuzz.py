"""Bad input, tried systematically: whatever a visitor (or an operator) sends, a clear message and
never a traceback.

- Query parameters of every page, fuzzed with hypothesis: junk text, non-finite and out-of-range
  numbers, repeated keys, unknown keys. At most warnings, never an exception or an error.
- Uploads, at the decoder (`preprocess.digit_from_bytes`): non-images, 50 MB of random bytes, a
  decompression bomb, 1×1 and 10000×10000 pictures, damaged files. Each is a `DigitImageError`
  whose message the page shows as is, or a valid digit.
- Extreme slider values through AppTest.
- Missing and corrupt weight files, and a bad ADVPLAY_MNIST_DIR: a clear error on the page.

Runs in about a minute on two busy cores: eight examples per page, and the fuzzed numbers stay at or below
their defaults (a URL's *largest* values cost real compute, so they are tried once, in the
extreme-value tests, not a dozen times).
"""

from __future__ import annotations

import io
import os
import resource
import shutil
from collections.abc import Iterator
from dataclasses import Field, fields
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from PIL import Image
from streamlit.testing.v1 import AppTest

from advcore import _paths, data, models, preprocess
from advcore.playground import state
from pages.catalog import PAGES

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 180

# Each page and the dataclass its URL is parsed into; home reads only `talk` (and is run through
# app.py: its links need st.navigation).
SCENE_OF = {
    "boundary": state.BoundaryScene,
    "digits": state.DigitsScene,
    "robustness": state.RobustnessScene,
    "how-it-works": state.HowScene,
    "masking": state.MaskingScene,
}
# Valid choices left out of the fuzz because they cost seconds of compute on every example, not
# because they misbehave (the page tests and the named scenes run them).
SLOW_CHOICES = {
    ("digits", "attack"): {"cw-l2", "deepfool", "square", "square-l2", "hsja"},
    ("boundary", "attack"): {"square", "square-l2", "hsja"},
    ("masking", "defence"): {"saturated", "noisy"},  # each report costs 5-20 CPU-s
    ("robustness", "attack"): {"pgd"},
    ("robustness", "toy_attack"): {"pgd"},
}

NASTY = [
    "", " ", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e309", "-1e309", "1e-320", "-0",
    "0x10", "1_000", "١٢", "½", "None", "null", "true", "[]", "{}", "0,5", "٫5", "1e", ".",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "**bold** [x](http://e.vil)",
    "'; DROP TABLE x; --", "../../etc/passwd", "%00", "\x00", "\u202e", "😈" * 40, "9" * 5000,
    "-" + "9" * 400,
]
junk = hs.one_of(
    hs.sampled_from(NASTY),
    hs.text(max_size=40),
    hs.integers(max_value=-1).map(str),  # below every range: clamped to the (cheap) minimum
    hs.floats(max_value=0.0).map(repr),
)


def _valid(page: str, f: Field) -> hs.SearchStrategy[str]:
    meta = f.metadata
    if "choices" in meta:
        return hs.sampled_from([c for c in meta["choices"]
                                if c not in SLOW_CHOICES.get((page, f.name), set())])
    if "flag" in meta:
        return hs.sampled_from(["0", "1", "yes", "on", "false"])
    return hs.sampled_from([str(meta["lo"]), str(f.default)])


def _params(page: str) -> hs.SearchStrategy[dict[str, str | list[str]]]:
    names = [f.name for f in fields(SCENE_OF[page])] if page in SCENE_OF else ["talk"]
    per_name = {f.name: hs.one_of(_valid(page, f), junk) for f in fields(SCENE_OF[page])} \
        if page in SCENE_OF else {"talk": junk}
    one = hs.sampled_from(names).flatmap(
        lambda n: hs.tuples(hs.just(n), hs.one_of(per_name[n], hs.lists(per_name[n], min_size=2,
                                                                          max_size=3))))
    stray = hs.tuples(hs.text(min_size=1, max_size=12), junk)  # names no page knows
    return hs.lists(hs.one_of(one, stray), max_size=6).map(dict)


def _app(page: str) -> AppTest:
    path = ROOT / ("app.py" if page == "home" else f"pages/{page}.py")
    return AppTest.from_file(str(path), default_timeout=TIMEOUT)


def _problems(at: AppTest) -> list[str]:
    return [f"exception: {e.value}" for e in at.exception] + [f"error: {e.value}"
                                                               for e in at.error]


@pytest.mark.parametrize("page", ["home", *(p.url_path for p in PAGES)])
def test_query_parameters_never_break_a_page(page: str) -> None:
    @settings(max_examples=8, deadline=None, derandomize=False, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(params=_params(page))
    def check(params: dict[str, str | list[str]]) -> None:
        at = _app(page)
        for name, value in params.items():
            at.query_params[name] = value
        at.run()
        assert not _problems(at), (params, _problems(at))
        for w in at.warning:  # every warning names the parameter it is about
            assert w.value.startswith(("URL parameter", "eps=")) or "has no targeted" in w.value

    check()


def test_a_warning_quotes_at_most_20_characters_of_what_was_sent() -> None:
    _, warnings = state.from_query(state.DigitsScene, {"model": "x" * 60, "eps": "9" * 5000})
    assert len(warnings) == 2
    assert all(len(w) < 200 for w in warnings)


# --- uploads, at the decoder ---------------------------------------------------------------------


def _png(array: np.ndarray, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", **kw)
    return buf.getvalue()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _digit_seven(side: int) -> np.ndarray:
    img = np.full((side, side), 255, np.uint8)
    s = side // 10
    img[2 * s:3 * s, 2 * s:8 * s] = 0
    for k in range(6 * s):
        x = 8 * s - k * 4 // 6
        img[3 * s + k, max(x - s, 0):x] = 0
    return img


def _bad_uploads() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    png = _png(_digit_seven(64))
    gif = io.BytesIO()
    frames = [Image.fromarray(_digit_seven(64)), Image.fromarray(255 - _digit_seven(64))]
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    return {
        "empty": b"",
        "text": b"just some text, not a picture\n" * 10,
        "pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n",
        "zip": b"PK\x03\x04" + bytes(rng.integers(0, 256, 500, dtype=np.uint8)),
        "svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "random-4k": bytes(rng.integers(0, 256, 4096, dtype=np.uint8)),
        "50MB-random": os.urandom(50 * 2**20),
        "png-truncated": png[: len(png) // 2],
        "png-signature-only": png[:8],
        "png-corrupt-middle": png[:60] + bytes(200) + png[260:],
        "jpeg-header-only": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
        "bmp": _bmp(),
        "animated-gif": gif.getvalue(),
        "1x1": _png(np.zeros((1, 1), np.uint8)),
        "bomb-10000x10000": _png(np.zeros((10_000, 10_000), np.uint8), optimize=True),
        "header-claims-65535x65535": _lying_png(65_535, 65_535),
        "blank-white": _png(np.full((64, 64), 255, np.uint8)),
        "transparent": _png(np.zeros((64, 64, 4), np.uint8)),
    }


def _bmp() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_digit_seven(64)).save(buf, format="BMP")
    return buf.getvalue()


def _lying_png(width: int, height: int) -> bytes:
    """A PNG whose header promises width×height pixels, with a tiny (wrong) data chunk."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def bad_uploads() -> dict[str, bytes]:
    return _bad_uploads()


def test_the_bomb_is_small_on_disk_and_huge_decoded(bad_uploads: dict[str, bytes]) -> None:
    bomb = bad_uploads["bomb-10000x10000"]
    assert len(bomb) < 200_000  # what a visitor uploads
    assert Image.open(io.BytesIO(bomb)).size == (10_000, 10_000)  # what it would become


@pytest.mark.parametrize("name", [
    "empty", "text", "pdf", "zip", "svg", "random-4k", "50MB-random", "png-truncated",
    "png-signature-only", "png-corrupt-middle", "jpeg-header-only", "bmp", "animated-gif", "1x1",
    "bomb-10000x10000", "header-claims-65535x65535", "blank-white", "transparent"])
def test_a_bad_upload_gets_a_clear_message(bad_uploads: dict[str, bytes], name: str) -> None:
    before = _peak_rss_mb()
    with pytest.raises(preprocess.DigitImageError) as err:
        preprocess.digit_from_bytes(bad_uploads[name])
    message = str(err.value)
    assert 15 < len(message) < 400, message
    assert "Traceback" not in message and "\n" not in message
    # Nothing was decoded at full size: a 10000×10000 RGBA float image would be 1.6 GB.
    assert _peak_rss_mb() - before < 400, name


def test_a_10000x10000_picture_is_refused_before_decoding() -> None:
    with pytest.raises(preprocess.ImageTooLargeError, match="10000×10000|decompression bomb"):
        preprocess.digit_from_bytes(_png(np.zeros((10_000, 10_000), np.uint8), optimize=True))


def test_a_large_real_photo_of_a_digit_still_works() -> None:
    digit = preprocess.digit_from_bytes(_png(_digit_seven(3000)))
    assert digit.shape == (1, 1, 28, 28) and digit.dtype == np.float32
    assert digit.min() >= 0.0 and digit.max() <= 1.0 and digit.max() > 0.5


@settings(max_examples=40, deadline=None, database=None)
@given(blob=hs.binary(max_size=2048))
def test_random_bytes_are_a_digit_or_a_clear_message(blob: bytes) -> None:
    _digit_or_message(blob)


@settings(max_examples=30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(h=hs.integers(1, 300), w=hs.integers(1, 300), mode=hs.sampled_from(["L", "RGB", "RGBA"]),
       seed=hs.integers(0, 2**16), fmt=hs.sampled_from(["PNG", "JPEG", "GIF", "WEBP"]),
       cut=hs.one_of(hs.none(), hs.floats(0.0, 1.0)))
def test_random_pictures_are_a_digit_or_a_clear_message(h: int, w: int, mode: str, seed: int,
                                                        fmt: str, cut: float | None) -> None:
    rng = np.random.default_rng(seed)
    channels = {"L": (), "RGB": (3,), "RGBA": (4,)}[mode]
    img = Image.fromarray(rng.integers(0, 256, (h, w, *channels), dtype=np.uint8), mode)
    if fmt == "JPEG" and mode == "RGBA":
        img = img.convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    blob = buf.getvalue()
    _digit_or_message(blob if cut is None else blob[: int(len(blob) * cut)])


def _digit_or_message(blob: bytes) -> None:
    try:
        digit = preprocess.digit_from_bytes(blob)
    except preprocess.DigitImageError as exc:
        assert str(exc)
        return
    assert digit.shape == (1, 1, 28, 28) and digit.dtype == np.float32
    assert np.isfinite(digit).all() and digit.min() >= 0.0 and digit.max() <= 1.0


# --- extreme slider values ----------------------------------------------------------------------


def _run(page: str, **params: str) -> AppTest:
    at = _app(page)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _extremes(at: AppTest, widget: str, key: str) -> Iterator[AppTest]:
    """The widget set to its maximum, then its minimum; yields the page after each run."""
    w = getattr(at, widget)(key=key)
    for value in (w.max, w.min):
        getattr(at, widget)(key=key).set_value(value)
        at.run()
        yield at


@pytest.mark.parametrize(("page", "params", "sliders"), [
    # Steps at 200 would also run the fragility bisection on both CNNs (~20 s): the URL test
    # below sets steps=200 instead.
    ("digits", {"model": "mnist-linear", "attack": "pgd"}, ["digits.eps.linf"]),
    ("boundary", {"attack": "pgd", "n": "100"},
     ["boundary.eps", "boundary.steps", "boundary.noise"]),
    ("boundary", {"model": "linear"}, ["boundary.n"]),
    ("how-it-works", {}, ["how.eps", "how.ball", "how.steps"]),
], ids=["digits", "boundary", "boundary-points", "how-it-works"])
def test_extreme_slider_values(page: str, params: dict[str, str], sliders: list[str]) -> None:
    at = _run(page, **params)
    assert not _problems(at)
    for key in sliders:
        for after in _extremes(at, "slider", key):
            assert not _problems(after), (key, at.slider(key=key).value, _problems(after))
            assert not after.warning, [w.value for w in after.warning]


def test_extreme_values_in_the_url_are_clamped_with_a_warning() -> None:
    at = _run("digits", model="mnist-linear", attack="fgsm", eps="1e308", steps="99999999",
              index="-99999999999999999999")
    assert not _problems(at)
    text = " ".join(w.value for w in at.warning)
    assert "eps" in text and "steps" in text and "index" in text
    assert at.slider(key="digits.eps.linf").value == 0.5
    assert at.slider(key="digits.steps").value == 200
    assert at.number_input(key="digits.index").value == 0


# --- missing and corrupt weights; a bad ADVPLAY_MNIST_DIR ------------------------------------------


def _clear_caches() -> None:
    models.pretrained.cache_clear()
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def broken_assets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of assets/ with mnist-cnn corrupt and mnist-linear's weights missing, used by
    every loader (models.pretrained binds its folder at import, so the loader is patched)."""
    assets = tmp_path / "assets"
    shutil.copytree(models.ASSETS, assets)
    weights = assets / "mnist-cnn.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    (assets / "mnist-linear.safetensors").unlink()
    monkeypatch.setattr(models, "ASSETS", assets)
    monkeypatch.setattr(_paths, "ASSETS", assets)  # what the torch-free hero cache reads
    monkeypatch.setattr(models, "load_pretrained", partial(models.load_pretrained, assets=assets))
    monkeypatch.setattr(models, "load_card", partial(models.load_card, assets=assets))
    _clear_caches()
    yield assets
    _clear_caches()


@pytest.mark.parametrize("content", [b"", b"\x00" * 64, b"not safetensors at all",
                                     b"\xff" * 8 + b"{}", None], ids=[
    "empty", "zeros", "text", "huge-header-length", "missing"])
def test_a_bad_weight_file_is_an_asset_error_naming_it(tmp_path: Path,
                                                       content: bytes | None) -> None:
    if content is not None:
        (tmp_path / "mnist-cnn.safetensors").write_bytes(content)
    with pytest.raises(models.AssetError) as err:
        models.load_pretrained("mnist-cnn", assets=tmp_path)
    assert "mnist-cnn.safetensors" in str(err.value)
    assert "python -m advcore.train" in str(err.value)


def test_weights_of_the_wrong_model_are_an_asset_error(tmp_path: Path) -> None:
    shutil.copy(models.weights_path("mnist-linear"), tmp_path / "mnist-cnn.safetensors")
    with pytest.raises(models.AssetError, match="does not fit mnist-cnn"):
        models.load_pretrained("mnist-cnn", assets=tmp_path)


@pytest.mark.parametrize("page", ["home", *(p.url_path for p in PAGES)])
def test_a_page_with_broken_weights_shows_a_clear_error(broken_assets: Path, page: str) -> None:
    params = {"digits": {"model": "mnist-cnn"}, "how-it-works": {"model": "mnist-cnn"},
              "robustness": {"section": "transfer", "n": "50"}}.get(page, {})
    at = _run(page, **params)
    assert not at.exception, [e.value for e in at.exception]
    if page != "boundary":  # the boundary page trains its own 2-D models: it needs no weights
        shown = " ".join(e.value for e in [*at.error, *at.warning])
        assert "mnist-cnn.safetensors" in shown or "mnist-linear.safetensors" in shown, shown


@pytest.fixture
def bad_mnist_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                  request: pytest.FixtureRequest) -> Iterator[Path]:
    folder = tmp_path / "mnist"
    if request.param == "garbage":
        folder.mkdir()
        for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
                     "train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
            (folder / name).write_bytes(b"\x00\x00\x08\x03" + b"\xff" * 12)
    elif request.param == "empty":
        folder.mkdir()
    monkeypatch.setenv(data.MNIST_ENV, str(folder))
    _clear_caches()
    yield folder
    monkeypatch.delenv(data.MNIST_ENV)
    _clear_caches()


@pytest.mark.parametrize("bad_mnist_dir", ["missing", "empty", "garbage"], indirect=True)
def test_a_bad_mnist_dir_is_a_clear_error(bad_mnist_dir: Path) -> None:
    with pytest.raises(data.MNISTFormatError, match=str(bad_mnist_dir)):
        data.mnist("test")


@pytest.mark.parametrize("bad_mnist_dir", ["missing", "garbage"], indirect=True)
def test_the_app_with_a_bad_mnist_dir_says_so(bad_mnist_dir: Path) -> None:
    """Through the entry point, as a visitor gets it: the folder that is wrong, no exception.

    Only the entry's own first page is run here: AppTest's switch_page runs a file of pages/
    directly (Streamlit's old pages-folder mode), without app.py around it.
    """
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(e.value for e in at.error)
    assert str(bad_mnist_dir) in shown and data.MNIST_ENV in shown, shown
