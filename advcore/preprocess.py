"""Turn a drawn canvas or an uploaded picture into an MNIST-like digit.

MNIST's own recipe (LeCun et al. 1998): the NIST digits were size-normalised to fit a 20×20 box,
keeping their aspect ratio (anti-aliasing makes grey levels), then placed in a 28×28 frame so that
their centre of mass sits at the centre. Ink is bright (1.0) on a dark (0.0) background. A digit
drawn in a browser or photographed on paper goes through the same steps here, so the models see
what they were trained on.

Everything a visitor can hand us is untrusted. Decoding is defensive: the size is checked from the
header before any pixel is decoded, animated and truncated files are refused, and every failure is
a `DigitImageError` (a ValueError) whose message can be shown on the page as is.
"""

from __future__ import annotations

import binascii
import io
import logging
import math
import warnings

import numpy as np
from PIL import Image, ImageOps

_LOG = logging.getLogger(__name__)
# Outputs: one digit, shape (1, 1, 28, 28), float32 in [0, 1], ink = 1.
FRAME = 28
BOX = 20

# Formats Pillow may even try to parse. GIF and WebP are decoded only so that an animated file is
# refused with the right message; static ones work too. Nothing else (EPS, PSD, ...) is parsed.
FORMATS = ("PNG", "JPEG", "GIF", "WEBP")
# How the accepted formats begin: a file that starts like one but fails to open is damaged.
SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF")
# A 12-megapixel phone photo of a digit on paper passes; a 20000×20000 "bomb" does not.
MAX_PIXELS = 4096 * 4096
MAX_BYTES = 20 * 1024 * 1024
MIN_SIDE = 8
# Pictures are shrunk to this side before the float maths: a digit needs no more.
WORK_SIDE = 512
# A pixel counts as ink when it is this far (on [0, 1]) from the background.
INK_THRESHOLD = 0.15
# What a drawing canvas sends: a PNG data URL of its backing store. The page's 280×280 canvas is
# at most 1120 px a side on a 4× display and a few tens of kB; these bounds are checked before a
# single pixel is decoded (a crafted 187 kB PNG of 6000×6000 RGBA once cost 3.2 GB).
CANVAS_PREFIX = "data:image/png;base64,"
MAX_CANVAS_SIDE = 2048
MAX_CANVAS_BYTES = 2 * 2**20


class DigitImageError(ValueError):
    """A picture cannot become a digit; `str(err)` is a message for the visitor."""


class NotAnImageError(DigitImageError):
    """The bytes are not a PNG or JPEG picture."""


class CanvasDataError(DigitImageError):
    """The drawing's data is not the PNG data URL a canvas sends (bad base64, another format)."""


class TruncatedImageError(DigitImageError):
    """The file ends early or its pixel data is damaged."""


class AnimatedImageError(DigitImageError):
    """The file holds more than one frame (animated PNG, GIF or WebP)."""


class ImageTooLargeError(DigitImageError):
    """The picture is too large to decode safely (or is a decompression bomb)."""


class ImageTooSmallError(DigitImageError):
    """The picture has too few pixels to hold a digit (for example 1×1)."""


class TransparentImageError(DigitImageError):
    """Every pixel is fully transparent: there is nothing to see."""


class BlankImageError(DigitImageError):
    """The picture has no strokes: one flat colour, or noise too faint to be ink."""


class EmptyCanvasError(BlankImageError):
    """Nothing has been drawn on the canvas yet."""


def _megapixels(n: int) -> str:
    return f"{n / 1e6:.1f} megapixels"


