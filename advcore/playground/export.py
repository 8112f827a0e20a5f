"""A scene to take away: the boundary animation and the digit morph as GIF and MP4, and a
figure as one self-contained HTML file that plays offline.

Rendered on the server with Pillow (frames, GIF) and imageio-ffmpeg's bundled ffmpeg (MP4,
H.264): no browser, nothing downloaded at run time. Every export is stamped with what fixes the
picture: the scene's URL, the model and the attack, so a slide says where it came from.
"""

from __future__ import annotations

import base64
import html
import io
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from advcore.playground.boundary import Attacked, Grid
from advcore.playground.figures import CLASS_COLORS, FLIP_COLOR, decision_map

FRAME_MS = 350  # the page's own animation speed
INK = (20, 20, 20)


# A font with Greek and maths signs (ε, ∞, ‖): DejaVu, which Debian's fonts-dejavu-core (pulled in
# by Chromium) and most Linux desktops have. Without one, Pillow's bundled font is used and the
# signs are spelled out, so a frame never shows a missing-glyph box.
UNICODE_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                 "/usr/share/fonts/dejavu/DejaVuSans.ttf",
                 "/Library/Fonts/Arial Unicode.ttf", "C:/Windows/Fonts/arial.ttf")
SPELLED = {"ε": "eps", "∞": "inf", "‖": "|", "δ": "delta", "·": "-", "→": "->"}


def _unicode_font() -> str | None:
    return next((p for p in UNICODE_FONTS if os.path.exists(p)), None)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    path = _unicode_font()
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size=size)


def _text(s: str) -> str:
    """`s` as the font can draw it."""
    if _unicode_font():
        return s
    return "".join(SPELLED.get(ch, ch if ord(ch) < 128 else "?") for ch in s)


def _stamp(draw: ImageDraw.ImageDraw, y: int, lines: Sequence[str]) -> None:
    """The scene's provenance under the picture, small and grey."""
    font = _font(14)
    for k, line in enumerate(lines):
        draw.text((12, y + 4 + 18 * k), _text(line), fill=(90, 90, 90), font=font)


def _even(n: int) -> int:
    return n + (n % 2)  # H.264 with 4:2:0 chroma wants even sides


def boundary_frames(X: np.ndarray, grid: Grid, a: Attacked, *, title: Sequence[str],
                    stamp: Sequence[str], size: int = 640) -> list[Image.Image]:
    """The boundary page's animation, frame by frame: the probability map, the 0.5 boundary,
    the clean positions faint, the points where the attack has moved them, red rings on the
    flipped ones. title: one heading per frame (len(a.frames)); stamp: provenance lines.

    size: the plot's side in pixels; the image adds a title band above and the stamp below.
    """
    if len(title) != len(a.frames):
        raise ValueError(f"need one title per frame ({len(a.frames)}), got {len(title)}")
    top, bottom = 44, 18 * len(stamp) + 12
    w, h = _even(size), _even(size + top + bottom)
    gx, gy = grid.gx, grid.gy
    x0, x1, y0, y1 = float(gx[0]), float(gx[-1]), float(gy[0]), float(gy[-1])
    scale = size / max(x1 - x0, y1 - y0)
    pw, ph = int(round((x1 - x0) * scale)), int(round((y1 - y0) * scale))
    left = (w - pw) // 2

    def px(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return left + (x - x0) * scale, top + (y1 - y) * scale

    # The background is the same for every frame: draw it once.
    url = decision_map.probability_png(grid.prob)
    heat = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
    base = Image.new("RGB", (w, h), "white")
    base.paste(heat.resize((pw, ph), Image.Resampling.BILINEAR), (left, top))
    draw = ImageDraw.Draw(base)
    for seg in decision_map.contour_segments(gx, gy, grid.prob):
        (ax, bx), (ay, by) = px(seg[:, 0], seg[:, 1])
        draw.line([(ax, ay), (bx, by)], fill=(0, 0, 0), width=3)
    cx, cy = px(X[:, 0], X[:, 1])
    for u, v in zip(cx, cy, strict=True):
        draw.ellipse([u - 2.5, v - 2.5, u + 2.5, v + 2.5], fill=(150, 150, 150))
    _stamp(draw, top + ph + 4, stamp)

    colours = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in CLASS_COLORS]
    flip = tuple(int(FLIP_COLOR[i:i + 2], 16) for i in (1, 3, 5))
    font = _font(20)
    out = []
    for f, pos in enumerate(a.frames):
        img = base.copy()
        d = ImageDraw.Draw(img)
        d.text((12, 10), _text(title[f]), fill=INK, font=font)
        u, v = px(pos[:, 0], pos[:, 1])
        flipped = ~a.frame_wrong[0] & a.frame_wrong[f]
        for k in range(len(pos)):
            r = 4.5
            d.ellipse([u[k] - r, v[k] - r, u[k] + r, v[k] + r], fill=colours[int(a.y[k])],
                      outline="white")
            if flipped[k]:
                d.ellipse([u[k] - 9, v[k] - 9, u[k] + 9, v[k] + 9], outline=flip, width=3)
        out.append(img)
    return out


