"""URL state: every scene round-trips through query parameters, and garbage never raises.

The scenes are found in advcore.playground.state (every frozen dataclass whose fields are declared with
`choice`, `number` or `flag`), so a new page's scene is fuzzed by being written there.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advcore.playground import state
from advcore.playground.state import choice, flag, from_query, number, to_query

pytestmark = pytest.mark.usefixtures("one_thread")


@dataclasses.dataclass(frozen=True)
class Scene:
    """A scene of every field kind, independent of the pages' own scenes."""

    kind: str = choice("a", ("a", "b", "long-name"))
    count: int = number(5, 1, 100)
    ratio: float = number(0.25, 0.0, 2.0)
    seed: int = number(0, 0, 9999)
    on: bool = flag(False)


def _is_scene(obj: Any) -> bool:
    return (isinstance(obj, type) and dataclasses.is_dataclass(obj)
            and obj.__dataclass_params__.frozen
            and all({"choices", "lo", "flag"} & set(f.metadata) for f in dataclasses.fields(obj)))


SCENES = [Scene] + [obj for obj in vars(state).values() if _is_scene(obj)]


def points_of(f: dataclasses.Field) -> st.SearchStrategy:
    """Up to the field's most points, coordinates rounded as the URL keeps them."""
    lo, hi = f.metadata["lo"], f.metadata["hi"]
    coord = st.floats(lo, hi, allow_nan=False).map(lambda v: round(v, state.POINT_DECIMALS) + 0.0)
    one = st.tuples(coord, coord, st.integers(0, f.metadata["classes"] - 1))
    return st.lists(one, max_size=f.metadata["points"]).map(tuple)


def value_of(f: dataclasses.Field) -> st.SearchStrategy:
    meta = f.metadata
    if "points" in meta:
        return points_of(f)
    if "choices" in meta:
        return st.sampled_from(meta["choices"])
    if "flag" in meta:
        return st.booleans()
    if isinstance(f.default, int):
        return st.integers(meta["lo"], meta["hi"])
    return st.floats(meta["lo"], meta["hi"], allow_nan=False)


def scenes(cls: type) -> st.SearchStrategy:
    return st.fixed_dictionaries({f.name: value_of(f) for f in dataclasses.fields(cls)}).map(
        lambda kw: cls(**kw)
    )


def assert_valid(scene: Any) -> None:
    """Every field holds a value its metadata allows, of the field's own type."""
    for f in dataclasses.fields(scene):
        value, meta = getattr(scene, f.name), f.metadata
        if "points" in meta:
            assert isinstance(value, tuple) and len(value) <= meta["points"], f.name
            for x, y, c in value:
                assert meta["lo"] <= x <= meta["hi"] and meta["lo"] <= y <= meta["hi"]
                assert c in range(meta["classes"]) and type(c) is int
                assert round(x, state.POINT_DECIMALS) == x
        elif "choices" in meta:
            assert value in meta["choices"], f.name
        elif "flag" in meta:
            assert isinstance(value, bool), f.name
        else:
            assert type(value) is type(f.default), (f.name, value)
            assert meta["lo"] <= value <= meta["hi"], (f.name, value)
            assert math.isfinite(value)


@pytest.mark.parametrize("cls", SCENES, ids=lambda c: c.__name__)
def test_defaults_are_valid_and_round_trip_silently(cls):
    scene = cls()
    assert_valid(scene)
    assert from_query(cls, to_query(scene)) == (scene, [])
    assert from_query(cls, {}) == (scene, [])
    hash(scene)  # a cache key


@pytest.mark.parametrize("cls", SCENES, ids=lambda c: c.__name__)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_every_valid_scene_round_trips_exactly(cls, data):
    scene = data.draw(scenes(cls))
    query = to_query(scene)
    assert set(query) == {f.name for f in dataclasses.fields(cls)}
    limits = {f.name: state.value_limit(f) for f in dataclasses.fields(cls)}
    assert all(isinstance(v, str) and len(v) <= limits[k] for k, v in query.items())
    assert from_query(cls, query) == (scene, [])


