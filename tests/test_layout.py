"""The house: imports point one way (README "Layout"), and no two modules import each other.

Every `import` and `from ... import` is read from the source with `ast`, lazy ones inside functions
and `if TYPE_CHECKING:` blocks included: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

BASE = {"io", "records", "run_folder"}
"""Modules every layer may use: atomic writes and JSON, the record vocabulary, the run folder's paths."""

ALLOWED = {
    "records": set(),
    "io": set(),
    "run_folder": {"records"},
    "models": {"io"},
    "data": {"io", "models"},
    "latents": {"io", "models"},
    "training": {"io", "models", "data", "latents"},
    "examples": {"io", "records", "latents"},
    "clients": {"io", "records", "models"},
    "prompting": {"records", "examples"},
    "metrics": {"records"},
    "explainers": {"records", "clients", "prompting"},
    "scorers": {"records", "clients", "prompting", "metrics", "models"},
    "report": {"io", "records", "metrics"},
    "export": {"io", "records", "latents", "report"},
    "pipeline": {"io", "records", "models", "latents", "examples", "clients", "prompting", "metrics", "explainers",
                 "scorers", "report"},
    "callbacks": {"io", "records", "latents", "pipeline"},
    "cli": {"io", "records", "data", "models", "latents", "examples", "clients", "explainers", "scorers", "pipeline",
            "report", "export", "callbacks"},
    "__main__": {"cli"},
}
"""Each layer and the layers it may import, in data-flow order (the README's Layout table), besides BASE."""


def modules() -> dict[str, Path]:
    """{dotted name: file} of every module of the package and of callbacks/."""
    out = {}
    for path in [*(REPO / "autointerp").rglob("*.py"), *(REPO / "callbacks").rglob("*.py")]:
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Our modules that a file imports: a submodule where `from package import submodule`, else the module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names} & set(known)
            found |= subs
            others = [a.name for a in node.names if f"{node.module}.{a.name}" not in known and not _extension(node.module, a.name)]
            if others and node.module in known:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names} & set(known)
    return found


def _extension(package: str, name: str) -> bool:
    """A compiled module (e.g. autointerp.examples._kernels): not Python source, outside the graph."""
    folder = REPO.joinpath(*package.split("."))
    return folder.is_dir() and any(folder.glob(f"{name}.*"))


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def layer(module: str) -> str:
    parts = module.split(".")
    return "callbacks" if parts[0] == "callbacks" else parts[1] if len(parts) > 1 else "autointerp"


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_two_modules_import_each_other():
    assert cycles(graph()) == []


def test_the_walker_finds_a_planted_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]


def test_imports_point_one_way_down_the_layout():
    wrong = []
    for module, targets in graph().items():
        here = layer(module)
        if here == "autointerp":  # the package file itself
            continue
        for target in targets:
            there = layer(target)
            allowed = ALLOWED[here] | (BASE - {here} if here not in BASE else set())
            if there != here and there != "autointerp" and there not in allowed:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_every_layer_is_listed_in_the_readme():
    readme = (REPO / "README.md").read_text()
    table = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    for name in ALLOWED:
        if name != "__main__":
            assert f"`{name}" in table, name
    folders = {p.name for p in (REPO / "autointerp").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders - {"assets"} <= set(ALLOWED)


def test_pipeline_holds_no_cli_code_and_no_print():
    for path in (REPO / "autointerp" / "pipeline").rglob("*.py"):
        tree = ast.parse(path.read_text())
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"]
        assert calls == [], path
        text = path.read_text()
        assert "argparse" not in text and "LightningCLI" not in text and "jsonargparse" not in text, path


def test_run_paths_is_the_only_place_that_builds_run_folder_paths():
    import re

    pattern = re.compile(r'/ "(latents|explanations|scores|plots|tokenizer|examples_cache)"|"(summary|run_config|mlflow_run)\.json"'
                         r'|"report\.html"|"specialization\.(json|csv)"')
    offenders = []
    for path in [*(REPO / "autointerp").rglob("*.py"), *(REPO / "callbacks").rglob("*.py")]:
        if path.name == "run_folder.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if pattern.search(code) and not code.strip().startswith(('"', "'")):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []
