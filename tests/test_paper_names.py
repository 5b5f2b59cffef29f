"""Every `effdl.` name and `src/` path the paper prints exists: the module imports, the object resolves, the file is.

Read from the paper's TeX (comments dropped) and from the string literals of the report code that writes its
generated TeX, so a renamed module cannot leave a stale name in the write-up.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NAME = re.compile(r"\beffdl(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
PATH = re.compile(r"\bsrc/[A-Za-z0-9_./]+")


def _tex_text(path: Path) -> str:
    lines = (re.sub(r"(?<!\\)%.*", "", line) for line in path.read_text().splitlines())
    return "\n".join(lines).replace("\\_", "_")


def _report_strings(path: Path) -> str:
    """The string literals of a report module, docstrings left out (those are for programmers, not printed)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    strings = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    ]
    return "\n".join(strings).replace("\\_", "_").replace("\\\\_", "_")


def printed_text() -> dict[str, str]:
    sources = [REPO / "paper" / "main.tex", *sorted((REPO / "paper" / "sections").glob("*.tex"))]
    texts = {str(p.relative_to(REPO)): _tex_text(p) for p in sources}
    writers = [*(REPO / "src/effdl/report").glob("part*.py"), *(REPO / "workflow/scripts").glob("tex_*.py")]
    for path in sorted(writers):
        texts[str(path.relative_to(REPO))] = _report_strings(path)
    return texts


def resolves(name: str) -> bool:
    """Whether `effdl.a.b.c` is a module, or an attribute chain of the longest importable module prefix."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


NAMES = sorted({(where, n.rstrip(".")) for where, text in printed_text().items() for n in NAME.findall(text)})
PATHS = sorted({(where, p.rstrip(".,;")) for where, text in printed_text().items() for p in PATH.findall(text)})


def test_the_paper_prints_names_and_paths():
    # the scan itself works: the paper does name modules and files (else the tests below check nothing)
    assert NAMES and PATHS


@pytest.mark.parametrize(("where", "name"), NAMES)
def test_printed_effdl_name_exists(where, name):
    assert resolves(name), f"{where} prints {name}, which does not import. Fix: use the module's current path."


@pytest.mark.parametrize(("where", "path"), PATHS)
def test_printed_src_path_exists(where, path):
    assert (REPO / path).exists(), f"{where} prints {path}, which does not exist. Fix: use the file's current path."


def test_stale_names_are_caught():
    assert not resolves("effdl.matmul_count")
    assert resolves("effdl.studies.matmul_count")
    assert not resolves("effdl.compress.quant.no_such_function")
