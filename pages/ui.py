"""Streamlit-side helpers shared by every page: cached loaders, scene <-> URL, messages, talk mode.

Caching lives here and nowhere else. Models are cached once per process with st.cache_resource
and shared by every browser session, so nothing here (or in advcore) may mutate them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import numpy as np
import streamlit as st
import torch
from torch import nn

from advcore import evaluate, models, preprocess, sweep
from advcore.attacks import get_attack
from advcore.data import mnist, toy_dataset
from advcore.playground import digits, explain, mistakes, robustness, state
from pages import pool
from pages.talk import TALK_CSS, audience_qr, scene_url, talk_mode  # noqa: F401  (the pages' ui.*)

S = TypeVar("S")

# Every model here is tiny, and Streamlit already serves sessions in parallel threads: one torch
# thread per operation avoids OpenMP threads spinning against each other. Measured: training the
# 2-D MLP took 0.15 s on one thread and 0.5-25 s on two once the CPU was shared.
torch.set_num_threads(1)


def _leave_pages_folder_mode() -> None:
    """Make a direct link work on a freshly started server.

    Streamlit treats an app with a pages/ folder as a v1 multipage app until app.py's
    st.navigation has run once in the process. Until then a visitor who opens /boundary directly
    gets pages/boundary.py run on its own: no wide layout, a file-name menu. Flip the flag and
    rerun once, so this first visit goes through app.py like every later one.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if st.runtime.exists():
            _rerun_after_import()


def _rerun_after_import() -> None:
    """Ask for a rerun without stopping here. st.rerun() stops the script at once, which here is
    in the middle of `import pages.ui`: that import fails, and on a fresh server the sessions
    importing it at the same moment got "cannot import name 'ui'" (8 audience phones opening
    the page at once: `python benchmarks/load.py --audience 10 --replicas 2`). Queued instead,
    the rerun happens at the page's first element, after the import has finished."""
    from streamlit.runtime.scriptrunner_utils.script_requests import RerunData
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or ctx.script_requests is None:
        return
    ctx.script_requests.request_rerun(RerunData(
        query_string=ctx.query_string, page_script_hash=ctx.page_script_hash,
        cached_message_hashes=ctx.cached_message_hashes, context_info=ctx.context_info))


_leave_pages_folder_mode()


# --- cached loaders ----------------------------------------------------------------------------


@st.cache_resource(show_spinner="Loading model…")
def pretrained_model(name: str) -> nn.Module:
    """A shipped MNIST model, loaded once per process (raises models.AssetError)."""
    return models.pretrained(name)


def pretrained_or_stop(name: str) -> nn.Module:
    """The shipped model `name`, or a clear error on the page (and the page stops) if its
    weight file is missing or corrupt. Other pages and sessions keep working."""
    try:
        return pretrained_model(name)
    except models.AssetError as exc:
        st.error(f"Model **{name}** cannot be loaded: {exc}")
        st.stop()
        raise  # unreachable: st.stop() raises


@st.cache_data(show_spinner=False, max_entries=64)
def toy_data(name: str, n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return toy_dataset(name, n=n, noise=noise, seed=seed)


# --- scenes and the URL ------------------------------------------------------------------------


def scene_from_url(cls: type[S]) -> S:
    """The page's scene from st.query_params; each bad parameter gets a visible warning.
    A presenter URL (`show=…`) hides every control it does not name (see `presenter`)."""
    params = {k: st.query_params.get_all(k) for k in st.query_params}
    scene, warnings = state.from_query(cls, params)
    shown, show_warnings = state.shown_controls(cls, params)
    for w in warnings + state.unknown_names(cls, params) + show_warnings:
        st.warning(w, icon="⚠️")
    if shown is not None:
        presenter(cls, shown)
    return scene


# --- one binding between URL, widgets and scene ----------------------------------------------
# Every page keys its widgets one way: "<page>.<field>" for the control that edits a field of the
# page's scene, "<page>.<field>.<part>" for a further control of the same setting (the digit
# chooser's source and canvas, a tab's own copy of ε on /robustness), and "<page>.<name>", with a
# name that is no field, for everything else (figures, containers, session state). A presenter
# URL (`show=eps`) finds a setting's controls by this convention alone.


@dataclass(frozen=True)
class Binding:
    """How one page's scene, its URL and its widgets meet.

    cls: the page's scene dataclass (advcore.playground.state); page: its widget-key prefix."""

    cls: type
    page: str

    def key(self, name: str, *parts: object) -> str:
        """The widget key of setting `name` (or of one more of its controls: `parts`)."""
        return ".".join((self.page, name, *map(str, parts)))

    def bounds(self, name: str) -> tuple[Any, Any]:
        """(lo, hi) of numeric field `name`: the slider's range is the URL's range."""
        return state.bounds_of(self.cls, name)

    def choices(self, name: str) -> tuple[str, ...]:
        return state.choices_of(self.cls, name)

    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self.cls))

    def from_url(self) -> Any:
        """The page's scene from the URL (see scene_from_url)."""
        return scene_from_url(self.cls)

    def seed(self, scene: Any, names: Iterable[str] | None = None) -> None:
        """The first run of a session: each widget of `names` (every field by default) starts at
        the scene's value; later runs keep what the visitor set."""
        for name in self.names() if names is None else names:
            st.session_state.setdefault(self.key(name), getattr(scene, name))

    def read(self, names: Iterable[str] | None = None, **values: Any) -> Any:
        """The scene the widgets of `names` (every field by default) hold now, with `values`
        on top; a field neither names nor values give keeps its default."""
        held = {n: st.session_state[self.key(n)]
                for n in (self.names() if names is None else names)}
        return self.cls(**{**held, **values})

    def control_selectors(self, name: str) -> list[str]:
        """CSS selectors of the containers Streamlit gives setting `name`'s controls: the class
        of key "<page>.<name>" and every class of a key "<page>.<name>.<part>"."""
        import re

        cls = "st-key-" + re.sub(r"[^a-zA-Z0-9_-]", "-", self.key(name))
        return [f".{cls}", f'[class*="{cls}-"]']


