"""The 2-D decision map: a classifier's P(class 1) as a picture and its 0.5 boundary as a line.

One builder for every page that draws a 2-D classifier. The map is a PNG in `layout.images`
and the boundary a plain scatter line, never heatmap or contour *traces*: when a Plotly
animation plays, each frame first re-plots only the traces it names, and Plotly removes the
layers of every trace type that is not among them (the heatmap and contour layers), then puts
them back on the redraw that follows. On a loaded machine the browser paints in between, and
the map blinks away mid-Play (seen in 4 of 7 captures at load 13-18). Layout images and scatter
traces that a frame does not name are never removed, so the background stays drawn.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

# P(class 1) = 0 → pale blue (class 0), 0.5 → white, 1 → pale orange (class 1).
HEAT_STOPS = np.array([0.0, 0.5, 1.0])
HEAT_RGB = np.array([[0xC6, 0xDB, 0xEF], [0xFF, 0xFF, 0xFF], [0xFD, 0xD0, 0xA2]], dtype=float)
HEAT_SCALE = [[float(s), "#{:02x}{:02x}{:02x}".format(*map(int, c))]
              for s, c in zip(HEAT_STOPS, HEAT_RGB, strict=True)]


# The map's picture and its boundary line depend on the grid only, yet a page rebuilds its figure
# on every ε step: encoding the PNG and chaining the contour cost ~45 ms of the /boundary
# fragment's ~95 ms per step. Kept here per grid content (a few kB each, the last MEMO_SIZE).
MEMO_SIZE = 32
_memo: OrderedDict[tuple, Any] = OrderedDict()
_memo_lock = threading.Lock()


def _memoised(kind: str, arrays: tuple[np.ndarray, ...], extra: tuple,
              build: Callable[[], Any]) -> Any:
    """build() once per (kind, the arrays' contents, extra); a deep copy for each caller, who
    may edit it (the page sets a trace's showlegend)."""
    digest = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype}{a.shape}".encode())
        digest.update(a.tobytes())
    key = (kind, digest.hexdigest(), extra)
    with _memo_lock:
        hit = _memo.get(key)
        if hit is not None:
            _memo.move_to_end(key)
    if hit is None:
        hit = build()
        with _memo_lock:
            _memo[key] = hit
            while len(_memo) > MEMO_SIZE:
                _memo.popitem(last=False)
    return copy.deepcopy(hit)


def probability_png(prob: np.ndarray) -> str:
    """P(class 1) (G_y, G_x) in [0, 1], row 0 at the bottom, as a PNG data URL (row 0 at the
    top, as images are stored), coloured with HEAT_SCALE."""
    p = np.clip(np.nan_to_num(np.asarray(prob, dtype=float), nan=0.5), 0.0, 1.0)[::-1]
    rgb = np.stack([np.interp(p, HEAT_STOPS, HEAT_RGB[:, c]) for c in range(3)], axis=-1)
    buf = io.BytesIO()
    Image.fromarray(np.rint(rgb).astype(np.uint8), "RGB").save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def contour_segments(gx: np.ndarray, gy: np.ndarray, z: np.ndarray,
                     level: float = 0.5) -> np.ndarray:
    """The `level` set of z by marching squares: (S, 2, 2) line segments [[x0, y0], [x1, y1]].

    z[i, j] is the value at (gx[j], gy[i]). Crossings are placed by linear interpolation along
    each cell edge; a saddle cell (all four edges crossed) is split by its centre value, the
    convention that keeps the two sides of the level set apart.
    """
    z = np.asarray(z, dtype=float)
    gx, gy = np.asarray(gx, dtype=float), np.asarray(gy, dtype=float)
    above = z > level
    a, b = z[:-1, :-1], z[:-1, 1:]  # corners: a bottom-left, b bottom-right,
    c, d = z[1:, 1:], z[1:, :-1]    # c top-right, d top-left (cell (i, j))
    x0, x1 = gx[None, :-1], gx[None, 1:]
    y0, y1 = gy[:-1, None], gy[1:, None]

    def cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (level - u) / (v - u)
        return np.clip(np.nan_to_num(t, nan=0.5), 0.0, 1.0)

    # The crossing point on each edge, in the order bottom, right, top, left.
    shape = a.shape
    edges = [
        (above[:-1, :-1] != above[:-1, 1:],
         np.broadcast_to(x0 + cross(a, b) * (x1 - x0), shape), np.broadcast_to(y0, shape)),
        (above[:-1, 1:] != above[1:, 1:],
         np.broadcast_to(x1, shape), np.broadcast_to(y0 + cross(b, c) * (y1 - y0), shape)),
        (above[1:, 1:] != above[1:, :-1],
         np.broadcast_to(x0 + cross(d, c) * (x1 - x0), shape), np.broadcast_to(y1, shape)),
        (above[1:, :-1] != above[:-1, :-1],
         np.broadcast_to(x0, shape), np.broadcast_to(y0 + cross(a, d) * (y1 - y0), shape)),
    ]
    hit = np.stack([e[0] for e in edges])                    # (4, ...)
    px = np.stack([e[1] for e in edges])
    py = np.stack([e[2] for e in edges])
    count = hit.sum(0)
    out: list[np.ndarray] = []
    two = np.argwhere(count == 2)
    if len(two):
        which = np.argsort(~hit[:, two[:, 0], two[:, 1]], axis=0, kind="stable")[:2]  # (2, K)
        xs = px[which, two[:, 0], two[:, 1]]
        ys = py[which, two[:, 0], two[:, 1]]
        out.append(np.stack([np.stack([xs[0], ys[0]], -1), np.stack([xs[1], ys[1]], -1)], 1))
    for i, j in np.argwhere(count == 4):
        centre_above = (a[i, j] + b[i, j] + c[i, j] + d[i, j]) / 4 > level
        # If the centre sides with the bottom-left corner, the lines cut off the other two
        # corners (bottom-right and top-left); otherwise they cut off bottom-left and top-right.
        pairs = ((0, 1), (2, 3)) if centre_above == above[i, j] else ((0, 3), (1, 2))
        for p, q in pairs:
            out.append(np.array([[[px[p, i, j], py[p, i, j]], [px[q, i, j], py[q, i, j]]]]))
    if not out:
        return np.zeros((0, 2, 2))
    seg = np.concatenate(out)
    # A grid node exactly on the level is a crossing of several cells at once: drop the
    # zero-length pieces it leaves, so the pieces around it still chain.
    return seg[np.any(seg[:, 0] != seg[:, 1], axis=1)]


def chain(segments: np.ndarray) -> list[np.ndarray]:
    """Join segments that share an endpoint into polylines, (K_i, 2) each.

    contour_segments computes a crossing once per cell edge from the edge's two corner values
    in the same order for both cells, so shared endpoints are bitwise equal."""
    ends: dict[tuple[float, float], list[int]] = {}
    for k, seg in enumerate(segments):
        for p in seg:
            ends.setdefault((float(p[0]), float(p[1])), []).append(k)
    used = np.zeros(len(segments), dtype=bool)
    lines: list[np.ndarray] = []

    def walk(point: tuple[float, float]) -> list[tuple[float, float]]:
        path = []
        while True:
            nxt = next((k for k in ends[point] if not used[k]), None)
            if nxt is None:
                return path
            used[nxt] = True
            a, b = (tuple(map(float, p)) for p in segments[nxt])
            point = b if a == point else a
            path.append(point)

    for k, seg in enumerate(segments):
        if used[k]:
            continue
        used[k] = True
        a, b = (tuple(map(float, p)) for p in seg)
        forward = walk(b)
        backward = walk(a)
        lines.append(np.array([*backward[::-1], a, b, *forward]))
    return lines


def polyline(segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(S, 2, 2) segments as one x and one y array, chained into polylines with NaN between
    them (a line trace with gaps: one trace draws every piece of the boundary)."""
    lines = chain(segments)
    if not lines:
        return np.zeros(0), np.zeros(0)
    gap = np.full((1, 2), np.nan)
    pts = np.concatenate([part for line in lines for part in (line, gap)][:-1])
    return pts[:, 0], pts[:, 1]


def map_image(gx: np.ndarray, gy: np.ndarray, prob: np.ndarray) -> dict[str, Any]:
    """The probability map as a Plotly layout image spanning the grid's window, under the
    traces."""
    return {
        "source": _memoised("png", (prob,), (), lambda: probability_png(prob)),
        "xref": "x", "yref": "y",
        "x": float(gx[0]), "y": float(gy[-1]), "sizex": float(gx[-1] - gx[0]),
        "sizey": float(gy[-1] - gy[0]), "xanchor": "left", "yanchor": "top",
        "sizing": "stretch", "layer": "below", "name": "P(class 1)",
    }


def boundary_trace(gx: np.ndarray, gy: np.ndarray, prob: np.ndarray, *, width: float = 2.5,
                   level: float = 0.5, typed: Any = None) -> dict[str, Any]:
    """The decision boundary (P = level) as one scatter line trace with gaps.

    typed: an optional encoder for the coordinate arrays (the boundary page sends typed
    arrays); plain lists otherwise, with None in the gaps. The contour is computed once per
    grid (memoised)."""
    xs, ys = _memoised("boundary", (gx, gy, prob), (level,),
                       lambda: polyline(contour_segments(gx, gy, prob, level)))
    if typed is not None:
        x, y = typed(xs), typed(ys)
    else:
        x = [None if np.isnan(v) else float(v) for v in xs]
        y = [None if np.isnan(v) else float(v) for v in ys]
    return {"type": "scatter", "x": x, "y": y, "mode": "lines", "connectgaps": False,
            "line": {"color": "#000000", "width": width}, "hoverinfo": "skip",
            "name": f"boundary (P = {level:g})"}