query_values = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "-0", "1e-400", "0x10", "1_0", " 7 ",
                     "true", "TRUE", "", "١٢", "1.5", "99999999999999999999", "\x00"]),
    st.integers().map(str),
    st.floats().map(repr),
)


@pytest.mark.parametrize("cls", SCENES, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_garbage_never_raises_and_gives_a_valid_scene(cls, data):
    names = [f.name for f in dataclasses.fields(cls)]
    keys = st.one_of(st.sampled_from(names), st.text(max_size=10))
    values = st.one_of(query_values, st.lists(query_values, max_size=3))
    params = data.draw(st.dictionaries(keys, values, max_size=len(names) + 2))
    scene, warnings = from_query(cls, params)
    assert isinstance(scene, cls)
    assert_valid(scene)
    assert all(isinstance(w, str) and w for w in warnings)
    # A warning per changed value; values that came through unchanged need no warning.
    assert len(warnings) <= len(params)


@pytest.mark.parametrize(
    "params, expected, warned",
    [
        ({"count": "abc"}, Scene(), "count = “abc” is not a whole number; using 5"),
        ({"count": "2.0"}, Scene(), "is not a whole number"),
        ({"count": "1000"}, Scene(count=100), "is outside [1, 100]; using 100"),
        ({"count": "-3"}, Scene(count=1), "using 1"),
        ({"ratio": "nan"}, Scene(), "is not a finite number"),
        ({"ratio": "-inf"}, Scene(), "is not a finite number"),
        ({"ratio": "5"}, Scene(ratio=2.0), "is outside [0.0, 2.0]"),
        ({"kind": "c"}, Scene(), "is not one of a, b, long-name"),
        ({"kind": "A"}, Scene(), "is not one of"),
        ({"on": "maybe"}, Scene(), "must be 0 or 1"),
        ({"seed": "9" * 65}, Scene(), "is too long"),
    ],
)
def test_bad_values_fall_back_with_a_warning(params, expected, warned):
    scene, warnings = from_query(Scene, params)
    assert scene == expected
    assert len(warnings) == 1 and warned in warnings[0]


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"count": ["3", "7"]}, Scene(count=7)),  # repeated parameter: the last one counts
        ({"count": []}, Scene()),
        ({"count": " 8 "}, Scene(count=8)),
        ({"on": "1"}, Scene(on=True)),
        ({"on": "yes"}, Scene(on=True)),
        ({"on": ""}, Scene(on=False)),
        ({"ratio": "0.1"}, Scene(ratio=0.1)),
        ({"unknown": "x", "kind": "b"}, Scene(kind="b")),
    ],
)
def test_accepted_spellings(params, expected):
    scene, _ = from_query(Scene, params)
    assert scene == expected


def test_clamped_floats_keep_their_type():
    scene, _ = from_query(Scene, {"ratio": "-1"})
    assert scene.ratio == 0.0 and type(scene.ratio) is float


@pytest.mark.parametrize("value", [0.1234567, 1 / 3, 1e-7, 1.9999999999, 0.30000000000000004])
def test_floats_survive_the_url_exactly(value):
    scene = Scene(ratio=value)
    assert from_query(Scene, to_query(scene))[0].ratio == value


def test_short_floats_stay_short_in_the_url():
    assert to_query(Scene(ratio=0.1))["ratio"] == "0.1"
    assert to_query(Scene(ratio=2.0))["ratio"] == "2"


def test_helpers_read_the_field_metadata():
    assert state.bounds_of(Scene, "count") == (1, 100)
    assert state.choices_of(Scene, "kind") == ("a", "b", "long-name")
    assert state.defaults_of(Scene) == {"kind": "a", "count": 5, "ratio": 0.25, "seed": 0,
                                        "on": False}


# --- a stranger's text shown back -----------------------------------------------------------------