def digit_frames(clean: np.ndarray, epsilons: np.ndarray, images: np.ndarray,
                 predictions: np.ndarray, confidences: np.ndarray, *, unit: str,
                 stamp: Sequence[str], scale: int = 8) -> list[Image.Image]:
    """The digit morph over ε: original, perturbation (±ε, red/blue) and adversarial digit,
    one frame per ε of the logit race, each labelled with what the model says.

    clean (28, 28) and images (F, 28, 28) in [0, 1]; epsilons (F,); predictions (F,) int and
    confidences (F,) in [0, 1] for each frame; unit: "linf" or "l2" for the ε label.
    """
    side = 28 * scale
    gap, top = 24, 50
    bottom = 18 * len(stamp) + 12
    w, h = _even(3 * side + 4 * gap), _even(side + top + bottom + 30)
    emax = float(max(np.abs(images - clean[None]).max(), 1e-12))

    def grey(z: np.ndarray) -> Image.Image:
        ink = np.rint(255 * (1 - np.clip(z, 0, 1))).astype(np.uint8)  # black ink on white
        return Image.fromarray(ink, "L").convert("RGB").resize((side, side), Image.NEAREST)

    def signed(d: np.ndarray) -> Image.Image:
        t = np.clip(d / emax, -1, 1)[..., None]
        red, blue, white = np.array([178, 24, 43]), np.array([33, 102, 172]), np.array([247] * 3)
        rgb = np.where(t > 0, white + t * (red - white), white - t * (blue - white))
        return Image.fromarray(np.rint(rgb).astype(np.uint8), "RGB").resize((side, side),
                                                                            Image.NEAREST)

    font, small = _font(20), _font(16)
    out = []
    for f, eps in enumerate(epsilons):
        img = Image.new("RGB", (w, h), "white")
        d = ImageDraw.Draw(img)
        label = (f"ε = {eps:.3f} ({eps * 255:.1f}/255)" if unit == "linf"
                 else f"ε = {eps:.2f} (L2)")
        d.text((gap, 12), _text(f"{label}: the model says {int(predictions[f])} "
                                f"({100 * float(confidences[f]):.1f}%)"), fill=INK, font=font)
        for k, (pic, name) in enumerate(((grey(clean), "original"),
                                         (signed(images[f] - clean), "perturbation"),
                                         (grey(images[f]), "adversarial"))):
            x = gap + k * (side + gap)
            img.paste(pic, (x, top))
            d.rectangle([x - 1, top - 1, x + side, top + side], outline=(180, 180, 180))
            d.text((x, top + side + 6), name, fill=INK, font=small)
        _stamp(d, top + side + 30, stamp)
        out.append(img)
    return out


def to_gif(frames: Sequence[Image.Image], *, ms: int = FRAME_MS, hold_last_ms: int = 1500) -> bytes:
    """Frames as a looping animated GIF (the last frame held a little longer)."""
    if not frames:
        raise ValueError("no frames to export")
    buf = io.BytesIO()
    durations = [ms] * (len(frames) - 1) + [hold_last_ms]
    frames[0].save(buf, format="GIF", save_all=True, append_images=list(frames[1:]),
                   duration=durations, loop=0, optimize=False, disposal=1)
    return buf.getvalue()


def to_mp4(frames: Sequence[Image.Image], *, ms: int = FRAME_MS) -> bytes:
    """Frames as an H.264 MP4 (yuv420p, plays in every browser and slide deck), written with
    the ffmpeg binary that imageio-ffmpeg bundles."""
    import imageio_ffmpeg

    if not frames:
        raise ValueError("no frames to export")
    w, h = frames[0].size
    fd, path = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        writer = imageio_ffmpeg.write_frames(path, (w, h), fps=1000 / ms, codec="libx264",
                                             pix_fmt_out="yuv420p", macro_block_size=2,
                                             quality=8, ffmpeg_log_level="error")
        writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(np.asarray(frame.convert("RGB"))))
        writer.close()
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


def figure_html(spec: dict[str, Any], *, title: str, stamp: Sequence[str]) -> str:
    """A Plotly figure dict as one HTML file with plotly.js inside: it opens and plays offline,
    with the stamp under the figure. The stamp is escaped (it may hold a URL)."""
    import plotly.graph_objects as go
    import plotly.io as pio

    fig = go.Figure(spec)
    body = pio.to_html(fig, include_plotlyjs=True, full_html=False, auto_play=False,
                       config={"displaylogo": False})
    lines = "".join(f"<div>{html.escape(line)}</div>" for line in stamp)
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title></head>"
            "<body style='font-family:sans-serif;margin:16px'>"
            f"{body}<div style='color:#555;font-size:13px;margin-top:8px'>{lines}</div>"
            "</body></html>")


def qr_png(url: str, *, scale: int = 6) -> bytes:
    """The URL as a QR code PNG (segno, pure Python), for the audience to open the scene."""
    import segno

    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=scale, border=2)
    return buf.getvalue()