BOUNDARY = Binding(state.BoundaryScene, "boundary")
DIGITS = Binding(state.DigitsScene, "digits")
HOW = Binding(state.HowScene, "how")
ROBUSTNESS = Binding(state.RobustnessScene, "robustness")
MASKING = Binding(state.MaskingScene, "masking")
BINDINGS = {b.cls: b for b in (BOUNDARY, DIGITS, HOW, ROBUSTNESS, MASKING)}

# Widgets, expanders and popovers: what a presenter URL hides unless it names them.
_CONTROLS = ", ".join(f"[data-testid='{t}']" for t in (
    "stSlider", "stSelectbox", "stMultiSelect", "stNumberInput", "stTextInput", "stCheckbox",
    "stRadio", "stButton", "stDownloadButton", "stButtonGroup", "stFileUploader",
    "stExpander", "stPopover", "stCameraInput", "stColorPicker", "stDateInput"))


def presenter_css(cls: type, shown: frozenset[str]) -> str:
    """The style that hides every control of the page but those of `shown` (figures, text and
    metrics stay). Built only from the field names of `cls` that `shown` holds, never from a
    visitor's text: a name that is not a field is dropped here too."""
    names = sorted(shown & {f.name for f in fields(cls)})
    keep = ", ".join(c for name in names for c in BINDINGS[cls].control_selectors(name))
    rules = [f"[data-testid='stElementContainer']:has({_CONTROLS}) {{display: none;}}",
             "[data-testid='stExpander'], [data-testid='stPopover'] {display: none;}",
             "[data-testid='stSidebarUserContent'] [data-testid='stElementContainer'],"
             " [data-testid='stSidebarUserContent'] [data-testid='stHeading'] {display: none;}"]
    if keep:
        rules.append(f"{keep} {{display: flex !important;}}")
    return "<style>" + "\n".join(rules) + "</style>"


def presenter(cls: type, shown: frozenset[str]) -> None:
    """A presenter URL's page: CSS, not skipped widgets, hides the other controls, so a hidden
    control still holds its value (from the URL) and the page computes exactly what it would
    with the control in view."""
    st.markdown(presenter_css(cls, shown), unsafe_allow_html=True)


def write_url(scene: Any) -> None:
    """Put the scene in the URL so the address bar always reopens the same picture (a presenter
    URL keeps its `show`)."""
    wanted = state.to_query(scene)
    if state.SHOW_PARAM in st.query_params:
        wanted[state.SHOW_PARAM] = st.query_params.get(state.SHOW_PARAM)
    if {k: st.query_params.get(k) for k in wanted} != wanted:
        st.query_params.from_dict(wanted)


# --- exports for slides: generated when the button is pressed, not on every rerun --------------


def export_buttons(stem: str, *, gif: Any, mp4: Any, html: Any | None = None,
                   key: str) -> None:
    """GIF, MP4 (and optionally HTML) download buttons whose files are made on click.

    gif, mp4, html: callables with no arguments returning bytes / str. Streamlit runs them on a
    separate thread when the button is pressed, so a rerun never pays for an export."""
    cols = st.columns(3 if html is not None else 2)
    cols[0].download_button("Animated GIF", gif, f"{stem}.gif", mime="image/gif",
                            key=f"{key}.gif", on_click="ignore", icon=":material/gif_box:")
    cols[1].download_button("Video (MP4)", mp4, f"{stem}.mp4", mime="video/mp4",
                            key=f"{key}.mp4", on_click="ignore", icon=":material/movie:")
    if html is not None:
        cols[2].download_button("Figure (HTML, offline)", html, f"{stem}.html",
                                mime="text/html", key=f"{key}.html", on_click="ignore",
                                icon=":material/code:")


def boundary_exports(X: np.ndarray, grid: Any, attacked: Any,
                     spec_of: Callable[[], dict[str, Any]], *, url: str, what: str) -> None:
    """The boundary animation as GIF and MP4 (drawn with Pillow, no browser) and the page's own
    figure (`spec_of()`, built only when the HTML is asked for) as one offline HTML file, each
    stamped with the scene's URL, model and attack."""
    import re

    from advcore.playground import export
    from advcore.playground.figures.boundary import title_text

    stamp = [url, what]

    def frames() -> list[Any]:
        titles = [re.sub("<[^>]+>", "", title_text(attacked, f))
                  for f in range(len(attacked.frames))]
        return export.boundary_frames(X, grid, attacked, title=titles, stamp=stamp)

    stem = f"boundary-{attacked.attack}-eps{attacked.eps:g}"
    export_buttons(stem, gif=lambda: export.to_gif(frames()), mp4=lambda: export.to_mp4(frames()),
                   html=lambda: export.figure_html(spec_of(), title=what, stamp=stamp),
                   key="boundary.export")


def digit_morph_exports(model_name: str, attack: str, eps: float, steps: int,
                        result: digits.DigitAttack, url: str, frames: int) -> None:
    """The digit morph over ε (original, perturbation, adversarial per frame) as GIF and MP4,
    stamped with the scene's URL, model and attack."""
    from advcore.playground import export

    spec = get_attack(attack)
    stamp = [url, f"{model_name} · {spec.label} · ε up to {eps:g}"]

    def frames_of() -> list[Any]:
        model = pretrained_model(model_name)
        race = digits.logit_race(model, result, attack=attack, eps=eps, steps=steps,
                                 frames=frames)
        probs = torch.softmax(torch.from_numpy(race.logits), 1).numpy()
        return export.digit_frames(np.asarray(result.clean).reshape(28, 28), race.epsilons,
                                   race.images.reshape(-1, 28, 28), race.predictions,
                                   probs.max(1), unit=spec.norm, stamp=stamp)

    stem = f"digit-morph-{model_name}-{attack}-eps{eps:g}"
    export_buttons(stem, gif=lambda: export.to_gif(frames_of()),
                   mp4=lambda: export.to_mp4(frames_of()), key="digits.export")


# --- digits page: cached results, keyed by names and small arrays (never by model objects) ------
# Models are looked up by name inside each function, so a cache key is a few strings, numbers and
# at most one 28×28 digit. Every result is a frozen dataclass of numpy arrays.


def model_or_none(name: str) -> nn.Module | None:
    """The shipped model `name`, or None if its weights are missing or corrupt."""
    try:
        return pretrained_model(name)
    except models.AssetError:
        return None


def test_digit(index: int) -> tuple[np.ndarray, int]:
    """Test digit `index` (0-999) as (1, 1, 28, 28) float32 in [0, 1], and its true class."""
    x, y = mnist("test")
    return x[index : index + 1].numpy(), int(y[index])


@st.cache_data(show_spinner=False, max_entries=64)
def test_labels() -> np.ndarray:
    """(1000,) true classes of the test digits."""
    return mnist("test")[1].numpy()


@st.cache_data(show_spinner=False, max_entries=32)
def digit_from_upload(data: bytes) -> np.ndarray:
    """An uploaded PNG/JPEG as a digit (1, 1, 28, 28); raises preprocess.DigitImageError."""
    return preprocess.digit_from_bytes(data)


# ε is quantised to its slider's step before it becomes a cache key, so a hand-written URL
# (eps=0.1234) shares the slider's results, and every session moving the slider shares them.
# Each cache is bounded in entries and in bytes (max_size), besides server.maxCacheDataSize.


def quantised_eps(attack: str, eps: float) -> float:
    """ε rounded to the step of the attack's ε slider (state.DigitsScene.EPS_RANGES)."""
    from advcore.attacks import ATTACKS

    step = state.DigitsScene.EPS_RANGES[ATTACKS[attack].norm][2]
    return round(round(float(eps) / step) * step, 6)


@st.cache_data(show_spinner=False, max_entries=512, max_size="16MB")
def digit_sign(model: str, target: int | None, digit: np.ndarray,
               label: int) -> digits.GradientSign:
    """FGSM's gradient sign for one digit: computed once, whatever ε the visitor picks."""
    return digits.gradient_sign(pretrained_model(model), digit, [label], target=target)


@st.cache_data(show_spinner=False, max_entries=1024, max_size="32MB")
def test_signs(model: str, target: int | None, start: int, stop: int) -> digits.GradientSign:
    """FGSM's gradient signs for test digits [start, stop), batched as test_counts batches."""
    x, y = mnist("test")
    return digits.gradient_sign(pretrained_model(model), x[start:stop], y[start:stop],
                                target=target, should_stop=pool.should_stop)


@st.cache_data(show_spinner=False, max_entries=256, max_size="8MB")
def gallery_signs(model: str, target: int | None, start: int,
                  stop: int) -> digits.GradientSign:
    """FGSM's gradient signs for gallery digits [start, stop), batched as digit_gallery's."""
    x, y = mnist("test")
    idx = torch.as_tensor(digits.gallery_indices(y.numpy(), GALLERY_SIZE)[start:stop])
    return digits.gradient_sign(pretrained_model(model), x[idx], y[idx], target=target)


def _sign_for(attack: str, make: Any, *args: Any) -> digits.GradientSign | None:
    return make(*args) if attack == "fgsm" else None


# HopSkipJump's walk ignores ε (digits.CAP_ONLY): one cached uncapped run per digit (or gallery
# chunk) serves every ε, as FGSM's sign does. steps is its query budget.


@st.cache_data(show_spinner=False, max_entries=256, max_size="16MB")
def digit_walk(model: str, attack: str, steps: int, target: int | None, digit: np.ndarray,
               label: int) -> Any:
    return digits.walk(pretrained_model(model), torch.as_tensor(digit), torch.tensor([label]),
                       attack=attack, steps=steps, target=target)


@st.cache_data(show_spinner=False, max_entries=256, max_size="16MB")
def gallery_walk(model: str, attack: str, steps: int, target: int | None, start: int,
                 stop: int) -> Any:
    x, y = mnist("test")
    idx = torch.as_tensor(digits.gallery_indices(y.numpy(), GALLERY_SIZE)[start:stop])
    return digits.walk(pretrained_model(model), x[idx], y[idx], attack=attack, steps=steps,
                       target=target)


def digit_attack(model: str, attack: str, eps: float, steps: int, target: int | None,
                 digit: np.ndarray, label: int) -> digits.DigitAttack:
    """One digit attacked with one setting (see advcore.playground.digits.attack_digit)."""
    return _digit_attack(model, attack, quantised_eps(attack, eps), steps, target, digit, label)


