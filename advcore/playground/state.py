"""The user's choices as frozen, hashable dataclasses that round-trip through URL query parameters.

A scene is a URL: every control of a page is a field of its scene, the field name is the query
parameter, and the value is a registry's short name or a number. Parsing never raises: a bad value
falls back to the default and produces a warning in words a visitor understands.
Like the TensorFlow Playground, the seed is part of the state, so one URL gives one picture.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, ClassVar, TypeVar

from advcore.attacks import ATTACKS
from advcore.data import TOY_DATASETS
from advcore.models import PRETRAINED, TOY_MODELS

S = TypeVar("S")

# A URL value longer than this is refused before it is parsed (no giant numbers, no slow parsing).
MAX_VALUE_CHARS = 64
# How much of a stranger's text a warning repeats back.
SHOWN_CHARS = 24
# Query parameters that Streamlit itself reads on every page; not a scene's, but not unknown.
STREAMLIT_PARAMS = frozenset({"embed", "embed_options"})
# A presenter URL's list of the controls to show (`show=eps`); every other control is hidden.
SHOW_PARAM = "show"
# Every ASCII punctuation character: CommonMark lets a backslash escape each of them, and they are
# the only characters markdown (and Streamlit's :color[]/:icon: and $LaTeX$ extensions) acts on.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def visitor_text(raw: str, limit: int = SHOWN_CHARS) -> str:
    """A stranger's text made inert for any markdown element, to show it back in a warning.

    Cut to `limit` characters (then "…"); line breaks become "⏎" and other control or
    invisible format characters (bidi overrides, zero-width joiners) "�"; every ASCII
    punctuation character is backslash-escaped, so no link, image, emphasis, code span, table,
    HTML tag, LaTeX or Streamlit directive can form, and a zero-width space goes before each
    of them so that no bare address (www.x.y, https://x, a@b.c) becomes a link. The result is the text as typed, wrapped
    in quotes by the caller. This is the one place that formats a visitor's text for display.
    """
    text = raw if len(raw) <= limit else raw[:limit] + "…"
    text = "".join("⏎" if ch in "\r\n" else "�" if unicodedata.category(ch)[0] == "C" else ch
                   for ch in text)
    # A zero-width space before each escaped character too: GFM's autolink literals
    # (www.x.y, https://x, a@b.c) are found in the raw text, escapes or not.
    return _PUNCTUATION.sub("\u200b\\\\\\1", text)


def choice(default: str, choices: Mapping[str, Any] | tuple[str, ...]) -> Any:
    return field(default=default, metadata={"choices": tuple(choices)})


def number(default: float | int, lo: float | int, hi: float | int) -> Any:
    return field(default=default, metadata={"lo": lo, "hi": hi})


def flag(default: bool = False) -> Any:
    return field(default=default, metadata={"flag": True})


# Points a visitor adds on a 2-D map: at most this many, each coordinate within ±POINT_LIMIT
# feature units (standardised data lies within about ±3) and kept to POINT_DECIMALS decimals, so
# the URL text reads back as exactly the same points.
MAX_ADDED_POINTS = 30
POINT_LIMIT = 6.0
POINT_DECIMALS = 2
# "-5.99,-5.99,1;" is 14 characters: the longest valid list, and nothing longer, is read.
MAX_POINTS_CHARS = 15 * MAX_ADDED_POINTS
Point = tuple[float, float, int]


def points(classes: int = 2) -> Any:
    """A field holding up to MAX_ADDED_POINTS labelled 2-D points, `x,y,class;x,y,class` in the
    URL (lo/hi: the coordinate range)."""
    return field(default=(), metadata={"points": MAX_ADDED_POINTS, "classes": classes,
                                       "lo": -POINT_LIMIT, "hi": POINT_LIMIT})


def value_limit(f: Any) -> int:
    """How many characters of URL text field f reads before refusing it."""
    return MAX_POINTS_CHARS if "points" in f.metadata else MAX_VALUE_CHARS


def point_text(p: Point) -> str:
    """One added point as URL text: "0.52,-1.1,1"."""
    return f"{_float_text(p[0])},{_float_text(p[1])},{p[2]}"


def parse_points(raw: str, *, most: int = MAX_ADDED_POINTS, classes: int = 2,
                 limit: float = POINT_LIMIT) -> tuple[tuple[Point, ...], list[str]]:
    """`x,y,class;…` as a tuple of (x, y, class) points, and a reason for each item refused.

    Strict: an item must be two finite decimal numbers within ±limit and a class in
    0..classes − 1, separated by commas; coordinates are rounded to POINT_DECIMALS decimals.
    Refused items are dropped (the rest are kept); items beyond `most` are dropped. An empty
    text is no points. Never raises.
    """
    out: list[Point] = []
    problems: list[str] = []
    items = [item.strip() for item in raw.split(";")] if raw.strip() else []
    for k, item in enumerate(items):
        if not item:
            continue
        parts = [part.strip() for part in item.split(",")]
        why = None
        if len(parts) != 3:
            why = "is not x,y,class"
        elif not all(_DECIMAL.fullmatch(part) for part in parts[:2]):
            why = "has a coordinate that is not a plain decimal number"
        elif parts[2] not in {str(c) for c in range(classes)}:
            why = f"has a class that is not one of {', '.join(map(str, range(classes)))}"
        else:
            x, y = (round(float(part), POINT_DECIMALS) for part in parts[:2])
            if not (abs(x) <= limit and abs(y) <= limit):
                why = f"lies outside ±{limit:g}"
            elif len(out) >= most:
                problems.append(f"has more than {most} points; using the first {most}")
                break
            else:
                out.append((x + 0.0, y + 0.0, int(parts[2])))  # + 0.0: no "-0" in the URL
        if why:
            problems.append(f"point {k + 1} “{visitor_text(item)}” {why}; dropping it")
    if len(problems) > SHOWN_PROBLEMS:  # a warning repeats only a little of a stranger's text
        problems = [*problems[:SHOWN_PROBLEMS],
                    f"and {len(problems) - SHOWN_PROBLEMS} more problems"]
    return tuple(out), problems


SHOWN_PROBLEMS = 3


_DECIMAL = re.compile(r"[+-]?(\d{1,3}(\.\d*)?|\.\d+)")


def _parse_one(f: Any, raw: str) -> tuple[Any, str | None]:
    """(value, None) if `raw` is valid for field f, else (default, reason)."""
    meta = f.metadata
    default = f.default
    if len(raw) > value_limit(f):
        return default, "is too long"
    if "points" in meta:
        found, problems = parse_points(raw, most=meta["points"], classes=meta["classes"],
                                       limit=meta["hi"])
        return found, ("; ".join(problems) + "; keeping the rest") if problems else None
    if "choices" in meta:
        if raw in meta["choices"]:
            return raw, None
        return default, f"is not one of {', '.join(meta['choices'])}"
    if "flag" in meta:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True, None
        if raw.lower() in ("0", "false", "no", "off", ""):
            return False, None
        return default, "must be 0 or 1"
    lo, hi = meta["lo"], meta["hi"]
    is_int = isinstance(default, int)
    try:
        value = int(raw) if is_int else float(raw)
    except ValueError:
        return default, f"is not {'a whole number' if is_int else 'a number'}"
    if not math.isfinite(value):
        return default, "is not a finite number"
    if not lo <= value <= hi:
        clamped = min(max(value, lo), hi)
        clamped = int(clamped) if is_int else float(clamped)  # the field's type, not lo's or hi's
        return clamped, f"is outside [{lo}, {hi}]; using {clamped}"
    return value, None


def from_query(cls: type[S], params: Mapping[str, Any]) -> tuple[S, list[str]]:
    """Build a scene of type `cls` from query parameters; return it and warnings for bad values.

    params maps names to a string or a list of strings (the last one counts). Unknown names are
    ignored; missing names take their defaults. Never raises.
    """
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name not in params:
            continue
        raw = params[f.name]
        if isinstance(raw, list | tuple):
            raw = raw[-1] if raw else ""
        raw = str(raw).strip()
        value, problem = _parse_one(f, raw)
        if problem and "points" in f.metadata and "too long" not in problem:
            warnings.append(f"URL parameter {f.name}: {problem}")
        elif problem:
            warnings.append(f"URL parameter {f.name} = “{visitor_text(raw)}” {problem}"
                            + ("" if "using" in problem else f"; using {f.default or 'none'}"))
        values[f.name] = value
    return cls(**values), warnings  # type: ignore[call-arg]


def unknown_names(cls: type, names: Iterable[str]) -> list[str]:
    """A warning for each query parameter that is not a field of `cls` (nor Streamlit's own, nor
    `show`), with the name shown inert: a typo (`esp=0.3`) is pointed out instead of silently
    ignored."""
    known = ({f.name for f in fields(cls)}  # type: ignore[arg-type]
             | STREAMLIT_PARAMS | {SHOW_PARAM})
    return [f"URL parameter “{visitor_text(str(name))}” is not a setting of this page; "
            "ignoring it" for name in names if name not in known]


def shown_controls(cls: type, params: Mapping[str, Any]) -> tuple[frozenset[str] | None,
                                                                  list[str]]:
    """A presenter URL's `show=eps,attack`: the names of the controls to show (None: no `show`,
    every control is shown; empty: only the figures), and a warning for each name that is not a
    setting of `cls`. In the style of TensorFlow Playground's per-control hiding: a speaker's
    link can leave only the ε slider beside the figure. Never raises."""
    if SHOW_PARAM not in params:
        return None, []
    raw = params[SHOW_PARAM]
    if isinstance(raw, list | tuple):
        raw = raw[-1] if raw else ""
    raw = str(raw)
    if len(raw) > 16 * MAX_VALUE_CHARS:
        return frozenset(), [f"URL parameter {SHOW_PARAM} is longer than {16 * MAX_VALUE_CHARS} "
                             "characters; showing no controls"]
    names = [n.strip() for n in raw.split(",") if n.strip()]
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    warnings = [f"URL parameter {SHOW_PARAM} names “{visitor_text(n)}”, which is not a control "
                "of this page; ignoring it" for n in dict.fromkeys(names) if n not in known]
    shown = frozenset(n for n in names if n in known)
    if warnings:
        # Once, on the last warning: what the page does now, and the names that would work.
        outcome = ("" if shown else f". As {SHOW_PARAM} names no control of this page, only "
                   "the figures are shown")
        controls = ", ".join(f.name for f in fields(cls))  # type: ignore[arg-type]
        warnings[-1] += f"{outcome} (this page's controls: {controls})"
    return shown, warnings


def _float_text(value: float) -> str:
    """The shortest text that reads back as exactly `value`: "0.1", "2", "0.07421875"."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def to_query(scene: Any) -> dict[str, str]:
    """The scene as query parameters (all fields, so a copied URL is complete)."""
    out: dict[str, str] = {}
    for f in fields(scene):
        value = getattr(scene, f.name)
        if "points" in f.metadata:
            out[f.name] = ";".join(point_text(p) for p in value)
        elif isinstance(value, bool):
            out[f.name] = "1" if value else "0"
        elif isinstance(value, float):
            out[f.name] = _float_text(value)
        else:
            out[f.name] = str(value)
    return out


