"""No module of ours takes the place of an installed one when a script or test puts its folder first
on sys.path (transformers imports the `kernels` package; a benchmarks/kernels.py once broke it)."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = {"autointerp"}  # this project's own distribution (its top-level packages are autointerp and callbacks)


def importable_names(folder: Path) -> dict[str, Path]:
    """{top-level name: file} of every module or package reachable when a folder under `folder` is on
    sys.path: a script's folder, or a test folder pytest inserts (the first one without __init__.py)."""
    names = {}
    for path in folder.rglob("*.py"):
        if ".venv" in path.parts or "__pycache__" in path.parts:
            continue
        top = path.parent if path.name == "__init__.py" else path
        while (top.parent / "__init__.py").is_file():  # inside a package: its outermost package is the name
            top = top.parent
        names.setdefault(top.stem if top.is_file() else top.name, path)
    return names


def installed_top_level() -> dict[str, list[str]]:
    """{top-level module: distributions providing it} of everything installed, plus the standard library."""
    taken = {name: dists for name, dists in importlib.metadata.packages_distributions().items()
             if not set(d.lower() for d in dists) <= OURS}
    for name in sys.stdlib_module_names:
        taken.setdefault(name, ["the standard library"])
    return taken


def shadowing(folders: list[Path]) -> list[str]:
    """'file shadows module (distribution)' for each clash."""
    taken = installed_top_level()
    clashes = []
    for folder in folders:
        for name, path in importable_names(folder).items():
            if name in taken and name not in ("__init__", "conftest"):
                clashes.append(f"{path.relative_to(folder.parent)} shadows {name} ({', '.join(taken[name])})")
    return clashes


def test_no_module_of_ours_shadows_an_installed_one():
    assert shadowing([ROOT / "benchmarks", ROOT / "tests"]) == []


def test_callbacks_package_is_ours_alone():
    """The top-level `callbacks` package: no installed distribution but ours provides that name."""
    assert (ROOT / "callbacks" / "__init__.py").is_file()
    assert "callbacks" not in installed_top_level()


def test_the_check_catches_a_file_named_like_an_installed_module(tmp_path):
    benchmarks = tmp_path / "benchmarks"
    benchmarks.mkdir()
    (benchmarks / "fine_name.py").write_text("")
    assert shadowing([benchmarks]) == []
    (benchmarks / "numpy.py").write_text("")
    (benchmarks / "kernels.py").write_text("")
    clashes = shadowing([benchmarks])
    assert any(c.startswith("benchmarks/numpy.py shadows numpy") for c in clashes)
    assert any(c.startswith("benchmarks/kernels.py shadows kernels") for c in clashes)
    package = tmp_path / "tests" / "report"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "test_x.py").write_text("")
    assert shadowing([tmp_path / "tests"]) == []  # `report` is no installed module
    (tmp_path / "tests" / "json").mkdir()
    (tmp_path / "tests" / "json" / "__init__.py").write_text("")
    assert any("shadows json (the standard library)" in c for c in shadowing([tmp_path / "tests"]))
