"""Where the project's files are, without importing torch (advcore.playground.hero reads weight files'
bytes to key its cache before any model is loaded)."""

from __future__ import annotations

from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def _assets_folder() -> Path:
    """Where the shipped weights are: assets/ beside advcore/ in a source checkout, or the
    package data `advcore.assets` of an installed package (pyproject.toml maps assets/ there)."""
    if (PROJECT / "assets").is_dir():
        return PROJECT / "assets"
    return Path(__file__).resolve().parent / "assets"


ASSETS = _assets_folder()