def bounds_of(cls: type, name: str) -> tuple[Any, Any]:
    """(lo, hi) of a numeric field, for the slider that edits it."""
    meta = next(f for f in fields(cls) if f.name == name).metadata
    return meta["lo"], meta["hi"]


def choices_of(cls: type, name: str) -> tuple[str, ...]:
    """The allowed values of a choice field, for the select box that edits it."""
    return next(f for f in fields(cls) if f.name == name).metadata["choices"]


def defaults_of(cls: type) -> dict[str, Any]:
    return {f.name: f.default for f in fields(cls) if f.default is not MISSING}


# Black-box attacks (Square reads the scores, HopSkipJump only the predicted label) come last.
BOUNDARY_ATTACKS = ("fgsm", "bim", "pgd", "pgd-l2", "deepfool", "square", "square-l2", "hsja")
DIGIT_ATTACKS = ("fgsm", "bim", "pgd", "mifgsm", "deepfool", "cw-l2", "apgd-ce", "apgd-dlr",
                 "square", "square-l2", "hsja")


@dataclass(frozen=True)
class BoundaryScene:
    """Everything that fixes the picture on the boundary page (2-D data, model, attack)."""

    dataset: str = choice("moons", TOY_DATASETS)
    n: int = number(200, 20, 1000)
    noise: float = number(0.15, 0.0, 0.5)
    seed: int = number(0, 0, 9999)
    model: str = choice("mlp", TOY_MODELS)
    width: int = number(32, 2, 128)
    depth: int = number(2, 1, 4)
    attack: str = choice("fgsm", BOUNDARY_ATTACKS)
    eps: float = number(0.3, 0.0, 2.0)
    steps: int = number(10, 1, 100)
    robust: bool = flag(False)
    talk: bool = flag(False)
    # the highlighted point's index, -1 = none (the page checks it against the points shown)
    point: int = number(-1, -1, 999 + MAX_ADDED_POINTS)
    truth: bool = flag(False)  # show the exact and certified answers beside the attack
    add: tuple[Point, ...] = points()  # points the visitor added: (x, y, class), feature units


