"""advcore installs as a package: the wheel carries the engine and the shipped weights, and an
installed copy imports and loads a model from any working directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy: setuptools writes build/ and *.egg-info into the tree it builds.
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("advcore", "assets"):
        shutil.copytree(ROOT / name, src / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(src)], check=True, cwd=out,
                   capture_output=True, text=True)
    (found,) = out.glob("adversarial_playground-*.whl")
    return found


def test_the_wheel_holds_the_engine_and_the_weights(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for model in ("mnist-linear", "mnist-cnn", "mnist-cnn-robust"):
        assert f"advcore/assets/{model}.safetensors" in names
        assert f"advcore/assets/{model}.json" in names
    assert "advcore/attacks/pgd.py" in names and "advcore/playground/figures/boundary.py" in names
    assert not any(n.startswith(("pages/", "tests/", "app.py")) for n in names)
    assert not any("screenshots" in n for n in names)


def test_an_installed_copy_loads_its_weights_from_anywhere(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True, text=True)
    code = ("import advcore, advcore.models as m; "
            "model = m.pretrained('mnist-linear'); "
            "print(advcore.__file__); print(m.ASSETS)")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True,
                         capture_output=True, text=True,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    where, assets = run.stdout.split()
    assert where.startswith(str(target)) and assets == str(target / "advcore" / "assets")
