"""The 2-D decision map: the probability picture and the marching-squares boundary."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from advcore.playground.figures import decision_map as dm


def _grid(n: int = 61) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    g = np.linspace(-2.0, 2.0, n)
    return g, g, *np.meshgrid(g, g)


def test_a_circle_is_found_where_it_is() -> None:
    gx, gy, xx, yy = _grid()
    z = 1 / (1 + np.exp(-4 * (np.hypot(xx, yy) - 1.0)))  # P = 0.5 exactly on the unit circle
    seg = dm.contour_segments(gx, gy, z)
    pts = seg.reshape(-1, 2)
    # Linear interpolation along a cell edge is within a cell's curvature error of the circle.
    assert np.abs(np.hypot(pts[:, 0], pts[:, 1]) - 1.0).max() < 0.01
    lines = dm.chain(seg)
    assert len(lines) == 1 and np.allclose(lines[0][0], lines[0][-1])  # one closed loop
    angles = np.sort(np.arctan2(pts[:, 1], pts[:, 0]))
    assert np.diff(angles).max() < 0.2  # all the way round, no gap


def test_a_straight_boundary_is_exact() -> None:
    gx, gy, xx, yy = _grid(25)
    z = 0.5 + 0.1 * (xx + 2 * yy - 0.3)  # linear: interpolation is exact
    pts = dm.contour_segments(gx, gy, z).reshape(-1, 2)
    assert len(pts) > 0
    assert np.abs(pts[:, 0] + 2 * pts[:, 1] - 0.3).max() < 1e-12


def _cut_corners(z: np.ndarray) -> set[tuple[float, float]]:
    """Which corner each segment of the single cell cuts off (the corner nearest its middle)."""
    seg = dm.contour_segments(np.array([0.0, 1.0]), np.array([0.0, 1.0]), z)
    assert seg.shape == (2, 2, 2)
    return {tuple(float(v) for v in np.round(s.mean(0))) for s in seg}


def test_saddle_cells_keep_the_sides_apart() -> None:
    # z[i, j] at (x = j, y = i): bottom-left and top-right above 0.5, the other two below.
    # Centre below 0.5: the two corners above are islands, cut off each on its own.
    assert _cut_corners(np.array([[1.0, 0.0], [0.0, 0.8]])) == {(0.0, 0.0), (1.0, 1.0)}
    # Centre above 0.5: the two corners below are the islands.
    assert _cut_corners(np.array([[1.0, 0.2], [0.2, 1.0]])) == {(1.0, 0.0), (0.0, 1.0)}


def test_no_boundary_no_segments() -> None:
    gx, gy, xx, _ = _grid(9)
    assert dm.contour_segments(gx, gy, np.full_like(xx, 0.9)).shape == (0, 2, 2)
    xs, ys = dm.polyline(np.zeros((0, 2, 2)))
    assert xs.size == ys.size == 0


def test_polyline_separates_pieces_with_gaps() -> None:
    gx, gy, xx, yy = _grid(41)
    z = 1 / (1 + np.exp(-8 * (np.abs(xx) - 1.0)))  # two vertical lines x = ±1
    xs, ys = dm.polyline(dm.contour_segments(gx, gy, z))
    assert np.isnan(xs).sum() == 1 and np.isnan(ys).sum() == 1
    finite = xs[~np.isnan(xs)]
    assert np.allclose(np.abs(finite), 1.0, atol=1e-6)


@pytest.mark.parametrize("p, rgb", [(0.0, (0xC6, 0xDB, 0xEF)), (0.5, (255, 255, 255)),
                                    (1.0, (0xFD, 0xD0, 0xA2))])
def test_the_png_colours_each_probability(p: float, rgb: tuple[int, int, int]) -> None:
    prob = np.zeros((3, 4))
    prob[0, 0] = p  # row 0 is the bottom of the plot: the bottom-left pixel of the image
    url = dm.probability_png(prob)
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert img.format == "PNG" and img.size == (4, 3)
    assert img.getpixel((0, 2)) == rgb
    assert img.getpixel((1, 2)) == (0xC6, 0xDB, 0xEF)


def test_map_image_spans_the_window() -> None:
    gx, gy = np.linspace(-1, 3, 5), np.linspace(-2, 2, 5)
    im = dm.map_image(gx, gy, np.zeros((5, 5)))
    assert (im["x"], im["y"], im["sizex"], im["sizey"]) == (-1.0, 2.0, 4.0, 4.0)
    assert im["layer"] == "below" and im["xanchor"] == "left" and im["yanchor"] == "top"


def test_the_picture_and_the_line_are_made_once_per_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page redraws its figure on every ε step; the map and boundary depend on the grid only,
    so they are built once per grid content, and an edit of one figure never reaches the next."""
    gx, gy, xx, yy = _grid(31)
    z = 1 / (1 + np.exp(-4 * (np.hypot(xx, yy) - 1.0)))
    calls = {"png": 0, "contour": 0}
    png, contour = dm.probability_png, dm.contour_segments

    def counted_png(prob: np.ndarray) -> str:
        calls["png"] += 1
        return png(prob)

    def counted_contour(*args: object, **kwargs: object) -> np.ndarray:
        calls["contour"] += 1
        return contour(*args, **kwargs)

    monkeypatch.setattr(dm, "probability_png", counted_png)
    monkeypatch.setattr(dm, "contour_segments", counted_contour)
    monkeypatch.setattr(dm, "_memo", type(dm._memo)())
    first = dm.boundary_trace(gx, gy, z)
    first["line"]["width"] = 99  # the page edits its copy
    first["x"].append(7.0)
    again = dm.boundary_trace(gx, gy, z.copy())  # the same content in a new array
    assert calls["contour"] == 1
    assert again["line"]["width"] == 2.5 and again["x"][-1] != 7.0
    assert again == dm.boundary_trace(gx, gy, z)
    assert dm.map_image(gx, gy, z)["source"] == dm.map_image(gx, gy, z.copy())["source"]
    assert calls["png"] == 1
    other = z.copy()
    other[0, 0] = 0.25  # one cell differs: a new picture
    assert dm.map_image(gx, gy, other)["source"] != dm.map_image(gx, gy, z)["source"]
    assert calls["png"] == 2
    dm.boundary_trace(gx, gy, 1 - z)  # a new model's grid: its own line
    assert calls["contour"] == 2