@st.cache_data(show_spinner="Attacking the digit…", max_entries=512, max_size="16MB")
def _digit_attack(model: str, attack: str, eps: float, steps: int, target: int | None,
                  digit: np.ndarray, label: int) -> digits.DigitAttack:
    sign = _sign_for(attack, digit_sign, model, target, digit, label)
    walked = (digit_walk(model, attack, steps, target, digit, label)
              if attack in digits.CAP_ONLY else None)
    return digits.attack_digit(pretrained_model(model), digit, label, attack=attack, eps=eps,
                               steps=steps, target=target, sign=sign, walked=walked)


# Digit-gradients (one forward+backward pass of one digit) below which an iterative attack's
# call runs in the visitor's own thread: ~0.05-0.1 s on one core, less than a wait in the queue
# would cost. PGD-10's race (6 frames × 10 steps) and gallery chunks (4 digits × 10) stay here;
# its fragility bisection (3 models × ~9 bisection steps × 10) and test-set chunks go to the pool.
INLINE_GRADIENTS = 100


def _expensive(attack: str, gradients: float = float("inf")) -> bool:
    """Iterative attacks re-run per frame, bisection step or digit cost 10-100× FGSM: they go
    through the shared worker pool (pages/pool.py) once a call needs more than INLINE_GRADIENTS
    digit-gradients, and a black-box attack (up to its query budget in forward passes) always
    does; FGSM and the minimal attacks' capped re-use stay in the visitor's own thread."""
    from advcore.attacks import ATTACKS

    spec = ATTACKS[attack]
    return spec.black_box or (spec.iterative and not spec.minimal
                              and gradients > INLINE_GRADIENTS)


def _maybe_pooled(label: str, attack: str, gradients: float, fn: Any, *args: Any) -> Any:
    if not _expensive(attack, gradients):
        return fn(*args)
    try:
        return pool.compute(label, fn, *args)
    except pool.BudgetExceeded as exc:
        pool.explain_budget(exc, "Try fewer steps or FGSM.")
        st.stop()
        raise


def _pooled_long(label: str, smaller: str, fn: Any, *args: Any) -> Any:
    """fn(*args) in the pool's long lane (whole-table and training work), or the budget's
    message and a stopped page."""
    try:
        return pool.compute(label, fn, *args, lane="long")
    except pool.BudgetExceeded as exc:
        pool.explain_budget(exc, smaller)
        st.stop()
        raise


def digit_race(model: str, attack: str, eps: float, steps: int, target: int | None,
               digit: np.ndarray, label: int, frames: int = 11) -> digits.LogitRace:
    """The logit race from ε = 0 to `eps`, ending on `digit_attack`'s result."""
    return _maybe_pooled("The logit race", attack, frames * steps, _digit_race, model, attack,
                         quantised_eps(attack, eps), steps, target, digit, label, frames)


@st.cache_data(show_spinner="Re-running the attack at smaller ε…", max_entries=256,
               max_size="32MB")
def _digit_race(model: str, attack: str, eps: float, steps: int, target: int | None,
                digit: np.ndarray, label: int, frames: int) -> digits.LogitRace:
    result = _digit_attack(model, attack, eps, steps, target, digit, label)
    sign = _sign_for(attack, digit_sign, model, target, digit, label)
    return digits.logit_race(pretrained_model(model), result, attack=attack, eps=eps,
                             steps=steps, frames=frames, sign=sign)


def digit_fragility(attack: str, steps: int, digit: np.ndarray,
                    label: int | None) -> dict[str, float | None]:
    """Per shipped model, the smallest ε that flips `digit` (None: model unavailable).

    label None (a drawn digit of unknown class) means each model's own prediction. Does not
    depend on ε, so moving the ε slider never recomputes it.
    """
    bisections = 9  # ~log2(ε range / FRAGILITY_TOL), per model
    return _maybe_pooled("Each model's smallest flipping ε", attack,
                         len(models.PRETRAINED) * bisections * steps, _digit_fragility, attack,
                         steps, digit, label)


@st.cache_data(show_spinner=False, max_entries=256, max_size="4MB")
def _digit_fragility(attack: str, steps: int, digit: np.ndarray,
                     label: int | None) -> dict[str, float | None]:
    available = {name: m for name in models.PRETRAINED if (m := model_or_none(name)) is not None}
    labels = {name: label if label is not None else digits.predicted_class(m, digit)
              for name, m in available.items()}
    found = digits.fragility(available, digit, labels, attack=attack, steps=steps)
    return {name: found.get(name) for name in models.PRETRAINED}


@st.cache_data(show_spinner="Solving mnist-linear's smallest L∞ change exactly…", max_entries=256)
def digit_linear_truth(steps: int, digit: np.ndarray, label: int | None) -> dict[str, float] | None:
    """For mnist-linear: the exact minimal L∞ ε that flips `digit` (advcore.exact's closed
    form, inside [0, 1]) beside the smallest ε FGSM and PGD-`steps` find by bisection; None if
    the model is unavailable. label None: the model's own prediction. Not keyed by ε."""
    from advcore import exact
    model = model_or_none("mnist-linear")
    if model is None:
        return None
    y = label if label is not None else digits.predicted_class(model, digit)
    found = {a: digits.fragility({"mnist-linear": model}, digit, {"mnist-linear": y}, attack=a,
                                 steps=steps)["mnist-linear"] for a in ("fgsm", "pgd")}
    star = exact.linear_minimal_linf(model, torch.as_tensor(digit), torch.tensor([y]))
    return {"exact": float(star[0]), **found}


GALLERY_SIZE = 16