def _open(data: bytes, *, formats: tuple[str, ...] = FORMATS, max_bytes: int = MAX_BYTES,
          max_side: int | None = None) -> Image.Image:
    """Open `data` without decoding pixels; check format, size and frame count from the header.

    formats: the Pillow formats tried (nothing else is even parsed); max_bytes: the file size;
    max_side: the longest side allowed, besides the MAX_PIXELS area.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise NotAnImageError("The file is empty (0 bytes). Upload a PNG or JPEG picture.")
    if len(data) > max_bytes:
        raise ImageTooLargeError(
            f"The file is {len(data) / 2**20:.1f} MB; pictures up to {max_bytes / 2**20:g} MB "
            "are accepted. A digit needs only a few kilobytes."
        )
    try:
        with warnings.catch_warnings():
            # Pillow warns above Image.MAX_IMAGE_PIXELS and raises above twice that; both mean
            # "decompression bomb" here. The global limit is left alone (other code shares it).
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(bytes(data)), formats=formats)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(
            "The picture claims to be enormous (a decompression bomb?) and was not decoded. "
            f"Pictures up to {_megapixels(MAX_PIXELS)} are accepted."
        ) from exc
    except Exception as exc:  # a damaged header can raise almost anything; it is the visitor's file
        if bytes(data[:8]).startswith(SIGNATURES):
            raise TruncatedImageError(
                "The picture starts like a PNG/JPEG but is damaged or cut short, so it cannot "
                "be decoded. Save it again and re-upload it."
            ) from exc
        _LOG.info("picture refused: %r", exc)
        raise NotAnImageError("This file is not a PNG or JPEG picture.") from exc
    width, height = img.size
    if max_side is not None and max(width, height) > max_side:
        raise ImageTooLargeError(
            f"The picture is {width}×{height} pixels; at most {max_side} pixels a side are "
            "accepted here. A digit needs no more than a few hundred."
        )
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(
            f"The picture is {width}×{height} pixels ({_megapixels(width * height)}); the limit "
            f"is {_megapixels(MAX_PIXELS)}. Crop or shrink it: a digit needs no more than a few "
            "hundred pixels a side."
        )
    if min(width, height) < MIN_SIDE:
        raise ImageTooSmallError(
            f"The picture is only {width}×{height} pixels; a digit needs at least "
            f"{MIN_SIDE}×{MIN_SIDE}."
        )
    if getattr(img, "is_animated", False) or getattr(img, "n_frames", 1) > 1:
        raise AnimatedImageError(
            f"This is an animated {img.format} with {getattr(img, 'n_frames', '?')} frames. "
            "Upload a single still picture of one digit."
        )
    return img


def _reduce(img: Image.Image) -> Image.Image:
    """Box-average by a whole factor so the longer side is at most 2×WORK_SIDE, in the picture's
    own mode (8-bit stays 8-bit): no full-size float array is ever made."""
    factor = math.ceil(max(img.size) / (2 * WORK_SIDE))
    if factor <= 1:
        return img
    if img.mode not in ("L", "LA", "RGB", "RGBA", "I", "F"):
        img = img.convert("RGBA" if "A" in img.getbands() or "transparency" in img.info
                          else "RGB")
    return img.reduce(factor)


def _decode(img: Image.Image) -> np.ndarray:
    """Decode an opened picture into float32 RGBA (H, W, 4) in [0, 1], at most WORK_SIDE a side.

    The pixels are decoded once at full size in their own 8-bit (or 16-bit) mode, shrunk there,
    and only the small result becomes float.
    """
    try:
        if img.format == "JPEG":
            # JPEG can decode at 1/2, 1/4, 1/8 scale directly: cheap and enough for a digit.
            img.draft("RGB", (WORK_SIDE, WORK_SIDE))
        img.load()
        # Phone photos are often stored sideways. In place: a copy of a 16-megapixel RGBA
        # picture is 64 MB more at the peak (`python benchmarks/hostile.py decoder`).
        ImageOps.exif_transpose(img, in_place=True)
        if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
            img = img.convert("I")
        img = _reduce(img)
        if img.mode in ("I", "F"):
            grey = np.asarray(img, dtype=np.float32)
            top = float(grey.max())
            grey = grey / top if top > 0 else grey
            img = Image.fromarray((grey * 255).round().astype(np.uint8), mode="L")
        img = img.convert("RGBA")
        img.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)
    except (Image.DecompressionBombError, MemoryError) as exc:
        raise ImageTooLargeError("The picture is too large to decode safely.") from exc
    except Exception as exc:  # truncated streams raise OSError, SyntaxError, ValueError, ...
        raise TruncatedImageError(
            "The picture is damaged or cut short and cannot be decoded. "
            "Save it again and re-upload it."
        ) from exc
    return np.asarray(img, dtype=np.float32) / 255.0


def _ink(rgba: np.ndarray) -> np.ndarray:
    """(H, W) ink in [0, 1] from RGBA in [0, 1]: bright strokes on a dark background.

    Transparent pixels are background: they are laid over a colour that contrasts with the
    visible strokes. The background's brightness is read from the border, and a light background
    (paper, a white canvas) is inverted, as MNIST's ink is bright.
    """
    alpha = rgba[..., 3]
    lum = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if alpha.max() < 1 / 255:
        raise TransparentImageError(
            "Every pixel of this picture is fully transparent, so there is no digit to see."
        )
    if alpha.min() < 1.0:
        opaque = alpha > 0.5
        stroke_lum = float(np.median(lum[opaque])) if opaque.any() else 0.0
        backdrop = 1.0 if stroke_lum < 0.5 else 0.0
        lum = alpha * lum + (1 - alpha) * backdrop
    border = np.concatenate([lum[0], lum[-1], lum[:, 0], lum[:, -1]])
    background = float(np.median(border))
    ink = lum - background if background < 0.5 else background - lum
    return np.clip(ink, 0.0, None)


def _frame(ink: np.ndarray) -> np.ndarray:
    """MNIST's framing: crop to the strokes, scale to fit 20×20, centre by mass in 28×28."""
    top = float(ink.max())
    if top < INK_THRESHOLD:
        raise BlankImageError(
            "No digit found: the picture is one flat colour (or its strokes are too faint). "
            "Use dark ink on light paper, or light ink on a dark background."
        )
    ink = ink / top
    # Faint noise (JPEG ringing, paper texture) would make the crop box the whole picture.
    ink = np.where(ink < INK_THRESHOLD, 0.0, ink).astype(np.float32)
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    small = Image.fromarray(crop, mode="F").resize((new_w, new_h), Image.Resampling.LANCZOS)
    patch = np.clip(np.asarray(small, dtype=np.float32), 0.0, 1.0)
    if patch.max() > 0:
        patch = patch / patch.max()
    mass = patch.sum()
    yy, xx = np.indices(patch.shape)
    cy = float((yy * patch).sum() / mass) if mass > 0 else (new_h - 1) / 2
    cx = float((xx * patch).sum() / mass) if mass > 0 else (new_w - 1) / 2
    # Place the centre of mass on the frame's centre, but never push strokes out of the frame.
    centre = FRAME / 2  # MNIST digits have their mass at pixel (14, 14), measured
    top_row = int(np.clip(round(centre - cy), 0, FRAME - new_h))
    left_col = int(np.clip(round(centre - cx), 0, FRAME - new_w))
    out = np.zeros((FRAME, FRAME), dtype=np.float32)
    out[top_row : top_row + new_h, left_col : left_col + new_w] = patch
    return out.reshape(1, 1, FRAME, FRAME)


