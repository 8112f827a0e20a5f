"""advcore.preprocess: drawn and uploaded pictures become MNIST-like digits, bad files a clear error.

Every picture is built here with Pillow/numpy; nothing is read from disk.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from advcore import preprocess as P


def png(img: Image.Image, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kwargs)
    return buf.getvalue()


def jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def seven(size: int = 280, ink: str = "black", paper: str | None = "white",
          mode: str = "RGB", width: int = 22) -> Image.Image:
    """A hand-drawn-looking 7, off centre, as a canvas or a photo would give it."""
    img = Image.new(mode, (size, size), paper if paper is not None else (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    s = size / 280
    draw.line([(60 * s, 50 * s), (200 * s, 50 * s), (110 * s, 240 * s)], fill=ink,
              width=round(width * s), joint="curve")
    return img


@pytest.fixture(scope="module")
def mnist_test_digits() -> np.ndarray:
    from advcore.data import mnist

    return mnist("test")[0].numpy()


@pytest.fixture(scope="module")
def mnist_test_labels() -> np.ndarray:
    from advcore.data import mnist

    return mnist("test")[1].numpy()


def centre_of_mass(d: np.ndarray) -> tuple[float, float]:
    a = d.reshape(28, 28).astype(np.float64)
    yy, xx = np.indices(a.shape)
    return float((yy * a).sum() / a.sum()), float((xx * a).sum() / a.sum())


def bbox(d: np.ndarray) -> tuple[int, int]:
    a = d.reshape(28, 28) > 0.05
    rows, cols = np.flatnonzero(a.any(1)), np.flatnonzero(a.any(0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def check_digit(d: np.ndarray) -> None:
    assert d.shape == (1, 1, 28, 28)
    assert d.dtype == np.float32
    assert d.min() >= 0.0 and d.max() <= 1.0
    assert d.max() == pytest.approx(1.0)
    assert max(bbox(d)) in (19, 20, 21)  # scaled to fit 20 px (anti-aliasing may add one)
    cy, cx = centre_of_mass(d)
    assert abs(cy - 14) < 1.0 and abs(cx - 14) < 1.0  # centred by mass, as MNIST


# --- good pictures ----------------------------------------------------------------------------


def test_dark_on_light_png_becomes_an_mnist_like_digit() -> None:
    d = P.digit_from_bytes(png(seven()))
    check_digit(d)
    # Ink is bright: the 7's top bar is in the upper part of the frame.
    assert d[0, 0, :10].sum() > d[0, 0, 18:].sum()


def test_light_on_dark_gives_the_same_digit_as_dark_on_light() -> None:
    dark = P.digit_from_bytes(png(seven(ink="black", paper="white")))
    light = P.digit_from_bytes(png(seven(ink="white", paper="black")))
    np.testing.assert_allclose(dark, light, atol=1e-5)


def test_jpeg_and_grey_and_16_bit_pictures_decode() -> None:
    ref = P.digit_from_bytes(png(seven()))
    assert np.abs(P.digit_from_bytes(jpeg(seven())) - ref).mean() < 0.03
    check_digit(P.digit_from_bytes(png(seven(mode="L", ink=0, paper=255))))
    wide = np.asarray(seven(mode="L", ink=255, paper=0), dtype=np.uint16) * 257
    check_digit(P.digit_from_bytes(png(Image.fromarray(wide))))


@pytest.mark.parametrize("ink", ["black", "white"])
def test_strokes_on_a_transparent_background(ink: str) -> None:
    img = seven(mode="RGBA", ink=ink, paper=None)
    d = P.digit_from_bytes(png(img))
    check_digit(d)
    np.testing.assert_allclose(d, P.digit_from_bytes(png(seven())), atol=0.05)


def test_a_large_photo_is_shrunk_and_still_framed() -> None:
    check_digit(P.digit_from_bytes(jpeg(seven(size=2000))))


def test_canvas_rgba_array_becomes_the_same_digit_as_the_png() -> None:
    rgba = np.asarray(seven(mode="RGBA", paper="white"))
    d = P.digit_from_canvas(rgba)
    check_digit(d)
    np.testing.assert_allclose(d, P.digit_from_bytes(png(seven())), atol=1e-5)


def test_transparent_canvas_with_strokes_works() -> None:
    check_digit(P.digit_from_canvas(np.asarray(seven(mode="RGBA", paper=None))))


def test_mnist_digits_survive_the_round_trip_through_a_canvas(mnist_test_digits) -> None:
    """A test digit drawn large on a white canvas comes back as (nearly) itself."""
    x = mnist_test_digits[:40]
    errors = []
    for digit in x:
        big = Image.fromarray(((1 - digit[0]) * 255).astype(np.uint8)).resize(
            (280, 280), Image.Resampling.BICUBIC)
        back = P.digit_from_canvas(np.asarray(big.convert("RGBA")))
        errors.append(np.abs(back[0, 0] - digit[0]).mean())
    assert np.mean(errors) < 0.04


def test_drawn_digits_are_recognised_like_test_digits(mnist_test_digits, mnist_test_labels) -> None:
    """The model gets re-drawn test digits right about as often as the originals."""
    import torch

    from advcore import models

    try:
        model = models.pretrained("mnist-cnn")
    except models.AssetError as exc:
        pytest.skip(f"mnist-cnn weights unavailable: {exc}")
    x, y = mnist_test_digits[:100], mnist_test_labels[:100]
    redrawn = []
    for digit in x:
        big = Image.fromarray(((1 - digit[0]) * 255).astype(np.uint8)).resize(
            (280, 280), Image.Resampling.BICUBIC)
        redrawn.append(P.digit_from_canvas(np.asarray(big.convert("RGBA"))))
    with torch.no_grad():
        acc_orig = (model(torch.from_numpy(x)).argmax(1).numpy() == y).mean()
        acc_drawn = (model(torch.from_numpy(np.concatenate(redrawn))).argmax(1).numpy() == y).mean()
    assert acc_drawn >= acc_orig - 0.04


# --- bad pictures: each a specific DigitImageError with a message for the visitor ---------------


def apng() -> bytes:
    frames = [seven(), seven(ink="red")]
    return png(frames[0], save_all=True, append_images=frames[1:], duration=100)


def gif() -> bytes:
    frames = [seven().convert("P"), seven(ink="white", paper="black").convert("P")]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    return buf.getvalue()


def png_header_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width×height: what a decompression bomb looks like."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1) * 4)  # a few rows; the rest never decodes
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


def real_bomb() -> bytes:
    """100 megapixels of 1-bit zeros: about 30 kB on disk, above Pillow's own bomb limit."""
    return png(Image.new("1", (10_000, 10_000)))


