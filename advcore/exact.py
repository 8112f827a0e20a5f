"""Exact minimal adversarial perturbations where they are cheap: 2-D ReLU networks and linear
softmax models. These are the ground truth that every attack is an upper bound of.

2-D models (`LinearClassifier`, `MLP`: Linear/ReLU stacks with two logits). The network is
piecewise affine, so its decision boundary {logit₁ − logit₀ = 0} inside a box is a finite set of
line segments. `boundary_segments` finds them exactly (float64): it starts from the box polygon and
splits every polygon by each neuron's zero line, layer by layer, tracking the affine map of every
neuron on every polygon (the linear-region enumeration of Serra et al. 2018 and Jordan et al.
2019's GeoCert, in the plane). In each final region the margin is affine, so the boundary there is
the region clipped to one line: a segment. Polygons on which interval arithmetic proves the
margin's sign are dropped before they are split further (sound: such a polygon holds no boundary).
`minimal_adversarial` then gives every point its closed-form distance to the nearest segment in L∞
or L2 and the nearest boundary point.

Linear softmax models on images (`mnist-linear`): `linear_minimal_linf` solves the minimal L∞
perturbation inside the [0, 1] box per target class in closed form (a sorted-breakpoint search).

Units: 2-D features are standardised (N, 2) float32 inputs, ε in feature units; images are
(N, 1, 28, 28) in [0, 1], ε on that scale (× 255 for grey levels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

Box = tuple[tuple[float, float], tuple[float, float]]
Layers = list[tuple[np.ndarray, np.ndarray]]
NORMS = ("linf", "l2")
# Vertex values |a·v + c| below SNAP × (scale of the line over the box) count as on the line: a
# vertex made by an earlier split then lands on both sides instead of leaving a sliver polygon.
SNAP = 1e-12
PRUNE_EVERY = 8  # neurons split between two pruning passes over the new pieces
PAIRS_PER_CHUNK = 1 << 18  # points × segments per block of the distance computation (memory)


# --- the network as float64 affine maps -------------------------------------------------------


def affine_layers(model: nn.Module) -> Layers:
    """The model as float64 (W (out, in), b (out,)) pairs with a ReLU between consecutive ones.

    Accepts any module whose leaf modules, in order, are Linear (ReLU Linear)* (Flatten,
    Identity and Dropout in eval mode are skipped), and checks the result against the model's own
    forward pass, so a model whose forward does something else is refused rather than analysed
    wrongly. Raises ValueError otherwise.
    """
    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    kept: list[nn.Module] = []
    for m in leaves:
        if isinstance(m, nn.Flatten | nn.Identity) or (isinstance(m, nn.Dropout) and not m.training):
            continue
        if not isinstance(m, nn.Linear | nn.ReLU):
            raise ValueError(f"exact analysis needs a Linear/ReLU stack, found {type(m).__name__}")
        kept.append(m)
    shape_ok = (len(kept) % 2 == 1
                and all(isinstance(m, nn.Linear) for m in kept[0::2])
                and all(isinstance(m, nn.ReLU) for m in kept[1::2]))
    if not shape_ok:
        raise ValueError("exact analysis needs layers Linear (ReLU Linear)*, got "
                         + ", ".join(type(m).__name__ for m in kept))
    layers = [(m.weight.detach().double().cpu().numpy(),
               (m.bias.detach().double().cpu().numpy() if m.bias is not None
                else np.zeros(m.out_features))) for m in kept[0::2]]
    _check_against_forward(model, layers)
    return layers


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b (float64 arrays, numpy broadcasting rules), computed by torch.

    torch honours torch.set_num_threads (the app runs one thread); numpy's OpenBLAS starts a
    thread per core, and on the busy 2-core machine a (200, 128) @ (128, 128) product took
    12-32 ms that way against 0.15-0.9 ms on one thread.
    """
    return torch.matmul(torch.as_tensor(a), torch.as_tensor(b)).numpy()


def forward(layers: Layers, x: np.ndarray) -> np.ndarray:
    """(N, C) float64 logits of the affine stack at x (N, d)."""
    h = x
    for i, (w, b) in enumerate(layers):
        h = matmul(h, w.T) + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h


