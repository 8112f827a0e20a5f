"""Exports for slides: GIF and MP4 decode to one frame per animation frame, the map stays put
while the points move, the HTML file carries plotly.js and the stamp, the QR code is a PNG."""

from __future__ import annotations

import io
import re
import tempfile

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from advcore.playground import boundary, export, state
from advcore.playground.figures.boundary import boundary_spec, title_text

STAMP = ["http://127.0.0.1:8501/boundary?dataset=moons&eps=0.5", "mlp 2-32-32 · PGD (L∞)"]


@pytest.fixture(scope="module")
def animation() -> tuple:
    scene = state.BoundaryScene(n=80, width=8)
    X, y = boundary.points_of(scene)
    model = boundary.train_model(scene)
    grid = boundary.decision_grid(model, X, resolution=40)
    a = boundary.attack_points(model, X, y, attack="pgd", eps=0.5, steps=6)
    titles = [re.sub("<[^>]+>", "", title_text(a, f)) for f in range(len(a.frames))]
    return X, grid, a, export.boundary_frames(X, grid, a, title=titles, stamp=STAMP, size=320)


def test_the_gif_has_every_frame_and_loops(animation: tuple) -> None:
    _, _, a, frames = animation
    gif = Image.open(io.BytesIO(export.to_gif(frames)))
    assert gif.format == "GIF" and gif.info.get("loop") == 0
    assert sum(1 for _ in ImageSequence.Iterator(gif)) == len(a.frames)


def test_the_mp4_decodes_to_every_frame(animation: tuple) -> None:
    import imageio_ffmpeg

    _, _, a, frames = animation
    data = export.to_mp4(frames)
    assert data[4:8] == b"ftyp"
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(data)
        f.flush()
        reader = imageio_ffmpeg.read_frames(f.name)
        meta = next(reader)
        decoded = sum(1 for _ in reader)
    assert decoded == len(a.frames)
    assert tuple(meta["size"]) == frames[0].size


def test_the_points_move_and_the_map_stays(animation: tuple) -> None:
    _, _, a, frames = animation
    first, last = (np.asarray(f.convert("RGB"), dtype=int) for f in (frames[0], frames[-1]))
    assert np.abs(first - last).sum() > 0  # the points moved (and the title changed)
    # Pixels the points never reach are identical in every frame: the background never blinks.
    stack = np.stack([np.asarray(f.convert("RGB"), dtype=int) for f in frames])
    still = (stack == stack[0]).all(axis=(0, 3))
    assert still.mean() > 0.6
    blue_or_orange = np.abs(stack[0, ..., 0] - stack[0, ..., 2]) > 25
    assert (still & blue_or_orange).sum() > 0.3 * still.size  # and it is the coloured map


def test_one_title_per_frame_is_required(animation: tuple) -> None:
    X, grid, a, _ = animation
    with pytest.raises(ValueError, match="one title per frame"):
        export.boundary_frames(X, grid, a, title=["only one"], stamp=STAMP)


def test_digit_morph_frames_show_the_race() -> None:
    rng = np.random.default_rng(0)
    clean = rng.random((28, 28)).astype(np.float32)
    eps = np.linspace(0, 0.1, 5)
    images = np.clip(clean[None] + eps[:, None, None] * np.sign(rng.standard_normal((28, 28))),
                     0, 1)
    frames = export.digit_frames(clean, eps, images, np.arange(5), np.full(5, 0.5), unit="linf",
                                 stamp=STAMP, scale=4)
    assert len(frames) == 5
    gif = Image.open(io.BytesIO(export.to_gif(frames)))
    assert sum(1 for _ in ImageSequence.Iterator(gif)) == 5
    # The adversarial panel is the attacked digit, black ink on white, pixel for pixel.
    side, gap, top = 28 * 4, 24, 50
    panel = np.asarray(frames[-1].convert("L"))[top:top + side, gap + 2 * (side + gap):][:, :side]
    expected = np.rint(255 * (1 - images[-1])).astype(np.uint8).repeat(4, 0).repeat(4, 1)
    assert np.abs(panel.astype(int) - expected).max() <= 1


def test_the_html_plays_offline_and_escapes_the_stamp(animation: tuple) -> None:
    X, grid, a, _ = animation
    page = export.figure_html(boundary_spec(X, grid, a), title="scene",
                              stamp=["http://h/boundary?x=<script>alert(1)</script>"])
    assert "<script src=" not in page  # plotly.js is inside, nothing to fetch
    assert len(page) > 3_000_000  # plotly.min.js itself
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Plotly.addFrames" in page or '"frames"' in page  # the animation came along


def test_the_qr_code_is_a_png() -> None:
    img = Image.open(io.BytesIO(export.qr_png("http://127.0.0.1:8501/digits?index=8")))
    assert img.format == "PNG" and img.size[0] == img.size[1] >= 100


def test_exports_never_touch_the_model() -> None:
    scene = state.BoundaryScene(n=40, width=4)
    model = boundary.train_model(scene)
    before = [p.clone() for p in model.parameters()]
    X, y = boundary.points_of(scene)
    a = boundary.attack_points(model, X, y, attack="fgsm", eps=0.3, steps=1)
    export.boundary_frames(X, boundary.decision_grid(model, X, resolution=20), a,
                           title=[""] * len(a.frames), stamp=[])
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters(), strict=True))