ASCII_PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


@given(st.text(max_size=80))
def test_visitor_text_escapes_every_markdown_character(raw: str) -> None:
    shown = state.visitor_text(raw)
    assert "\n" not in shown and "\r" not in shown
    # Every punctuation character is escaped, and preceded by a zero-width space.
    for i, ch in enumerate(shown):
        if ch in ASCII_PUNCTUATION and (i == 0 or shown[i - 1] != "\\"):
            assert ch == "\\" and shown[i + 1] in ASCII_PUNCTUATION, (raw, shown)
    unescaped = shown.replace("\u200b\\", "")
    assert len(unescaped) <= state.SHOWN_CHARS + 1


def test_visitor_text_reads_as_typed() -> None:
    assert state.visitor_text("0.3") == "0\u200b\\.3"
    assert state.visitor_text("a\nb") == "a⏎b"
    assert state.visitor_text("x\u202ey") == "x�y"  # a bidi override cannot reorder the warning
    assert state.visitor_text("9" * 40).endswith("…")


def test_hostile_values_and_unknown_names_are_warned_inert() -> None:
    scene, warnings = state.from_query(state.BoundaryScene, {"dataset": "x`\n\n[L](//e.vil)"})
    assert scene.dataset == "moons"
    assert "[L]" not in warnings[0] and "\u200b\\[L\u200b\\]" in warnings[0]
    unknown = state.unknown_names(state.BoundaryScene, ["eps", "esp", "embed", "[a](//b)"])
    assert len(unknown) == 2 and "esp" in unknown[0] and "\u200b\\[a" in unknown[1]


# --- points a visitor adds on the boundary map -----------------------------------------------------


def test_added_points_round_trip_through_the_url():
    scene = state.BoundaryScene(add=((0.52, -1.1, 1), (0.0, 2.0, 0), (-5.99, 5.99, 1)))
    query = to_query(scene)
    assert query["add"] == "0.52,-1.1,1;0,2,0;-5.99,5.99,1"
    assert from_query(state.BoundaryScene, query) == (scene, [])
    assert to_query(state.BoundaryScene())["add"] == ""
    full = state.BoundaryScene(add=tuple((-5.99, -5.99, 1) for _ in range(30)))
    assert len(to_query(full)["add"]) <= state.MAX_POINTS_CHARS
    assert from_query(state.BoundaryScene, to_query(full))[0] == full


@pytest.mark.parametrize("raw, kept, warned", [
    ("0.5,0.5,1;bad", ((0.5, 0.5, 1),), "point 2 “bad” is not x,y,class"),
    ("0.5,0.5,2", (), "has a class that is not one of 0, 1"),
    ("9,0,1;1,1,0", ((1.0, 1.0, 0),), "lies outside ±6"),
    ("nan,0,1", (), "not a plain decimal number"),
    ("1e3,0,1", (), "not a plain decimal number"),
    ("0x1,0,1", (), "not a plain decimal number"),
    ("0.5,0.5", (), "is not x,y,class"),
    ("0.5,0.5,1,7", (), "is not x,y,class"),
    ("0.5,0.5,1.0", (), "has a class"),
    ("[x](//e.vil),1,1", (), "\u200b\\[x\u200b\\]"),
    (";".join(["1,1,1"] * 31), tuple((1.0, 1.0, 1) for _ in range(30)), "more than 30 points"),
    ("1," * 400, (), "is too long"),
])
def test_bad_added_points_are_dropped_with_a_warning(raw, kept, warned):
    scene, warnings = from_query(state.BoundaryScene, {"add": raw})
    assert scene.add == kept
    assert len(warnings) == 1 and warned in warnings[0], warnings
    assert warnings[0].startswith("URL parameter add")


def test_added_points_are_rounded_and_spaces_ignored():
    scene, warnings = from_query(state.BoundaryScene, {"add": " 0.123 , -0.004 , 0 ; ; "})
    assert warnings == [] and scene.add == ((0.12, 0.0, 0),)