def _check_against_forward(model: nn.Module, layers: Layers) -> None:
    d = layers[0][0].shape[1]
    probe = torch.randn(8, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    param = next(model.parameters())
    with torch.no_grad():
        theirs = model(probe.to(param.dtype)).double().numpy()
    ours = forward(layers, probe.numpy())
    if theirs.shape != ours.shape or not np.allclose(theirs, ours, rtol=1e-3, atol=1e-4):
        raise ValueError("the model's forward pass is not the Linear/ReLU stack of its layers")


# --- linear regions and the boundary segments (2-D) ---------------------------------------------


@dataclass(frozen=True)
class Segments:
    """The decision boundary of a 2-D model inside a box: S closed line segments.

    start, end (S, 2) float64: the endpoints, in feature units (a segment may be a single point
    where the boundary only touches a region). box: the box they were found in. regions: linear
    regions that the margin's zero line crosses or touches (one segment each). pruned: polygons
    dropped unsplit because interval bounds proved the margin's sign on them.
    """

    start: np.ndarray
    end: np.ndarray
    box: Box
    regions: int
    pruned: int

    def __len__(self) -> int:
        return len(self.start)


def boundary_segments(model: nn.Module, box: Box) -> Segments:
    """Every piece of the boundary {logit₁ − logit₀ = 0} of a 2-D Linear/ReLU model inside `box`.

    box: ((xmin, xmax), (ymin, ymax)) in feature units. Exact up to float64 rounding: every
    segment lies on the boundary and every boundary point in the box lies on a segment. Segments
    are ordered deterministically (the same model and box give the same array), which makes the
    "lowest index wins" tie rule of `minimal_adversarial` reproducible.
    """
    layers = affine_layers(model)
    if layers[0][0].shape[1] != 2 or layers[-1][0].shape[0] != 2:
        raise ValueError("boundary_segments needs a model with 2 inputs and 2 logits")
    box = check_box(box)
    (x0, x1), (y0, y1) = box
    verts = np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], dtype=np.float64)
    count = np.array([4])
    scale = max(abs(x0), abs(x1), abs(y0), abs(y1), 1.0)
    w, b = layers[0]
    maps = np.concatenate([w.T, b[None]])[None]  # (1, 3, k): z = (x, y, 1) @ maps
    pruned = 0
    for layer in range(1, len(layers)):
        verts, count, maps, dropped = _split_by_neurons(verts, count, maps, layers[layer:], scale)
        pruned += dropped
        maps = _next_maps(verts, count, maps, *layers[layer])
    margin = maps[..., 1] - maps[..., 0]  # (P, 3)
    start, end, hit = _clip_to_zero_line(verts, count, margin, scale)
    return Segments(start[hit], end[hit], box, int(hit.sum()), pruned)