def digit_gallery(model: str, attack: str, eps: float, steps: int, target: int | None,
                  start: int = 0, stop: int = GALLERY_SIZE) -> digits.Gallery:
    """Gallery digits [start, stop) of the 16 class-balanced test digits, attacked.

    The page asks for a few at a time, so a visitor who moves ε again waits for at most one
    chunk, not the whole gallery (a Streamlit rerun can only interrupt between calls).
    """
    return _maybe_pooled("The gallery", attack, (stop - start) * steps, _digit_gallery, model,
                         attack, quantised_eps(attack, eps), steps, target, start, stop)


@st.cache_data(show_spinner=False, max_entries=1024, max_size="16MB")
def _digit_gallery(model: str, attack: str, eps: float, steps: int, target: int | None,
                   start: int, stop: int) -> digits.Gallery:
    x, y = mnist("test")
    indices = digits.gallery_indices(y.numpy(), GALLERY_SIZE)[start:stop]
    sign = _sign_for(attack, gallery_signs, model, target, start, stop)
    walked = (gallery_walk(model, attack, steps, target, start, stop)
              if attack in digits.CAP_ONLY else None)
    return digits.attack_gallery(pretrained_model(model), x, y, indices, attack=attack, eps=eps,
                                 steps=steps, target=target, sign=sign, walked=walked)


def test_counts(model: str, attack: str, eps: float, steps: int, target: int | None,
                start: int, stop: int) -> digits.Counts:
    """Tallies for test digits [start, stop): one cached chunk of the 1,000-digit accuracy.

    The page walks the chunks with a progress bar; a chunk once computed is never recomputed,
    even if the visitor moved the slider before the whole test set was done.
    """
    args = (model, attack, quantised_eps(attack, eps), steps, target, start, stop)
    if attack == "fgsm":  # one forward pass from a cached sign: cheap, never queued
        return _test_counts(*args)
    try:
        return pool.compute("Test-set accuracy", _test_counts, *args)
    except pool.BudgetExceeded as exc:
        pool.explain_budget(exc, "Try fewer steps, FGSM, or mnist-linear; the chunks measured "
                                 "so far stay cached.")
        st.stop()
        raise


@st.cache_data(show_spinner=False, max_entries=4096, max_size="4MB")
def _test_counts(model: str, attack: str, eps: float, steps: int, target: int | None,
                 start: int, stop: int) -> digits.Counts:
    x, y = mnist("test")
    sign = _sign_for(attack, test_signs, model, target, start, stop)
    return digits.attack_counts(pretrained_model(model), x[start:stop], y[start:stop],
                                attack=attack, eps=eps, steps=steps, target=target,
                                should_stop=pool.should_stop, sign=sign)


# --- robustness lab: cached cells, keyed by model names and numbers ----------------------------
# Live results are computed in small cells (one model, one attack, one ε, a slice of the test
# digits), each cached on its own, and walked with a progress bar from outside the cache: a
# progress bar drawn inside a cached function cannot be replayed by Streamlit.


@st.cache_data(show_spinner=False, max_entries=16)
def model_card(name: str) -> dict[str, Any]:
    """The JSON card of a shipped model (raises models.AssetError if missing or corrupt)."""
    return models.load_card(name)


def test_size() -> int:
    """How many test digits there are (1,000 unless ADVPLAY_MNIST_DIR points at full MNIST)."""
    return len(mnist("test")[1])


@st.cache_data(show_spinner=False, max_entries=8192)
def robustness_cell(model: str, attack: str, eps: float, steps: int, start: int,
                    stop: int) -> int:
    """Correct predictions of `model` on test digits [start, stop) after `attack` at `eps`."""
    x, y = mnist("test")
    return sweep.correct(pretrained_model(model), x[start:stop], y[start:stop], attack=attack,
                         eps=eps, steps=steps, should_stop=pool.should_stop)


def run_cells(cells: list[robustness.Cell], *, steps: int,
              label: str) -> dict[robustness.Cell, int]:
    """Every cell's count, computing the missing ones with a progress bar and a time estimate.

    Cached cells return in microseconds, so the bar only appears once real work starts.
    """
    total = sum(robustness.cell_cost(c, steps=steps) for c in cells) or 1.0
    slot = st.empty()
    counts: dict[robustness.Cell, int] = {}
    done = work_done = 0.0
    started = None
    for c in cells:
        t0 = time.perf_counter()
        try:  # through the shared worker pool: one visitor's minutes never starve the rest
            counts[c] = pool.compute(label, robustness_cell, c.model, c.attack, c.eps, steps,
                                     c.start, c.stop)
        except pool.BudgetExceeded as exc:
            slot.empty()
            pool.explain_budget(exc, "Pick fewer digits, fewer PGD steps or fewer ε values; "
                                     "the cells measured so far stay cached.")
            st.stop()
        cost = robustness.cell_cost(c, steps=steps)
        done += cost
        if time.perf_counter() - t0 > 0.05:  # a real computation, not a cache hit
            started = started or t0
            work_done += cost
            rate = (time.perf_counter() - started) / work_done
            left = rate * (total - done)
            slot.progress(done / total, text=f"{label}: {robustness.describe_cell(c, steps)} "
                          f"· about {left:.0f} s left")
    slot.empty()
    return counts


@st.cache_data(show_spinner="Solving mnist-linear's smallest L∞ change for every test digit…",
               max_entries=16)
def linear_exact_curve(n: int, epsilons: tuple[float, ...]) -> robustness.Curve:
    """mnist-linear's exact robust-accuracy curve on the first n test digits (closed form,
    ~0.4 s for 1,000; raises models.AssetError if its weights are missing)."""
    x, y = mnist("test")
    return robustness.exact_linear_curve(pretrained_model("mnist-linear"), x[:n], y[:n],
                                         epsilons)