def test_many_bad_points_quote_only_a_few():
    raw = ";".join(f"<b>{k}</b>,0,1" for k in range(30))
    scene, warnings = from_query(state.BoundaryScene, {"add": raw})
    assert scene.add == () and len(warnings) == 1
    assert warnings[0].count("dropping it") == state.SHOWN_PROBLEMS
    assert "and 27 more problems" in warnings[0]


def test_a_presenter_url_names_the_controls_it_shows():
    from advcore.playground.state import BoundaryScene, DigitsScene, shown_controls, unknown_names

    assert shown_controls(BoundaryScene, {}) == (None, [])  # no `show`: every control
    assert shown_controls(BoundaryScene, {"show": ""}) == (frozenset(), [])  # only the figures
    shown, warnings = shown_controls(BoundaryScene, {"show": ["attack", " eps ,steps,eps"]})
    assert shown == {"eps", "steps"} and not warnings  # the last value counts
    shown, warnings = shown_controls(DigitsScene, {"show": "eps,width,[x](//e.vil)"})
    assert shown == {"eps"}  # width is /boundary's, not /digits'
    assert len(warnings) == 2 and "“width”" in warnings[0]
    assert "](" not in warnings[1]  # the visitor's text is shown inert
    assert "this page's controls: " in warnings[1] and ", eps," in warnings[1]  # what works
    assert "only the figures" not in warnings[1]  # eps is still shown
    shown, warnings = shown_controls(BoundaryScene, {"show": "epsilon"})
    assert shown == frozenset() and len(warnings) == 1
    assert "only the figures are shown" in warnings[0] and "eps" in warnings[0]
    assert not unknown_names(DigitsScene, ["show", "eps"])  # `show` is a known parameter
    shown, warnings = shown_controls(BoundaryScene, {"show": "eps," * 1000})
    assert shown == frozenset() and "longer than" in warnings[0]


def test_the_presenter_style_is_built_from_field_names_only():
    from advcore.playground.state import BoundaryScene, DigitsScene
    from pages import ui

    css = ui.presenter_css(DigitsScene, frozenset({"eps", "}</style><script>", "width"}))
    # ε's own key and its per-norm sliders' (digits.eps.linf, digits.eps.l2) stay in view
    assert ".st-key-digits-eps," in css and '[class*="st-key-digits-eps-"]' in css
    assert "script" not in css and "width" not in css and css.count("</style>") == 1
    assert "st-key-boundary-" not in ui.presenter_css(BoundaryScene, frozenset())  # none kept


def test_every_page_keys_its_widgets_by_one_convention():
    """A setting's controls are "<page>.<field>" or "<page>.<field>.<part>", on every page with
    a scene: what a presenter URL keeps in view is found by that alone."""
    import re
    from dataclasses import fields

    from pages import ui

    assert {b.cls for b in ui.BINDINGS.values()} == {
        state.BoundaryScene, state.DigitsScene, state.HowScene, state.RobustnessScene,
        state.MaskingScene}
    assert len({b.page for b in ui.BINDINGS.values()}) == len(ui.BINDINGS)  # no shared prefix
    for binding in ui.BINDINGS.values():
        for f in fields(binding.cls):
            own, parts = binding.control_selectors(f.name)
            assert own == ".st-key-" + re.sub(r"[^a-zA-Z0-9_-]", "-", binding.key(f.name))
            assert binding.key(f.name) == f"{binding.page}.{f.name}"
            assert binding.key(f.name, "x") == f"{binding.page}.{f.name}.x"
            # a sibling field's controls never match (eps is not toy_eps, n is not noise)
            for g in fields(binding.cls):
                if g.name != f.name:
                    sibling = "st-key-" + re.sub(r"[^a-zA-Z0-9_-]", "-",
                                                 binding.key(g.name, "part"))
                    assert parts.split('"')[1] not in sibling