def digit_from_bytes(data: bytes) -> np.ndarray:
    """An uploaded PNG or JPEG (file bytes) as an MNIST-like digit.

    Returns float32 (1, 1, 28, 28) in [0, 1], ink = 1, the digit scaled to fit 20×20 and centred
    by mass. Raises a `DigitImageError` subclass with a message for the visitor when the file is
    not a picture, is truncated or animated, too large (or a decompression bomb), too small,
    fully transparent, or blank.
    """
    img = _open(data)
    return _frame(_ink(_decode(img)))


def canvas_png(data_url: str) -> bytes:
    """The PNG bytes of a canvas data URL ("data:image/png;base64,..."), checked before decoding.

    Raises CanvasDataError for anything but a PNG data URL or for bad base64, and
    ImageTooLargeError for more than MAX_CANVAS_BYTES, each with a message for the visitor.
    """
    if not isinstance(data_url, str) or not data_url.startswith(CANVAS_PREFIX):
        head = data_url[:30] if isinstance(data_url, str) else type(data_url).__name__
        kind = head.split(";")[0].split(",")[0] if head.startswith("data:") else "not a data URL"
        raise CanvasDataError(
            f"The drawing could not be read: a canvas sends a PNG picture, this was {kind!r}. "
            "Clear the canvas and draw again."
        )
    encoded = data_url[len(CANVAS_PREFIX):]
    if len(encoded) > math.ceil(MAX_CANVAS_BYTES / 3) * 4:
        raise ImageTooLargeError(
            f"The drawing's data is {len(encoded) / 2**20:.1f} MB; a drawing of a digit is a few "
            f"tens of kB and at most {MAX_CANVAS_BYTES / 2**20:g} MB is accepted."
        )
    try:
        return binascii.a2b_base64(encoded, strict_mode=True)
    except binascii.Error:
        raise CanvasDataError(
            "The drawing could not be read: its data is damaged (not valid base64). "
            "Clear the canvas and draw again."
        ) from None


def digit_from_canvas_url(data_url: str | None) -> np.ndarray:
    """A drawing canvas's data URL (what the browser sends) as an MNIST-like digit.

    Returns float32 (1, 1, 28, 28) in [0, 1] (see `digit_from_bytes`). Only a PNG data URL is
    accepted, of at most MAX_CANVAS_BYTES and MAX_CANVAS_SIDE pixels a side, checked from the
    header before any pixel is decoded; TIFF, BMP, JPEG and the rest are refused unparsed.
    Raises `EmptyCanvasError` when nothing is drawn (or no data came), another
    `DigitImageError` with a message for the visitor otherwise.
    """
    if data_url is None or data_url == "":
        raise EmptyCanvasError("The canvas is empty: draw a digit with your mouse or finger.")
    data = canvas_png(data_url)
    if not data.startswith(SIGNATURES[0]):
        raise CanvasDataError(
            "The drawing could not be read: a canvas sends a PNG picture, and this is not one. "
            "Clear the canvas and draw again."
        )
    img = _open(data, formats=("PNG",), max_bytes=MAX_CANVAS_BYTES, max_side=MAX_CANVAS_SIDE)
    return digit_from_canvas(_decode(img))