def transfer_row(source: str, targets: tuple[str, ...], attack: str, eps: float, steps: int,
                 n: int) -> np.ndarray:
    """(T,) accuracy of each target on the first n test digits crafted against `source`, in
    the pool's long lane (PGD-100 on 1,000 digits is minutes of CPU)."""
    return _pooled_long(f"The transfer row crafted on {source}",
                        "Try FGSM, fewer PGD steps or fewer test digits; the rows measured so "
                        "far stay cached.", _transfer_row, source, targets, attack, eps, steps, n)


@st.cache_data(show_spinner=False, max_entries=256, max_size="1MB")
def _transfer_row(source: str, targets: tuple[str, ...], attack: str, eps: float, steps: int,
                  n: int) -> np.ndarray:
    x, y = mnist("test")
    return robustness.transfer_row(pretrained_model(source),
                                   [pretrained_model(t) for t in targets], x[:n], y[:n],
                                   attack=attack, eps=eps, steps=steps,
                                   should_stop=pool.should_stop)


@st.cache_data(show_spinner=False, max_entries=64)
def clean_accuracies(names: tuple[str, ...], n: int) -> np.ndarray:
    """(M,) clean accuracy of each model on the first n test digits."""
    x, y = mnist("test")
    return np.array([evaluate.accuracy(pretrained_model(m), x[:n], y[:n]) for m in names])


def toy_adversarial_training(dataset: str, noise: float, seed: int, attack: str,
                             eps: float) -> robustness.AdversarialTraining:
    """2-D adversarial training before/after (see advcore.playground.robustness.adversarial_training_2d),
    in the pool's long lane."""
    return _pooled_long("Training the same network twice, without and with adversarial "
                        "examples", "Try FGSM for the training, or a smaller ε.",
                        _toy_adversarial_training, dataset, noise, seed, attack, eps)


@st.cache_data(show_spinner=False, max_entries=64, max_size="32MB")
def _toy_adversarial_training(dataset: str, noise: float, seed: int, attack: str,
                              eps: float) -> robustness.AdversarialTraining:
    return robustness.adversarial_training_2d(dataset, attack=attack, eps=eps, noise=noise,
                                              seed=seed, should_stop=pool.should_stop)


@st.cache_data(show_spinner="Attacking ten digits on each model…", max_entries=128)
def robustness_examples(names: tuple[str, ...], attack: str, eps: float,
                        steps: int) -> robustness.Examples:
    """One test digit per class, attacked white-box on each of `names`."""
    x, y = mnist("test")
    indices = robustness.one_per_class(y.numpy())
    return robustness.attack_examples({m: pretrained_model(m) for m in names}, x, y, indices,
                                      attack=attack, eps=eps, steps=steps)


# --- how it works page: cached explanations, keyed by model names and numbers -----------------
# Each returns a frozen dataclass of numpy arrays from advcore.playground.explain (see there for the maths).


def pretrained_or_warn(name: str) -> nn.Module | None:
    """The shipped model `name`, or None after a clear error on the page; unlike
    pretrained_or_stop, the rest of the page goes on (other sections use other models)."""
    try:
        return pretrained_model(name)
    except models.AssetError as exc:
        st.error(f"Model **{name}** cannot be loaded: {exc}", icon=":material/block:")
        return None


@st.cache_resource(show_spinner="Training the 2-D example model…")
def moons_model() -> tuple[nn.Module, np.ndarray, np.ndarray]:
    """The page's 2-D MLP on 200 noisy moons, its points and labels (trained once per process)."""
    return explain.moons_model()


def _test_digit(index: int) -> tuple[torch.Tensor, int]:
    x, y = mnist("test")
    return x[index], int(y[index])


def how_digit(index: int) -> torch.Tensor:
    """Test digit `index` as a batch of one, (1, 1, 28, 28) in [0, 1]."""
    return _test_digit(index)[0].unsqueeze(0)


@st.cache_data(show_spinner=False, max_entries=128)
def how_input_gradient(model: str, index: int) -> explain.InputGradient:
    """∇ₓ L of test digit `index` under `model`, with ∇_θ L and seed 000's numerical gradient."""
    return explain.input_gradient(pretrained_model(model), *_test_digit(index))


@st.cache_data(show_spinner=False, max_entries=256)
def how_sign(model: str, index: int, eps: float) -> explain.SignComparison:
    """sign(g) against the normalised gradient under L∞ and L2, for test digit `index`."""
    return explain.sign_vs_gradient(pretrained_model(model), *_test_digit(index), eps=eps)


@st.cache_data(show_spinner=False, max_entries=256)
def how_pgd_path(norm: str, ball: float, steps: int, point: int,
                 seed: int) -> explain.ProjectionPath:
    """PGD's iterates before and after projection for one of the 2-D points."""
    model, X, y = moons_model()
    return explain.pgd_path(model, X[point], int(y[point]), eps=ball, steps=steps, norm=norm,
                            seed=seed)


@st.cache_data(show_spinner=False, max_entries=256)
def how_decision_grid(point: int, half_width: float) -> explain.DecisionGrid:
    """The 2-D model's P(class 1) on a square window around one of its points."""
    model, X, _ = moons_model()
    return explain.decision_grid(model, X[point], half_width)


@st.cache_data(show_spinner="Attacking, verifying and solving every moons point exactly…",
               max_entries=64)
def how_upper_bounds(eps: float, steps: int) -> explain.UpperBounds:
    """The sandwich certified ≤ exact ≤ PGD with restarts ≤ FGSM on the page's moons model."""
    model, X, y = moons_model()
    return explain.upper_bounds(model, X, y, eps=eps, steps=steps)