BAD_FILES = {
    "not an image": (lambda: b"%PDF-1.4 this is not a picture at all", P.NotAnImageError),
    "empty file": (lambda: b"", P.NotAnImageError),
    "text renamed .png": (lambda: b"7" * 100, P.NotAnImageError),
    "truncated png": (lambda: png(seven())[:300], P.TruncatedImageError),
    "truncated jpeg": (lambda: jpeg(seven())[:600], P.TruncatedImageError),
    "animated png": (apng, P.AnimatedImageError),
    "animated gif": (gif, P.AnimatedImageError),
    "huge image header": (lambda: png_header_claiming(30_000, 30_000), P.ImageTooLargeError),
    "decompression bomb": (real_bomb, P.ImageTooLargeError),
    "too many bytes": (lambda: b"\x89PNG" + b"\0" * (P.MAX_BYTES + 1), P.ImageTooLargeError),
    "1x1 image": (lambda: png(Image.new("L", (1, 1), 0)), P.ImageTooSmallError),
    "fully transparent png": (lambda: png(Image.new("RGBA", (64, 64), (0, 0, 0, 0))),
                              P.TransparentImageError),
    "blank white png": (lambda: png(Image.new("RGB", (64, 64), "white")), P.BlankImageError),
    "faint noise only": (
        lambda: png(Image.fromarray(
            (250 + np.random.default_rng(0).integers(0, 5, (64, 64))).astype(np.uint8))),
        P.BlankImageError),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_files_raise_a_specific_error_with_a_clear_message(name: str) -> None:
    make, error = BAD_FILES[name]
    with pytest.raises(error) as info:
        P.digit_from_bytes(make())
    assert isinstance(info.value, P.DigitImageError)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert len(message) > 20 and message[0].isupper()
    assert "Traceback" not in message


def test_decompression_bomb_leaves_pillows_global_limit_alone() -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(P.ImageTooLargeError):
        P.digit_from_bytes(real_bomb())
    assert before == Image.MAX_IMAGE_PIXELS


@pytest.mark.parametrize("canvas", [
    None,
    np.full((280, 280, 4), 255, dtype=np.uint8),  # white, opaque, nothing drawn
    np.zeros((280, 280, 4), dtype=np.uint8),  # transparent, nothing drawn
    np.dstack([np.full((280, 280, 3), 255, np.uint8),
               np.full((280, 280, 1), 255, np.uint8)]).astype(np.float32) / 255,
])
def test_empty_canvas_says_draw_a_digit(canvas: np.ndarray | None) -> None:
    with pytest.raises(P.EmptyCanvasError, match="draw a digit"):
        P.digit_from_canvas(canvas)


def test_a_canvas_that_is_not_an_image_is_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        P.digit_from_canvas(np.zeros((280, 280)))
    with pytest.raises(P.ImageTooSmallError):
        P.digit_from_canvas(np.zeros((1, 1, 4), dtype=np.uint8))


# --- downloads ---------------------------------------------------------------------------------


def test_npy_download_is_the_exact_tensor_and_png_is_28x28() -> None:
    d = P.digit_from_bytes(png(seven()))
    d = np.clip(d + np.float32(1e-4), 0, 1)  # a value 8 bits cannot hold
    back = np.load(io.BytesIO(P.digit_to_npy(d)), allow_pickle=False)
    assert back.dtype == np.float32 and back.shape == (1, 1, 28, 28)
    np.testing.assert_array_equal(back, d)
    img = Image.open(io.BytesIO(P.digit_to_png(d)))
    assert img.size == (28, 28) and img.mode == "L"
    assert np.abs(np.asarray(img) / 255.0 - d[0, 0]).max() <= 0.5 / 255 + 1e-6
    assert Image.open(io.BytesIO(P.digit_to_png(d, scale=4))).size == (112, 112)


# --- canvas data URLs: what the browser sends, checked before decoding ------------------------


def data_url(data: bytes, mime: str = "image/png") -> str:
    import base64

    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def test_canvas_data_url_becomes_the_same_digit_as_its_pixels() -> None:
    img = seven(mode="RGBA")
    np.testing.assert_allclose(P.digit_from_canvas_url(data_url(png(img))),
                               P.digit_from_canvas(np.asarray(img)), atol=1e-6)


@pytest.mark.parametrize("url", [None, ""])
def test_no_canvas_data_is_an_empty_canvas(url: str | None) -> None:
    with pytest.raises(P.EmptyCanvasError, match="draw a digit"):
        P.digit_from_canvas_url(url)


def test_a_blank_canvas_png_says_draw_a_digit() -> None:
    with pytest.raises(P.EmptyCanvasError, match="draw a digit"):
        P.digit_from_canvas_url(data_url(png(Image.new("RGBA", (280, 280), "white"))))


@pytest.mark.parametrize("fmt", ["TIFF", "BMP", "JPEG", "GIF", "WEBP", "ICO", "PPM"])
@pytest.mark.parametrize("honest_mime", [True, False])
def test_only_png_is_accepted_from_a_canvas(fmt: str, honest_mime: bool) -> None:
    """A canvas sends PNG; anything else is refused unparsed, under its own or a PNG label."""
    buf = io.BytesIO()
    seven(mode="RGB").save(buf, format=fmt)
    mime = f"image/{fmt.lower()}" if honest_mime else "image/png"
    with pytest.raises(P.CanvasDataError, match="PNG"):
        P.digit_from_canvas_url(data_url(buf.getvalue(), mime))


@pytest.mark.parametrize("encoded", [
    "iVBORw0KGgo",  # "Incorrect padding" from a lenient decoder
    "iVBORw0KGgo!!!!",
    "iVBOR w0KG go=",
    "%%%%",
])
def test_bad_base64_gives_a_plain_message(encoded: str) -> None:
    with pytest.raises(P.CanvasDataError, match="not valid base64") as info:
        P.digit_from_canvas_url(P.CANVAS_PREFIX + encoded)
    assert "padding" not in str(info.value).lower()


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html;base64,PGI+",
                                 "data:image/png,rawbytes", "http://e.vil/x.png"])
