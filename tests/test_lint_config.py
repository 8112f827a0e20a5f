"""A `noqa` comment names only rules the ruff configuration selects: one for a rule that never
runs silences nothing and tells a reader that something here was wrong."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOQA = re.compile(r"#\s*noqa:\s*([A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)")


def _selected() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["ruff"]["lint"]["select"]


def test_every_noqa_names_a_selected_rule() -> None:
    selected = _selected()
    files = [p for folder in ("advcore", "pages", "tests", "benchmarks", "deploy")
             for p in (ROOT / folder).rglob("*.py")
             if p != Path(__file__).resolve()] + [ROOT / "app.py"]  # (its examples are stray)
    stray = []
    for path in files:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for codes in NOQA.findall(line):
                for code in re.split(r"\s*,\s*", codes):
                    family = re.match(r"[A-Z]+", code).group()
                    if family not in selected:
                        stray.append(f"{path.relative_to(ROOT)}:{n} {code}")
    assert not stray, stray


def test_the_check_sees_a_stray_noqa() -> None:
    """The pattern reads the forms this repository writes."""
    assert NOQA.findall("x = 1  # noqa: ANN001") == ["ANN001"]
    assert NOQA.findall("import a  # noqa: E402, F401  (why)") == ["E402, F401"]
    assert "ANN" not in _selected()