def _values(verts: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """(P, V) coef·(v, 1) at every vertex slot; coef (P, 3)."""
    return verts[..., 0] * coef[:, None, 0] + verts[..., 1] * coef[:, None, 1] + coef[:, None, 2]


def _slots(count: np.ndarray, width: int) -> np.ndarray:
    return np.arange(width)[None, :] < count[:, None]


def _vertex_range(verts: np.ndarray, count: np.ndarray,
                  maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P, k) exact min and max of each affine map (P, 3, k) over each convex polygon."""
    z = (verts[..., :1] * maps[:, None, 0] + verts[..., 1:] * maps[:, None, 1]
         + maps[:, None, 2])
    valid = _slots(count, verts.shape[1])[..., None]
    return np.where(valid, z, np.inf).min(1), np.where(valid, z, -np.inf).max(1)


def _may_hold_boundary(verts: np.ndarray, count: np.ndarray, maps: np.ndarray,
                       rest: Layers) -> np.ndarray:
    """(P,) False where interval arithmetic proves the margin has one strict sign on the polygon.

    maps (P, 3, k) are the pre-activations of the next hidden layer, whose exact range over a
    polygon is attained at its vertices; the layers after are bounded by interval propagation
    (IBP, sound). The slack keeps float64 rounding from pruning a polygon that touches zero.
    """
    lo_m, hi_m = _margin_interval(verts, count, maps, rest)
    slack = 1e-9 * (1.0 + np.abs(lo_m) + np.abs(hi_m))
    return (lo_m <= slack) & (hi_m >= -slack)


def _margin_interval(verts: np.ndarray, count: np.ndarray, maps: np.ndarray,
                     rest: Layers) -> tuple[np.ndarray, np.ndarray]:
    """(P,) interval of logit₁ − logit₀ over each polygon: exact next layer, IBP after."""
    lo, hi = _vertex_range(verts, count, maps)
    *hidden, (w_out, b_out) = rest
    for w, b in hidden:
        lo, hi = np.maximum(lo, 0.0), np.maximum(hi, 0.0)
        mid, rad = (lo + hi) / 2, (hi - lo) / 2
        mid, rad = matmul(mid, w.T) + b, matmul(rad, np.abs(w).T)
        lo, hi = mid - rad, mid + rad
    lo, hi = np.maximum(lo, 0.0), np.maximum(hi, 0.0)
    diff, off = w_out[1] - w_out[0], b_out[1] - b_out[0]
    mid, rad = matmul((lo + hi) / 2, diff) + off, matmul((hi - lo) / 2, np.abs(diff))
    return mid - rad, mid + rad


def _split_by_neurons(verts: np.ndarray, count: np.ndarray, maps: np.ndarray, rest: Layers,
                      scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Split every polygon by every neuron's zero line (maps (P, 3, k), one line per neuron).

    rest: the layers after this hidden layer, for pruning. Returns the pieces' vertices, counts,
    maps (each piece's copy of its polygon's maps) and how many polygons were pruned. A neuron
    whose line misses a polygon misses all its pieces, so only the pairs that straddle at the
    start are ever tested. Every PRUNE_EVERY neurons, the pieces made since the last check that
    provably hold no boundary are dropped: smaller pieces have tighter bounds.
    """
    keep = _may_hold_boundary(verts, count, maps, rest)
    pruned = int((~keep).sum())
    verts, count, maps = verts[keep], count[keep], maps[keep]
    lo, hi = _vertex_range(verts, count, maps)
    tol = SNAP * (np.abs(maps[:, :2]).sum(1) * scale + np.abs(maps[:, 2]))
    straddles = (lo < -tol) & (hi > tol)  # (P, k)
    origin = np.arange(len(verts))
    fresh = np.zeros(len(verts), dtype=bool)
    for n, j in enumerate(np.flatnonzero(straddles.any(0)), 1):
        cand = np.flatnonzero(straddles[origin, j])
        if len(cand):
            coef = maps[origin[cand], :, j]
            pos, neg, cut = _cut(verts[cand], count[cand], coef, tol[origin[cand], j])
            cut_idx = cand[cut]
            (pv, pc), (nv, nc) = pos, neg
            width = max(verts.shape[1], pv.shape[1], nv.shape[1])
            verts, pv, nv = _pad(verts, width), _pad(pv, width), _pad(nv, width)
            verts[cut_idx], count[cut_idx] = pv, pc  # the positive piece keeps the slot
            verts = np.concatenate([verts, nv])
            count = np.concatenate([count, nc])
            origin = np.concatenate([origin, origin[cut_idx]])
            fresh[cut_idx] = True
            fresh = np.concatenate([fresh, np.ones(len(nc), dtype=bool)])
        if n % PRUNE_EVERY == 0 and fresh.any():
            check = np.flatnonzero(fresh)
            keep = np.ones(len(verts), dtype=bool)
            keep[check] = _may_hold_boundary(verts[check], count[check], maps[origin[check]],
                                             rest)
            pruned += int((~keep).sum())
            verts, count, origin = verts[keep], count[keep], origin[keep]
            fresh = np.zeros(len(verts), dtype=bool)
    return verts, count, maps[origin], pruned


def _pad(verts: np.ndarray, width: int) -> np.ndarray:
    if verts.shape[1] == width:
        return verts
    out = np.zeros((len(verts), width, 2))
    out[:, :verts.shape[1]] = verts
    return out


def _crossings(verts: np.ndarray, count: np.ndarray, s: np.ndarray,
               valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each edge of each convex polygon (P, V, 2) crosses a line, given the line's value s
    (P, V) at the vertices: crossing (P, V) bool for the edge from vertex k to vertex k + 1
    (the last to the first), and inter (P, V, 2) the crossing point on it (the vertex itself
    where the edge does not cross). Every caller computes a crossing from the same edge in the
    same direction, so two pieces that share an edge share its crossing point bit for bit."""
    width = verts.shape[1]
    nxt = np.where(np.arange(width)[None, :] + 1 < count[:, None], np.arange(width) + 1, 0)
    s_next = np.take_along_axis(s, nxt, 1)
    v_next = np.take_along_axis(verts, nxt[..., None], 1)
    crossing = valid & (s * s_next < 0)
    frac = np.where(crossing, s / np.where(crossing, s - s_next, 1.0), 0.0)
    return crossing, verts + frac[..., None] * (v_next - verts)


def _cut(verts: np.ndarray, count: np.ndarray, coef: np.ndarray, tol: np.ndarray):
    """Sutherland–Hodgman clipping of convex polygons by their own line coef·(x, y, 1) = 0.

    Returns ((pos_verts, pos_count), (neg_verts, neg_count), cut) for the polygons with vertices
    strictly on both sides (cut (P,) bool; the pieces are of those polygons only). Both pieces
    compute each crossing point from the same edge in the same direction, so they share it
    bit for bit.
    """
    width = verts.shape[1]
    valid = _slots(count, width)
    s = _values(verts, coef)
    s = np.where(np.abs(s) <= tol[:, None], 0.0, s)
    cut = (valid & (s > 0)).any(1) & (valid & (s < 0)).any(1)
    verts, count, s, valid = verts[cut], count[cut], s[cut], valid[cut]
    crossing, inter = _crossings(verts, count, s, valid)
    both = np.stack([verts, inter], 2).reshape(len(verts), 2 * width, 2)

    def piece(keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mask = np.stack([keep, crossing], 2).reshape(len(verts), 2 * width)
        order = np.argsort(~mask, axis=1, kind="stable")
        n = mask.sum(1)
        return np.take_along_axis(both, order[..., None], 1)[:, :n.max(initial=0)], n

    return piece(valid & (s >= 0)), piece(valid & (s <= 0)), cut


def _next_maps(verts: np.ndarray, count: np.ndarray, maps: np.ndarray, w: np.ndarray,
               b: np.ndarray) -> np.ndarray:
    """(P, 3, k') the next layer's pre-activations on each region: W·relu(z) + b, z = maps.

    No neuron changes sign inside a final piece, so the activation pattern is read at the
    vertex average (an interior point of the convex polygon).
    """
    valid = _slots(count, verts.shape[1])[..., None]
    centre = (verts * valid).sum(1) / count[:, None]
    active = (centre[:, :1] * maps[:, 0] + centre[:, 1:] * maps[:, 1] + maps[:, 2]) > 0
    p, _, k = maps.shape
    out = matmul((maps * active[:, None]).reshape(p * 3, k), w.T).reshape(p, 3, len(w))
    out[:, 2] += b
    return out


def _clip_to_zero_line(verts: np.ndarray, count: np.ndarray, margin: np.ndarray,
                       scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each convex region (P, V, 2) cut by its margin's zero line margin·(x, y, 1) = 0.

    Returns start, end (P, 2) and hit (P,) bool: the segment is the region's points where the
    affine margin is zero, its ends the extreme crossing points along the line. A region on which
    the margin is identically zero (the logits tied throughout) belongs to class 0, as argmax
    breaks ties; where class 1 begins beyond it, the neighbouring region's margin reaches 0 on
    the shared edge and that region returns the edge, so the flat region itself adds nothing.
    """
    width = verts.shape[1]
    valid = _slots(count, width)
    tol = SNAP * (np.abs(margin[:, :2]).sum(-1) * scale + np.abs(margin[:, 2]))
    s = _values(verts, margin)
    s = np.where(np.abs(s) <= tol[:, None], 0.0, s)
    crossing, inter = _crossings(verts, count, s, valid)
    on_line = np.concatenate([valid & (s == 0), crossing], 1)
    pts = np.concatenate([verts, inter], 1)
    along = margin[:, None, 1] * pts[..., 0] - margin[:, None, 0] * pts[..., 1]
    first = np.where(on_line, along, np.inf).argmin(1)
    last = np.where(on_line, along, -np.inf).argmax(1)
    rows = np.arange(len(verts))
    hit = on_line.any(1)
    start, end = pts[rows, first], pts[rows, last]
    flat = (margin[:, 0] == 0) & (margin[:, 1] == 0) & (margin[:, 2] == 0)
    return start, end, hit & ~flat


# --- distances to the segments ------------------------------------------------------------------


def distance_to_segments(points: np.ndarray, start: np.ndarray, end: np.ndarray, *,
                         norm: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nearest segment to each point and the nearest point on it, in closed form.

    points (N, 2); start, end (S, 2), all float64 feature units. Returns distance (N,) (inf when
    S = 0), nearest (N, 2) (NaN when S = 0) and index (N,) of the segment (-1 when S = 0).
    L2: the projection onto the segment, clipped to its ends. L∞: t ↦ ‖a + t·(b − a) − p‖∞ is
    convex and piecewise linear, minimal on the whole line where its two coordinates' absolute
    values cross; that minimiser clipped to [0, 1] is the nearest point (see `_linf_argmin`).
    Ties: among segments at equal distance the lowest index wins. Within a segment the L∞
    minimum can be flat (a side of the ε-square lying along the segment); the point returned is
    then the clipped crossing, one of the equally near points.
    """
    _check_norm(norm)
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    if len(start) == 0:
        return np.full(n, np.inf), np.full((n, 2), np.nan), np.full(n, -1)
    dist, nearest, index = np.empty(n), np.empty((n, 2)), np.empty(n, dtype=np.int64)
    step = max(1, PAIRS_PER_CHUNK // len(start))
    for i in range(0, n, step):
        rows = slice(i, i + step)
        dist[rows], nearest[rows], index[rows] = _nearest(points[rows], start, end, norm)
    return dist, nearest, index


def _nearest(p: np.ndarray, a: np.ndarray, b: np.ndarray,
             norm: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = b - a  # (S, 2)
    u = a[None] - p[:, None]  # (n, S, 2): the segment is u + t·d relative to the point
    if norm == "l2":
        length2 = (d ** 2).sum(-1)
        t = -(u * d).sum(-1) / np.where(length2 > 0, length2, 1.0)
        t = np.clip(np.where(length2 > 0, t, 0.0), 0.0, 1.0)  # (n, S)
        gap = np.sqrt((u[..., 0] + t * d[:, 0]) ** 2 + (u[..., 1] + t * d[:, 1]) ** 2)
    else:
        t = _linf_argmin(u, d)
        gap = _linf_size(u, d, t)
    index = gap.argmin(1)
    rows = np.arange(len(p))
    return gap[rows, index], a[index] + t[rows, index, None] * d[index], index


def _linf_size(u: np.ndarray, d: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(n, S) ‖u + t·d‖∞."""
    return np.maximum(np.abs(u[..., 0] + t * d[:, 0]), np.abs(u[..., 1] + t * d[:, 1]))


def _linf_argmin(u: np.ndarray, d: np.ndarray) -> np.ndarray:
    """(n, S) a minimiser over t ∈ [0, 1] of max(|u_x + t·d_x|, |u_y + t·d_y|).

    The function is convex, so clipping a minimiser over the whole line to [0, 1] minimises
    over [0, 1]. On the line the minimum is where the two absolute values cross
    (u_x + t·d_x = ±(u_y + t·d_y)): of the two crossings, the lower one (t₊ on a tie). A
    single-point segment (d = 0) takes t = 0.
    """
    dx, dy = d[:, 0], d[:, 1]
    minus, plus = dx - dy, dx + dy
    t_minus = -(u[..., 0] - u[..., 1]) / np.where(minus != 0, minus, 1.0)
    t_plus = -(u[..., 0] + u[..., 1]) / np.where(plus != 0, plus, 1.0)
    t_minus = np.where(minus != 0, t_minus, t_plus)
    t_plus = np.where(plus != 0, t_plus, t_minus)
    better = np.where(_linf_size(u, d, t_plus) <= _linf_size(u, d, t_minus), t_plus, t_minus)
    return np.clip(np.where((dx == 0) & (dy == 0), 0.0, better), 0.0, 1.0)


# --- the exact minimal adversarial distance (2-D) -----------------------------------------------


@dataclass(frozen=True)
class Exact:
    """Each point's exact minimal adversarial perturbation in one norm.

    eps (N,) float64: ε*, the distance from the point to the nearest boundary point inside the
    box (0 for a point the model already misclassifies; inf where no boundary lies in the box).
    x_adv (N, 2) float64: that nearest boundary point (the point itself when ε* = 0, NaN when
    inf). reach (N,) float64: the distance from the point to the box's edge in the same norm;
    eps is the true, unrestricted ε* wherever eps ≤ reach, and the true ε* exceeds reach
    elsewhere. norm: "linf" or "l2".
    """

    eps: np.ndarray
    x_adv: np.ndarray
    reach: np.ndarray
    norm: str


def minimal_adversarial(model: nn.Module, x: Tensor | np.ndarray, y: Tensor | np.ndarray, *,
                        norm: str, box: Box, segments: Segments | None = None) -> Exact:
    """The exact smallest perturbation that changes each point's predicted class (2-D models).

    model: a 2-D LinearClassifier or MLP (Linear/ReLU stack, 2 logits). x (N, 2) float32 feature
    units (tensor or array); y (N,) int64 labels in {0, 1}; norm "linf" or "l2"; box
    ((xmin, xmax), (ymin, ymax)). segments: `boundary_segments(model, box)` if already computed
    (the enumeration depends on the model and box only: cache it per model and reuse it for
    both norms and every ε).

    The boundary is the zero set of the margin logit₁ − logit₀ (ties go to class 0, as argmax
    breaks them). A point whose prediction (the model's own forward pass) is not y has ε* = 0.
    Ties between equally near boundary points go to the lowest-index segment of `segments`
    (see `distance_to_segments` for a flat L∞ minimum along one segment). Box edge: only boundary inside the box
    counts. Choose the box with `box_for(X, eps_max)` so that it holds every point's ball of the
    largest ε the page allows: then ε* ≤ eps_max is exact, and ε* > eps_max is reported as such,
    so robust accuracy is exact at every ε on the slider (see Exact.reach).
    """
    _check_norm(norm)
    box = check_box(box)
    if segments is None:
        segments = boundary_segments(model, box)
    elif segments.box != box:
        raise ValueError(f"segments were found in box {segments.box}, not {box}")
    xt = torch.as_tensor(x)
    pts = xt.detach().double().cpu().numpy().reshape(-1, 2)
    labels = torch.as_tensor(y).detach().cpu().numpy().reshape(-1)
    if len(labels) != len(pts):
        raise ValueError(f"x has {len(pts)} points but y has {len(labels)} labels")
    param = next(model.parameters())
    with torch.no_grad():
        pred = model(xt.detach().to(param.dtype).reshape(-1, 2)).argmax(1).cpu().numpy()
    eps, x_adv, _ = distance_to_segments(pts, segments.start, segments.end, norm=norm)
    wrong = pred != labels
    eps[wrong], x_adv[wrong] = 0.0, pts[wrong]
    return Exact(eps, x_adv, _reach(pts, box, norm), norm)


def _reach(pts: np.ndarray, box: Box, norm: str) -> np.ndarray:
    """(N,) distance from each point to the box's edge (0 outside); the same in L∞ and L2."""
    (x0, x1), (y0, y1) = box
    gaps = np.stack([pts[:, 0] - x0, x1 - pts[:, 0], pts[:, 1] - y0, y1 - pts[:, 1]], 1)
    return np.maximum(gaps.min(1), 0.0)


def exact_robust_accuracy(eps_star: np.ndarray, eps: float | Sequence[float] | np.ndarray):
    """The true robust accuracy: the share of points with ε* > ε.

    eps_star (N,) from `minimal_adversarial`; eps a scalar (returns a float) or an array of ε
    (returns an array of the same shape: the exact accuracy-vs-ε curve). A point exactly at
    distance ε from the boundary counts as not robust (the ball reaches the boundary).
    """
    eps_star = np.asarray(eps_star, dtype=np.float64)
    grid = np.asarray(eps, dtype=np.float64)
    if not len(eps_star):
        return float("nan") if grid.ndim == 0 else np.full(grid.shape, np.nan)
    share = (eps_star[None, :] > grid.reshape(-1, 1)).mean(1).reshape(grid.shape)
    return float(share) if grid.ndim == 0 else share


def missed_flips(eps_star: np.ndarray, still_correct: np.ndarray, eps: float) -> np.ndarray:
    """(N,) bool: points an attack left correctly classified that some perturbation within ε
    flips (ε* ≤ ε): what the attack missed.

    eps_star (N,) from `minimal_adversarial` in the attack's norm; still_correct (N,) bool, the
    prediction on the attack's output equals the label. Since no attack flips a point below its
    ε*, the attack's accuracy minus `exact_robust_accuracy(eps_star, eps)` is the share of
    missed points ("PGD misses 7 points that can be flipped at this ε").
    """
    return np.asarray(still_correct, dtype=bool) & (np.asarray(eps_star) <= eps)


def box_for(X: np.ndarray, eps_max: float, *, margin: float = 0.5) -> Box:
    """The box to enumerate in: the page's plotting window plus the largest ε on the slider.

    X (N, 2) the scene's points; margin: the window around the data (the boundary page's
    GRID_MARGIN, so the window is advcore.playground.boundary.extent(X)); eps_max: the slider's top
    (state.bounds_of(state.BoundaryScene, "eps")[1]). Every point in the window, the data and
    any point a user adds on the map, then has its whole ε-ball, L∞ or L2, inside the box, so
    its ε* is exact up to eps_max. Take X as the dataset's points, not the user's, so that
    adding a point does not move the box and recompute the enumeration.
    """
    X = np.asarray(X, dtype=np.float64)
    if eps_max < 0 or margin < 0:
        raise ValueError(f"eps_max and margin must be >= 0, got {eps_max}, {margin}")
    lo, hi = X.min(0) - margin - eps_max, X.max(0) + margin + eps_max
    return ((float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])))


def distance_map(segments: Segments, gx: np.ndarray, gy: np.ndarray, *,
                 norm: str) -> np.ndarray:
    """(G_y, G_x) float64 distance from each grid point (gx[j], gy[i]) to the boundary, in `norm`.

    The layout of advcore.playground.boundary.Grid (Plotly's heatmap); inf where the box holds no boundary.
    """
    xx, yy = np.meshgrid(np.asarray(gx, np.float64), np.asarray(gy, np.float64))
    dist, _, _ = distance_to_segments(np.stack([xx.ravel(), yy.ravel()], 1), segments.start,
                                      segments.end, norm=norm)
    return dist.reshape(xx.shape)


def check_box(box: Box) -> Box:
    """The box as float pairs; ValueError unless it is ((xmin, xmax), (ymin, ymax)), min < max."""
    try:
        (x0, x1), (y0, y1) = box
        out = ((float(x0), float(x1)), (float(y0), float(y1)))
    except (TypeError, ValueError):
        raise ValueError(f"box must be ((xmin, xmax), (ymin, ymax)), got {box!r}") from None
    if not all(np.isfinite(v) for pair in out for v in pair) or x0 >= x1 or y0 >= y1:
        raise ValueError(f"box must be finite with min < max on each axis, got {box!r}")
    return out


def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


# --- linear softmax models on images: the minimal L∞ step in the box -----------------------------


def linear_minimal_linf(model: nn.Module, x: Tensor, y: Tensor, *,
                        bounds: tuple[float, float] = (0.0, 1.0)) -> Tensor:
    """(N,) float64 exact minimal L∞ perturbation that makes another class win, inside `bounds`.

    model: a single nn.Linear softmax classifier such as `mnist-linear` (logits = W·flatten(x)
    + b); x (N, ...) in `bounds`, e.g. (N, 1, 28, 28) in [0, 1]; y (N,) int64. Returns ε* on the
    [0, 1] pixel scale (× 255 for grey levels); 0 where the model already misclassifies x; inf
    where no perturbation inside the box changes the class.

    For a target t the margin m = (w_y − w_t)·x + (b_y − b_t) is affine. Under ‖δ‖∞ ≤ ε and
    x + δ in the box, each pixel moves against a_i = (w_y − w_t)_i by at most min(ε, r_i), with
    r_i its room to the box edge in that direction, so the largest decrease of m is
    D(ε) = Σ |a_i|·min(ε, r_i): concave, piecewise linear, with breakpoints at the sorted r_i.
    ε*_t solves D(ε) = m on the first piece that reaches m; ε* = min over t. At ε* the margin is
    0: t ties with y (the infimum over perturbations that make t win outright).
    """
    layers = affine_layers(model)
    if len(layers) != 1:
        raise ValueError("linear_minimal_linf needs a single nn.Linear model")
    lo, hi = bounds
    if not lo < hi:
        raise ValueError(f"bounds must be (lo, hi) with lo < hi, got {bounds}")
    w, b = (torch.from_numpy(a) for a in layers[0])
    flat = torch.as_tensor(x).detach().double().flatten(1).cpu()
    labels = torch.as_tensor(y).detach().long().cpu()
    if len(labels) != len(flat):
        raise ValueError(f"x has {len(flat)} inputs but y has {len(labels)} labels")
    logits = flat @ w.T + b
    eps = torch.full((len(flat),), torch.inf, dtype=torch.float64)
    for i in range(0, len(flat), 64):  # 64 inputs × C targets × d pixels sorted at a time
        eps[i:i + 64] = _linear_linf_chunk(flat[i:i + 64], labels[i:i + 64],
                                           logits[i:i + 64], w, b, lo, hi)
    with torch.no_grad():
        param = next(model.parameters())
        pred = model(torch.as_tensor(x).detach().to(param.dtype)).argmax(1).cpu()
    eps[pred != labels] = 0.0
    return eps


def _linear_linf_chunk(flat: Tensor, y: Tensor, logits: Tensor, w: Tensor, b: Tensor,
                       lo: float, hi: float) -> Tensor:
    a = w[y][:, None, :] - w[None]  # (n, C, d): a_t = w_y − w_t
    m = logits.gather(1, y[:, None]) - logits  # (n, C)
    # Lowering m means moving pixel i down where a_i > 0 (room x_i − lo), up where a_i < 0.
    room = torch.where(a > 0, flat[:, None, :] - lo, hi - flat[:, None, :]).clamp_min(0.0)
    room, order = room.sort(-1)
    weight = a.abs().gather(-1, order)
    spent = torch.cumsum(weight * room, -1) - weight * room  # Σ_{j<k} |a_j| r_j
    slope = weight.flip(-1).cumsum(-1).flip(-1)  # Σ_{j≥k} |a_j|
    reach = spent + room * slope  # D at each breakpoint r_k
    first = torch.searchsorted(reach, m[..., None].expand(*m.shape, 1).contiguous()).clamp_max(
        room.shape[-1] - 1)
    s_k, a_k = spent.gather(-1, first)[..., 0], slope.gather(-1, first)[..., 0]
    eps_t = torch.where(a_k > 0, (m - s_k) / a_k.clamp_min(1e-300), torch.inf)
    eps_t = torch.where(reach[..., -1] >= m, eps_t, torch.inf)
    eps_t = torch.where(m <= 0, 0.0, eps_t)  # t already ties with y
    eps_t[torch.arange(len(y)), y] = torch.inf  # the true class is not a target
    return eps_t.min(1).values.clamp_min(0.0)
