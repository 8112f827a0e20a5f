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
