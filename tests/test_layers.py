"""The layering the project promises: advcore is an engine a notebook can use, so nothing under
advcore imports Streamlit (or the pages), not even indirectly."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINE = sorted((ROOT / "advcore").rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_engine_module_names_streamlit_or_the_pages() -> None:
    assert ENGINE
    offenders = {p.relative_to(ROOT).as_posix(): sorted(_imports(p) & {"streamlit", "pages",
                                                                         "streamlit_drawable_canvas"})
                 for p in ENGINE}
    assert not {k: v for k, v in offenders.items() if v}


def test_importing_every_engine_module_loads_no_streamlit() -> None:
    modules = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in ENGINE]
    modules = [m.removesuffix(".__init__") for m in modules]
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(k for k in sys.modules if k.split('.')[0] in "
            "('streamlit', 'pages')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout.strip()
    assert out == "[]"


def _advcore_imports(path: Path, package: tuple[str, ...] | None = None) -> set[str]:
    """Every advcore module `path` imports, at the top or inside a function (a lazy import
    is still a dependency), with relative imports resolved against its package (by default
    the folder it sits in under the project)."""
    if package is None:
        package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else ()
            module = ".".join((*base, *(node.module.split(".") if node.module else ())))
            names.add(module)
            names |= {f"{module}.{a.name}" for a in node.names}
    return {n for n in names if n == "advcore" or n.startswith("advcore.")}


def test_the_library_never_imports_the_pages_computations() -> None:
    """advcore/ outside advcore/playground/ is the practitioner's library: it may be imported
    by the playground, never the other way up."""
    library = [p for p in ENGINE if "playground" not in p.relative_to(ROOT).parts]
    assert library and any(p.name == "train.py" for p in library)
    offenders = {p.relative_to(ROOT).as_posix(): sorted(
                     n for n in _advcore_imports(p)
                     if n == "advcore.playground" or n.startswith("advcore.playground."))
                 for p in library}
    assert not {k: v for k, v in offenders.items() if v}


def test_the_import_check_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The check above would pass on nothing: it must catch the forms an upward import takes."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from advcore.playground import robustness as rb\n"
                     "from . import playground\nimport advcore.playground.state\n",
                     encoding="utf-8")
    found = _advcore_imports(probe, package=("advcore",))
    assert {"advcore.playground", "advcore.playground.robustness",
            "advcore.playground.state"} <= found
