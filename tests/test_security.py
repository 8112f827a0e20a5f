"""What the app guarantees about untrusted input, checked on the source tree and the config.

- Weights load only through safetensors: no pickle, no `torch.load` anywhere a visitor's bytes
  could reach, and a pickle disguised as a `.safetensors` file is refused without being run.
- HTML is only ever injected from constant strings (`unsafe_allow_html=True`, `st.html`,
  `components.html`), or from the HTML figure builders in advcore.playground.figures.digits, which write
  only numbers they format themselves into a fixed set of tags and attributes, with images as
  PNG data URLs. Nothing a visitor types reaches any HTML.
- `.streamlit/config.toml` caps uploads and keeps XSRF protection on.

The source checks use `ast`, so a comment or a docstring mentioning `torch.load` does not count,
and an aliased import (`from torch import load`) does.
"""

from __future__ import annotations

import ast
import pickle
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from advcore import models, preprocess

ROOT = Path(__file__).resolve().parent.parent
# Everything that runs in the server: the entry point, the pages and the engine.
SOURCES = sorted([ROOT / "app.py", *(ROOT / "pages").rglob("*.py"),
                  *(ROOT / "advcore").rglob("*.py")])
# Modules whose loaders execute code from the bytes they read.
PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "joblib", "cloudpickle", "shelve",
                  "marshal"}
HTML_CALLS = {"html"}  # st.html(...), components.html(...): HTML from their first argument
# Builders whose HTML is made of numbers only (checked by test_html_builders_write_only_numbers).
HTML_BUILDERS = {"panels_html", "probabilities_html", "gallery_html", "presenter_css"}


def _parsed() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(), filename=str(path))) for path in SOURCES]


def _dotted(node: ast.AST) -> str:
    """`torch.load` for an Attribute chain, `load` for a Name, "" otherwise."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else node.attr
    return ""


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"


def test_the_source_tree_is_what_we_think_it_is() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in SOURCES}
    assert {"app.py", "pages/ui.py", "pages/digits.py", "advcore/models.py",
            "advcore/preprocess.py"} <= names


def test_no_torch_load_and_no_pickle_in_the_server_code() -> None:
    found = []
    for path, tree in _parsed():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = _dotted(node.func)
                if name.endswith(("torch.load", "torch.jit.load", "serialization.load")):
                    found.append(f"{_where(path, node)} calls {name}")
                if name.split(".")[0] in PICKLE_MODULES:
                    found.append(f"{_where(path, node)} calls {name}")
                # np.load / numpy.load run pickles only with allow_pickle=True.
                if name.endswith("load") and any(
                        k.arg == "allow_pickle" and not (isinstance(k.value, ast.Constant)
                                                         and k.value.value is False)
                        for k in node.keywords):
                    found.append(f"{_where(path, node)} calls {name} with allow_pickle")
            if isinstance(node, ast.Import):
                found += [f"{_where(path, node)} imports {a.name}" for a in node.names
                          if a.name.split(".")[0] in PICKLE_MODULES]
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.split(".")[0] in PICKLE_MODULES:
                    found.append(f"{_where(path, node)} imports from {node.module}")
                if node.module in ("torch", "torch.serialization") and any(
                        a.name == "load" for a in node.names):
                    found.append(f"{_where(path, node)} imports torch's load")
    assert not found, "\n".join(found)


def test_weights_load_through_safetensors_only() -> None:
    tree = ast.parse((ROOT / "advcore" / "models.py").read_text())
    imported = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                for a in n.names}
    assert ("safetensors.torch", "load_file") in imported
    loader = next(n for n in ast.walk(tree)
                  if isinstance(n, ast.FunctionDef) and n.name == "load_pretrained")
    calls = {_dotted(c.func) for c in ast.walk(loader) if isinstance(c, ast.Call)}
    assert "load_file" in calls


class _Boom:
    """Unpickling this runs `Path(marker).touch()`: proof that a loader executed the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def test_a_pickle_posing_as_weights_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "code-was-executed"
    (tmp_path / "mnist-linear.safetensors").write_bytes(pickle.dumps(_Boom(marker)))
    with pytest.raises(models.AssetError, match="mnist-linear.safetensors"):
        models.load_pretrained("mnist-linear", assets=tmp_path)
    assert not marker.exists()


def test_uploads_are_decoded_without_pickle() -> None:
    """An uploaded .npy full of pickled objects is not an image: refused, never unpickled."""
    payload = pickle.dumps(_Boom(Path("/nonexistent/never")))
    with pytest.raises(preprocess.DigitImageError):
        preprocess.digit_from_bytes(payload)