# A black-box attack's default budget on /digits. Square re-runs on every ε change, and a run
# that fails spends the whole budget on each of the gallery's 16 digits: at 500 queries one ε
# change cost 7.8 server CPU-s (load 9 on 2 cores), so 200. HopSkipJump's walk ignores ε (it is
# cached and capped), so the page gives it HSJA_QUERIES when a visitor picks it.
DIGIT_QUERIES = 200
HSJA_QUERIES = 1000


@dataclass(frozen=True)
class DigitsScene:
    """Everything that fixes the picture on the digits page (model, attack, digit, target).

    eps is in the attack's own norm: for the L∞ attacks (FGSM, BIM, PGD, MI-FGSM, APGD, Square)
    a per-pixel radius on the [0, 1] scale (0.1 = 25.5/255), at most 0.5; for the L2 attacks
    (DeepFool, C&W, Square-L2, HopSkipJump) a radius over the whole 28×28 image, at most 10. The URL accepts [0, 10] and
    `checked()` applies the attack's own range. index is a test digit (0-999); target is "none"
    or a class "0".."9" for the attacks that have a targeted mode. queries is a black-box
    attack's budget of model calls per digit (Square, HopSkipJump); steps is for the others.
    """

    # norm -> (lowest, highest, slider step, default) of eps. One arrow-key press is a step:
    # 0.01 (2.55/255) reaches the usual ε = 0.1 in ten presses.
    EPS_RANGES: ClassVar[dict[str, tuple[float, float, float, float]]] = {
        "linf": (0.0, 0.5, 0.01, 0.1),
        "l2": (0.0, 10.0, 0.1, 2.0),
    }

    model: str = choice("mnist-cnn", PRETRAINED)
    attack: str = choice("fgsm", DIGIT_ATTACKS)
    eps: float = number(0.1, 0.0, 10.0)
    steps: int = number(10, 1, 200)
    queries: int = number(DIGIT_QUERIES, 10, 5000)
    # Test digit #2, a 0, which FGSM at the default ε = 0.1 turns into a 4 for mnist-cnn: the
    # page opens on the phenomenon, not on an attack that failed.
    index: int = number(2, 0, 999)
    target: str = choice("none", ("none", *map(str, range(10))))
    talk: bool = flag(False)

    @property
    def norm(self) -> str:
        """The norm ε is measured in: "linf" or "l2"."""
        return ATTACKS[self.attack].norm

    @property
    def work(self) -> int:
        """The attack's effort as advcore.playground.digits takes it (its `steps` argument): the query
        budget of a black-box attack, the steps of any other."""
        return self.queries if ATTACKS[self.attack].black_box else self.steps

    @property
    def target_class(self) -> int | None:
        """The target as a class, or None for an untargeted attack."""
        return None if self.target == "none" else int(self.target)

    def checked(self) -> tuple[DigitsScene, list[str]]:
        """This scene made consistent across fields, and a warning for each thing changed.

        ε is clamped to the attack's range (an L∞ ε above 0.5 means nothing on [0, 1] pixels);
        a target is dropped for an attack without a targeted mode. Never raises.
        """
        scene, warnings = self, []
        spec = ATTACKS[self.attack]
        lo, hi, _, _ = self.EPS_RANGES[spec.norm]
        if not lo <= self.eps <= hi:
            clamped = min(max(self.eps, lo), hi)
            unit = "a per-pixel L∞ radius" if spec.norm == "linf" else "an L2 radius"
            warnings.append(f"eps={self.eps:g} is outside [{lo:g}, {hi:g}], the range of "
                            f"{spec.label} (ε is {unit}); using {clamped:g}")
            scene = replace(scene, eps=clamped)
        if self.target != "none" and not spec.targeted:
            warnings.append(f"{spec.label} has no targeted mode; ignoring target={self.target}")
            scene = replace(scene, target="none")
        return scene, warnings



