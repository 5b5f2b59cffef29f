"""Every third-party module the library and the workflow import is declared in pyproject.toml, directly."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
FIRST_PARTY = {"effdl"}


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares it ('PyYAML' -> 'pyyaml', 'typing_extensions' -> 'typing-extensions')."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(*extras: str) -> set[str]:
    """Distributions named in [project].dependencies plus the given optional-dependency groups."""
    requirements = list(PYPROJECT["project"]["dependencies"])
    for extra in extras:
        requirements += PYPROJECT["project"]["optional-dependencies"][extra]
    return {normalize(re.match(r"[A-Za-z0-9._-]+", req).group()) for req in requirements}


def imported_modules(path: Path) -> set[str]:
    """Top-level names of the absolute imports in a .py file (lazy ones inside functions too) or a .smk file."""
    text = path.read_text()
    if path.suffix == ".smk" or path.name == "Snakefile":  # Snakemake syntax: read the import lines
        return set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", text, re.M))
    names = set()
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def undeclared(files: list[Path], allowed: set[str]) -> dict[str, str]:
    """{module: why} for the third-party modules the files import whose distribution is not in `allowed`."""
    distributions = packages_distributions()
    problems = {}
    for path in files:
        where = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        for module in imported_modules(path) - FIRST_PARTY - set(sys.stdlib_module_names):
            dists = {normalize(d) for d in distributions.get(module, [])}
            if not dists:
                problems[module] = f"imported by {where}, but no installed distribution provides it"
            elif not dists & allowed:
                problems[module] = f"imported by {where}; declare {' or '.join(sorted(dists))}"
    return problems


def test_the_library_imports_only_declared_dependencies():
    files = sorted((REPO / "src" / "effdl").rglob("*.py"))
    assert len(files) > 30
    assert undeclared(files, declared()) == {}, "add these to [project].dependencies in pyproject.toml"


def test_the_workflow_imports_only_declared_dependencies():
    files = [
        REPO / "Snakefile",
        *sorted((REPO / "workflow").rglob("*.py")),
        *sorted((REPO / "workflow").rglob("*.smk")),
    ]
    assert undeclared(files, declared("workflow")) == {}, "add these to pyproject.toml (the workflow extra)"


def test_an_undeclared_import_is_reported(tmp_path):
    """The check can fail: psutil (installed, with Snakemake) imported lazily but left out of the declared set."""
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    import psutil\n    import yaml\n    from effdl import io\n    import json\n")
    problems = undeclared([module], declared() - {"psutil"})
    assert set(problems) == {"psutil"} and "declare psutil" in problems["psutil"]


def test_exact_versions_only_where_they_are_a_contract():
    """Ranges in pyproject.toml; `==` only for the pins the file's comment names as contracts."""
    contracts = {"torch", "torchvision", "snakemake", "ruff", "snakefmt"}
    requirements = PYPROJECT["project"]["dependencies"] + sum(
        PYPROJECT["project"]["optional-dependencies"].values(), []
    )
    exact = {normalize(req.split("==")[0]) for req in requirements if "==" in req}
    assert exact == contracts, f"exact pins outside the contracts: {sorted(exact - contracts)}"