def test_other_urls_are_not_a_drawing(url: str) -> None:
    with pytest.raises(P.CanvasDataError, match="PNG"):
        P.digit_from_canvas_url(url)


@pytest.mark.parametrize("side", [6000, 20000])
def test_huge_canvas_is_refused_from_its_header_without_decoding(
        side: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The crafted 6000-px canvas once took the server to 3.2 GB, and a 20000-px one raised on
    the page. The header's size is enough to refuse it: no pixel is decoded."""
    from PIL import PngImagePlugin

    header = png_header_claiming(side, side)

    def no_decoding(self: object) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decoding)
    with pytest.raises(P.ImageTooLargeError, match=f"{side}×{side}|enormous"):
        P.digit_from_canvas_url(data_url(header))


def test_oversized_canvas_data_is_refused_before_base64_decoding() -> None:
    with pytest.raises(P.ImageTooLargeError, match="MB"):
        P.digit_from_canvas_url(P.CANVAS_PREFIX + "A" * (P.MAX_CANVAS_BYTES * 2))


def test_largest_accepted_canvas_still_works() -> None:
    img = seven(size=P.MAX_CANVAS_SIDE, mode="RGBA")
    digit = P.digit_from_canvas_url(data_url(png(img)))
    np.testing.assert_allclose(digit, P.digit_from_canvas(np.asarray(seven(mode="RGBA"))),
                               atol=0.2)


def test_an_animated_png_canvas_is_refused() -> None:
    frames = [seven(mode="RGBA"), Image.new("RGBA", (280, 280), "white")]
    buf = io.BytesIO()
    frames[0].save(buf, format="PNG", save_all=True, append_images=frames[1:])
    with pytest.raises(P.AnimatedImageError):
        P.digit_from_canvas_url(data_url(buf.getvalue()))


def test_a_canvas_array_over_the_side_limit_is_refused() -> None:
    with pytest.raises(P.ImageTooLargeError):
        P.digit_from_canvas(np.zeros((10, P.MAX_CANVAS_SIDE + 1, 4), dtype=np.uint8))