ROBUSTNESS_SECTIONS = ("curves", "training", "transfer")
ROBUSTNESS_ATTACKS = ("fgsm", "pgd")


@dataclass(frozen=True)
class RobustnessScene:
    """Everything that fixes the picture on the robustness lab.

    section: the open tab. papers: overlay the published numbers on the curves.
    attack, eps, steps, n: the MNIST setting of the comparison and the transfer matrix; ε is an
    L∞ radius on the [0, 1] pixel scale (0.25 = 63.75/255); steps is PGD's iteration count; n is
    how many test digits (the first n of the test split) live computations use.
    dataset, noise, seed, toy_attack, toy_eps: the 2-D adversarial-training demo; toy_eps is in
    standardised feature units.
    """

    section: str = choice("curves", ROBUSTNESS_SECTIONS)
    papers: bool = flag(True)
    attack: str = choice("fgsm", ROBUSTNESS_ATTACKS)
    eps: float = number(0.25, 0.0, 0.5)
    steps: int = number(20, 1, 100)
    n: int = number(1000, 50, 1000)
    dataset: str = choice("moons", TOY_DATASETS)
    noise: float = number(0.2, 0.0, 0.5)
    seed: int = number(0, 0, 9999)
    toy_attack: str = choice("pgd", ROBUSTNESS_ATTACKS)
    toy_eps: float = number(0.3, 0.05, 1.0)
    talk: bool = flag(False)