def digit_from_canvas(rgba: np.ndarray | None) -> np.ndarray:
    """A drawing-canvas image (H, W, 4) RGBA, uint8 0..255 or float in [0, 1], as a digit.

    Returns float32 (1, 1, 28, 28) in [0, 1] (see `digit_from_bytes`). Raises `EmptyCanvasError`
    when nothing is drawn, `ImageTooSmallError` for a degenerate canvas, `ImageTooLargeError`
    above MAX_CANVAS_SIDE a side, ValueError for an array that is not an RGBA image.
    """
    if rgba is None:
        raise EmptyCanvasError("The canvas is empty: draw a digit with your mouse or finger.")
    arr = np.asarray(rgba)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"a canvas image must have shape (H, W, 4), got {arr.shape}")
    if min(arr.shape[:2]) < MIN_SIDE:
        raise ImageTooSmallError(
            f"The canvas is only {arr.shape[1]}×{arr.shape[0]} pixels; it needs at least "
            f"{MIN_SIDE}×{MIN_SIDE}."
        )
    if max(arr.shape[:2]) > MAX_CANVAS_SIDE:
        raise ImageTooLargeError(
            f"The canvas is {arr.shape[1]}×{arr.shape[0]} pixels; at most {MAX_CANVAS_SIDE} a "
            "side are accepted."
        )
    if arr.dtype == np.uint8 and max(arr.shape[:2]) > WORK_SIDE:
        # Shrink while still 8-bit: a float copy of a large canvas is 16 bytes a pixel.
        img = Image.fromarray(np.ascontiguousarray(arr), mode="RGBA" if arr.shape[2] == 4
                              else "RGB")
        arr = np.asarray(_reduce(img).convert("RGBA"))
    arr = arr.astype(np.float32) / 255.0 if np.issubdtype(arr.dtype, np.integer) else arr
    arr = np.clip(np.nan_to_num(arr.astype(np.float32)), 0.0, 1.0)
    if arr.shape[2] == 3:
        arr = np.concatenate([arr, np.ones_like(arr[..., :1])], axis=2)
    if arr[..., 3].max() < 1 / 255 or np.ptp(arr, axis=(0, 1)).max() < INK_THRESHOLD:
        raise EmptyCanvasError("The canvas is empty: draw a digit with your mouse or finger.")
    if max(arr.shape[:2]) > WORK_SIDE:
        arr = _shrink(arr)
    try:
        return _frame(_ink(arr))
    except BlankImageError as exc:
        raise EmptyCanvasError(
            "The canvas has no visible strokes yet: draw a digit with your mouse or finger."
        ) from exc


def _shrink(arr: np.ndarray) -> np.ndarray:
    """Area-average an RGBA float image so its longer side is at most WORK_SIDE."""
    h, w = arr.shape[:2]
    scale = WORK_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    channels = [
        np.asarray(Image.fromarray(arr[..., c], mode="F").resize(size, Image.Resampling.BOX))
        for c in range(4)
    ]
    return np.clip(np.stack(channels, axis=2), 0.0, 1.0).astype(np.float32)


def digit_to_png(digit: np.ndarray, *, scale: int = 1, ink_dark: bool = False) -> bytes:
    """A digit (1, 1, 28, 28) or (28, 28) in [0, 1] as PNG bytes (8-bit grey, `scale`× nearest).

    MNIST convention by default (ink white on black); `ink_dark=True` gives black ink on white.
    8 bits lose precision below 1/255: save the `.npy` for the exact float tensor.
    """
    img = np.asarray(digit, dtype=np.float32).reshape(FRAME, FRAME)
    if ink_dark:
        img = 1.0 - img
    pil = Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8), mode="L")
    if scale > 1:
        pil = pil.resize((FRAME * scale, FRAME * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def digit_to_npy(digit: np.ndarray) -> bytes:
    """The exact float32 tensor (1, 1, 28, 28) as `.npy` bytes (np.load reads it back)."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(digit, dtype=np.float32).reshape(1, 1, FRAME, FRAME),
            allow_pickle=False)
    return buf.getvalue()