@st.cache_data(show_spinner=False, max_entries=128)
def how_linearity(index: int) -> explain.Linearity:
    """Goodfellow's linearity argument on mnist-linear for test digit `index`, ε from 0 to 0.3."""
    return explain.linearity(pretrained_model("mnist-linear"), *_test_digit(index),
                             np.linspace(0.0, 0.3, 31).tolist())


@st.cache_data(show_spinner=False, max_entries=128)
def how_train_mode(model: str, index: int) -> explain.TrainModeDemo:
    """Test digit `index` through `model` in eval mode and three times in training mode."""
    return explain.train_mode_demo(pretrained_model(model), *_test_digit(index))


@st.cache_data(show_spinner=False, max_entries=128)
def how_clip(model: str, index: int) -> explain.ClipDemo:
    """Test digit `index` raw, normalised, and normalised-then-clipped, with the range checks."""
    return explain.normalise_then_clip_demo(pretrained_model(model), _test_digit(index)[0])


@st.cache_data(show_spinner=False, max_entries=128)
def how_softmax(model: str, index: int) -> explain.SoftmaxDemo:
    """FGSM on test digit `index` through the logits and through softmax outputs."""
    return explain.softmax_as_logits_demo(pretrained_model(model), *_test_digit(index),
                                          np.linspace(0.0, 0.3, 13).tolist())


@st.cache_data(show_spinner=False, max_entries=128)
def how_eps_units(model: str, index: int) -> explain.EpsUnitsDemo:
    """Test digit `index` under FGSM at ε = 8/255 and ε = 0.3."""
    return explain.eps_units_demo(pretrained_model(model), *_test_digit(index))


# --- sanity badges: any page can show them under its figure ------------------------------------


def _tensor_or_none(a: torch.Tensor | np.ndarray | None) -> torch.Tensor | None:
    if a is None or isinstance(a, torch.Tensor):
        return a
    return torch.as_tensor(np.asarray(a))


def sanity_badges(
    model: nn.Module | None = None,
    x: torch.Tensor | np.ndarray | None = None,
    logits: torch.Tensor | np.ndarray | None = None,
    *,
    eps: float | None = None,
    bounds: tuple[float, float] | None = (0.0, 1.0),
    norm: str = "linf",
) -> list[mistakes.Check]:
    """Compact ✓/⚠ badges for the four classic mistakes, on one line; hover for details.

    model: checked for eval mode (and run twice on x to catch hidden randomness; never switched).
    x: (N, ...) the inputs as the model receives them (a tensor or a numpy array), checked to lie
    in `bounds` and not to look normalised-then-clipped. logits: (N, C) model outputs, checked
    not to be probabilities (computed from model and x when omitted). eps: the attack radius,
    checked for its units (an L∞ ε > 1 on [0, 1] is probably in /255 units). Anything not given
    is not checked. A failed check also gets a one-line caption saying what was seen.
    Returns the checks, for a page that wants to act on them.
    """
    checks = mistakes.run_checks(model, _tensor_or_none(x), _tensor_or_none(logits), eps=eps,
                                 bounds=bounds, norm=norm)
    render_checks(checks)
    return checks


def render_checks(checks: list[mistakes.Check] | tuple[mistakes.Check, ...], *,
                  names: list[str] | tuple[str, ...] | None = None,
                  captions: bool = True) -> None:
    """Draw checks as a row of ✓/⚠ badges (details on hover), and a caption per failure.

    names: an optional prefix per check ("raw", "clipped", ...) when several checks of the same
    kind sit side by side.
    """
    labels = [c.label if names is None else f"{n}: {c.label}"
              for c, n in zip(checks, names or [""] * len(checks), strict=True)]
    row = st.container(horizontal=True, gap="small")
    for c, label in zip(checks, labels, strict=True):
        row.badge(label, icon=":material/check_circle:" if c.ok else ":material/warning:",
                  color="green" if c.ok else "orange", help=c.detail)
    if captions:
        for c, label in zip(checks, labels, strict=True):
            if not c.ok:
                st.caption(f":material/warning: **{label}**: {c.detail}")


# --- boundary page: a trained 2-D model per training spec, its grid, attack and curve ----------
# The key is advcore.playground.boundary.training_key(scene, robust=...), a frozen TrainingSpec: data and
# model fields only (plus attack and ε for the adversarially trained model), so moving ε never
# retrains the standard model. Models are never mutated after training, so one cached object
# serves every session.


@st.cache_resource(show_spinner="Training the classifier on the points…", max_entries=32)
def boundary_model(key: Any) -> nn.Module:
    """The 2-D classifier of a TrainingSpec (trained once per process, on the cached points)."""
    from advcore.playground import boundary
    return boundary.train_model(key, points=boundary_points(key))


def boundary_points(key: Any) -> tuple[np.ndarray, np.ndarray]:
    """The points of a TrainingSpec: the dataset's, then the visitor's added ones, drawn once
    for the standard and the adversarially trained model alike (cached by the standard spec)."""
    return _boundary_points(key.standard)


@st.cache_data(show_spinner=False, max_entries=64)
def _boundary_points(spec: Any) -> tuple[np.ndarray, np.ndarray]:
    from advcore.playground import boundary
    return boundary.points_of(spec)


# Above this n · width² · depth (or for any adversarial training), training a 2-D model costs
# 0.5-10 s of CPU (2-128×4 on 1,000 points, PGD-trained: ~10 s), so it goes to the pool's long
# lane; the default 2-32-32 on 200 points (0.4M, 0.17 s) trains in the visitor's own thread.
BOUNDARY_INLINE_WORK = 10_000_000