HOW_NORMS = ("linf", "l2")


@dataclass(frozen=True)
class HowScene:
    """Everything that fixes the pictures on the "How it works" page.

    model, index: the shipped model and the test digit (0-999) whose gradient is shown.
    eps: the L∞ radius on the [0, 1] pixel scale for the digit sections (0.1 = 25.5/255).
    norm, ball, steps, point, seed: PGD on the 2-D moons; ball is ε in standardised feature
    units, point one of the 200 points, seed fixes PGD's random start.
    """

    model: str = choice("mnist-linear", PRETRAINED)
    index: int = number(0, 0, 999)
    eps: float = number(0.1, 0.01, 0.5)
    norm: str = choice("linf", HOW_NORMS)
    ball: float = number(0.4, 0.05, 1.0)
    steps: int = number(10, 1, 50)
    point: int = number(130, 0, 199)
    seed: int = number(0, 0, 9999)
    talk: bool = flag(False)


@dataclass(frozen=True)
class MaskingScene:
    """Everything that fixes the picture on the gradient-masking lab.

    defence: the fake defence shown (a key of advcore.playground.masking.FAKES; each has its own fixed ε).
    dataset, toy_defence, toy_eps: the 2-D demo: the /boundary page's default network trained on
    `dataset`, wrapped in `toy_defence` (a key of advcore.playground.masking.PLANE_FAKES), attacked
    at the L∞ radius toy_eps in standardised feature units.
    """

    defence: str = choice("quantized", ("quantized", "saturated", "noisy"))
    dataset: str = choice("moons", TOY_DATASETS)
    toy_defence: str = choice("quantized", ("quantized", "saturated"))
    toy_eps: float = number(0.3, 0.05, 1.0)
    talk: bool = flag(False)