def _module_strings(tree: ast.Module) -> dict[str, bool]:
    """Module-level names bound exactly once, to a constant string (True) or to anything else."""
    bound: dict[str, list[ast.AST]] = {}
    for node in ast.walk(tree):
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign | ast.AugAssign)
                   else [])
        for t in targets:
            if isinstance(t, ast.Name):
                bound.setdefault(t.id, []).append(node)
    return {name: len(nodes) == 1 and isinstance(nodes[0], ast.Assign | ast.AnnAssign)
            and isinstance(nodes[0].value, ast.Constant) and isinstance(nodes[0].value.value, str)
            for name, nodes in bound.items()}


def _is_constant_text(node: ast.AST | None, constants: dict[str, bool]) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Name):
        return constants.get(node.id, False)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _is_constant_text(node.left, constants) and _is_constant_text(node.right, constants)
    return False  # f-strings, .format, %, calls, attributes: built at run time


def test_html_is_only_ever_injected_from_constant_strings() -> None:
    uses, bad = [], []
    for path, tree in _parsed():
        constants = _module_strings(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            unsafe = any(k.arg == "unsafe_allow_html" and not (
                isinstance(k.value, ast.Constant) and k.value.value is False)
                for k in node.keywords)
            html = _dotted(node.func).split(".")[-1] in HTML_CALLS
            if not (unsafe or html):
                continue
            uses.append(_where(path, node))
            body = node.args[0] if node.args else next(
                (k.value for k in node.keywords if k.arg in ("body", "html")), None)
            built = (isinstance(body, ast.Call)
                     and _dotted(body.func).split(".")[-1] in HTML_BUILDERS)
            if not (built or _is_constant_text(body, constants)):
                bad.append(f"{_where(path, node)}: {ast.unparse(node)[:120]}")
    assert not bad, "HTML built at run time:\n" + "\n".join(bad)
    assert uses, "no unsafe_allow_html at all: update this test's docstring"


class _Tags(HTMLParser):
    """Every tag and attribute of an HTML fragment, and the text between tags."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _html_of_every_builder(rng: np.random.Generator) -> list[str]:
    from advcore.playground.figures import digits as figs

    img = rng.random((28, 28))
    probs = rng.dirichlet(np.ones(10))
    return [
        figs.panels_html(img, img - 0.5, img, pred_clean=7, conf_clean=0.9, pred_adv=3,
                         conf_adv=0.6, eps=0.1, norm="linf"),
        figs.panels_html(img, img * 0, img, pred_clean=1, conf_clean=1.0, pred_adv=1,
                         conf_adv=1.0, eps=2.0, norm="l2", amplify=False, talk=True),
        figs.probabilities_html(probs, probs[::-1], label=4, target=9),
        figs.gallery_html(rng.random((16, 28, 28)), list(range(16)), np.arange(16) % 10,
                          np.arange(16) % 10, (np.arange(16) + 1) % 10),
    ]


def test_html_builders_write_only_numbers_in_fixed_tags() -> None:
    """The builders' HTML: div/span/b/img only, attributes from a fixed set, images only as
    PNG data URLs, no event handlers, and text made of digits, units and fixed words."""
    allowed = {"style", "title", "alt", "src"}
    for page in _html_of_every_builder(np.random.default_rng(0)):
        parsed = _Tags()
        parsed.feed(page)
        for tag, attrs in parsed.tags:
            assert tag in {"div", "span", "b", "img"}, tag
            for name, value in attrs.items():
                assert name in allowed or name.startswith("data-"), name
                if name == "src":
                    assert value and value.startswith("data:image/png;base64,")
                if name == "style":
                    assert value and "url(" not in value and "expression" not in value
        assert "<script" not in page.lower() and "javascript:" not in page.lower()


def test_html_builders_refuse_text_where_numbers_go() -> None:
    from advcore.playground.figures import digits as figs

    img = np.zeros((28, 28))
    with pytest.raises(ValueError):
        figs.panels_html(img, img, img, pred_clean="<script>alert(1)</script>",  # type: ignore
                         conf_clean=1.0, pred_adv=1, conf_adv=1.0, eps=0.1, norm="linf")
    with pytest.raises(ValueError):
        figs.probabilities_html(np.ones(10) / 10, np.ones(10) / 10,
                                label="<img src=x onerror=alert(1)>")  # type: ignore
    with pytest.raises(ValueError):
        figs.gallery_html(np.zeros((1, 28, 28)), ["<b>"], np.zeros(1), np.zeros(1),  # type: ignore
                          np.zeros(1))


def test_the_html_check_catches_what_it_should() -> None:
    """The checker itself: f-strings and variables are caught, literal CSS passes."""
    tree = ast.parse("CSS = '<style></style>'\nX = input()\n")
    constants = _module_strings(tree)
    call = ast.parse("st.markdown(f'<b>{x}</b>', unsafe_allow_html=True)").body[0].value
    assert not _is_constant_text(call.args[0], constants)
    assert _is_constant_text(ast.parse("CSS").body[0].value, constants)
    assert not _is_constant_text(ast.parse("X").body[0].value, constants)
    assert _is_constant_text(ast.parse("'<i>' 'a</i>'").body[0].value, constants)


def test_config_caps_uploads_and_keeps_xsrf_protection() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server = config["server"]
    assert isinstance(server.get("maxUploadSize"), int)
    # Megabytes. Streamlit refuses larger uploads before the page sees them; the decoder's own
    # byte cap is a second line behind it.
    assert 1 <= server["maxUploadSize"] <= preprocess.MAX_BYTES // 2**20
    assert server.get("enableXsrfProtection", True) is True
    # XSRF protection needs CORS protection on as well (Streamlit overrides one with the other).
    assert server.get("enableCORS", True) is True
    # Visitors never see tracebacks (paths, code) when something does go wrong.
    assert config.get("client", {}).get("showErrorDetails") in ("none", False)


# --- what a hostile visitor sends (issue 17) ----------------------------------------------------

# st calls whose text argument is rendered as markdown (links, images, KaTeX, HTML-like tags).
MARKDOWN_CALLS = {"markdown", "write", "caption", "error", "warning", "info", "success",
                  "toast", "title", "header", "subheader", "metric", "badge"}
# streamlit-drawable-canvas results whose properties decode the visitor's data in any format.
CANVAS_DECODERS = {"image_data", "image_bytes"}


def _page_trees() -> list[tuple[Path, ast.Module]]:
    return [(p, t) for p, t in _parsed() if p.parent.name == "pages" or p.name == "app.py"]


def test_the_canvas_is_never_decoded_by_its_component() -> None:
    """Its image_data opened any format Pillow knows at any size (a crafted 187 kB payload took
    3.2 GB); pages go through guard.canvas_data_url and preprocess.digit_from_canvas_url."""
    hits = [_where(path, node) for path, tree in _page_trees() for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in CANVAS_DECODERS]
    assert hits == []


def _uploader_names(tree: ast.Module) -> set[str]:
    """Variables assigned from st.file_uploader(...)."""
    return {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call) and _dotted(node.value.func).endswith(
                "file_uploader") for t in node.targets if isinstance(t, ast.Name)}


def test_upload_file_names_never_reach_markdown() -> None:
    """A file name is the visitor's text: bold, KaTeX, links and a remote image rendered from
    it. It may be shown only through st.text (guard.plain_name)."""
    hits = []
    for path, tree in _page_trees():
        uploads = _uploader_names(tree)
        if path.name == "digits.py":
            uploads.add("name")  # the upload's name as kept: `name, digit, problem = ss[taken]`
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in MARKDOWN_CALLS):
                for sub in ast.walk(node):
                    named = (isinstance(sub, ast.Attribute) and sub.attr == "name"
                             and _dotted(sub.value) in uploads)
                    if named or (isinstance(sub, ast.Name) and sub.id in uploads - {"upload"}
                                 and sub.id == "name"):
                        hits.append(_where(path, sub))
    assert hits == []


def test_app_installs_the_guard_on_every_run() -> None:
    tree = ast.parse((ROOT / "app.py").read_text())
    calls = {_dotted(n.value.func) for n in tree.body
             if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)}
    assert {"guard.install", "guard.rerun_on_reconnect"} <= calls


def test_config_bounds_what_one_visitor_can_send_and_keep() -> None:
    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    # A canvas PNG is at most MAX_CANVAS_BYTES, 4/3 of that in base64, plus its strokes' JSON.
    assert preprocess.MAX_CANVAS_BYTES * 4 / 3 < server["maxWidgetStateSize"] * 2**20 <= 16 * 2**20
    assert server["disconnectedSessionTTL"] <= 60
    assert server["maxCacheDataSize"].endswith("mb")