def boundary_training_is_large(key: Any) -> bool:
    """Whether training the model of `key` goes through the pool's long lane."""
    return key.robust or key.n * key.width ** 2 * key.depth > BOUNDARY_INLINE_WORK


def boundary_grid(key: Any) -> Any:
    """advcore.playground.boundary.Grid of the model for `key` over its points' extent. The page asks for
    it first, so a large model is trained here, in the pool's long lane (then cached)."""
    if boundary_training_is_large(key):
        _pooled_long("Training the classifier on the points",
                     "Try a smaller network (width, depth), fewer points or standard training.",
                     boundary_model, key)
    return _boundary_grid(key)


@st.cache_data(show_spinner=False, max_entries=64, max_size="16MB")
def _boundary_grid(key: Any) -> Any:
    from advcore.playground import boundary
    return boundary.decision_grid(boundary_model(key), boundary_points(key)[0])


@st.cache_data(show_spinner=False, max_entries=256)
def boundary_attack(key: Any, attack: str, eps: float, steps: int) -> Any:
    """advcore.playground.boundary.Attacked: every point of `key`'s data attacked at `eps`."""
    from advcore.playground import boundary
    X, y = boundary_points(key)
    return boundary.attack_points(boundary_model(key), X, y, attack=attack, eps=eps,
                                  steps=steps, seed=key.seed)


@st.cache_data(show_spinner="Sweeping ε for the accuracy curve…", max_entries=64)
def boundary_curve(key: Any, attack: str, steps: int) -> Any:
    """advcore.playground.boundary.AccuracyCurve over the fixed ε grid (not keyed by the current ε)."""
    from advcore.playground import boundary
    X, y = boundary_points(key)
    return boundary.accuracy_curve(boundary_model(key), X, y, attack=attack, steps=steps,
                                   seed=key.seed)


@st.cache_data(show_spinner="Finding the exact decision boundary…", max_entries=64)
def boundary_segments(key: Any) -> Any:
    """advcore.exact.Segments: the model's boundary inside the truth box (once per model)."""
    from advcore import exact
    from advcore.playground import boundary
    return exact.boundary_segments(boundary_model(key), boundary.truth_box(
        boundary_points(key)[0]))


@st.cache_data(show_spinner="Computing every point's exact ε* and certificate…", max_entries=64)
def boundary_truth(key: Any, norm: str) -> Any:
    """advcore.playground.boundary.GroundTruth of the model for `key` in `norm`: per model and norm, not
    per ε, so moving ε with ground truth on costs nothing extra."""
    from advcore.playground import boundary
    X, y = boundary_points(key)
    return boundary.ground_truth(boundary_model(key), X, y, norm=norm,
                                 segments=boundary_segments(key))


# --- masking lab: one cached report per fake defence, on a fixed batch of test digits ----------

MASKING_DIGITS = 32  # the first 32 test digits: each defence's report costs 5-20 s of CPU


def masking_report(defence: str) -> Any:
    """advcore.playground.masking.MaskingReport of `defence` on the fixed batch, through the shared pool."""
    try:
        return pool.compute("The masking lab's attacks", _masking_report, defence,
                            MASKING_DIGITS, lane="long")
    except pool.BudgetExceeded as exc:
        pool.explain_budget(exc, "The other fake defences may fit; this one's numbers need "
                                 "a server with a larger budget.")
        st.stop()
        raise


@st.cache_data(show_spinner=False, max_entries=8)
def _masking_report(defence: str, n: int) -> Any:
    from advcore.playground import masking
    x, y = mnist("test")
    return masking.masking_report(pretrained_model("mnist-cnn"), x[:n], y[:n], defence,
                                  should_stop=pool.should_stop)


# --- masking lab, in 2-D: the /boundary page's default network per data set, masked -----------
# Cheap (200 points: training 0.2 s, the truth 0.05-0.3 s, both attacks 0.1-0.2 s on one idle
# core), so it runs in the visitor's own thread; the model is /boundary's own cached one.


def masking_plane(dataset: str, defence: str, eps: float) -> Any:
    """advcore.playground.masking.PlaneReport: PGD and Square against the fake defence `defence`
    around the 2-D network trained on `dataset`, at the L∞ radius `eps` (feature units)."""
    from advcore.playground import masking
    key = masking.plane_spec(dataset)
    # Trained (or found) outside the data caches, one model per process, shared with /boundary;
    # in the pool's long lane if it is large, as /boundary does (the fixed 2-32-32 never is).
    if boundary_training_is_large(key):
        _pooled_long("Training the classifier on the points", "Try another data set.",
                     boundary_model, key)
    boundary_model(key)
    return _masking_plane(key, defence, float(eps))


@st.cache_data(show_spinner="Solving every point's exact distance to the boundary…",
               max_entries=32)
def _masking_plane_truth(key: Any, defence: str) -> np.ndarray:
    from advcore.playground import masking
    X, y = boundary_points(key)
    return masking.plane_truth(boundary_model(key), X, y, defence,
                               eps_max=float(state.bounds_of(state.MaskingScene, "toy_eps")[1]))


@st.cache_data(show_spinner="Running PGD and Square on every point…", max_entries=128,
               max_size="64MB")
def _masking_plane(key: Any, defence: str, eps: float) -> Any:
    from advcore.playground import masking
    X, y = boundary_points(key)
    return masking.plane_report(boundary_model(key), X, y, defence=defence, eps=eps,
                                eps_star=_masking_plane_truth(key, defence), seed=key.seed)
