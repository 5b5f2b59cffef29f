"""No two parts of effdl import each other: the import graph between its packages and top-level modules is acyclic.

Read from the source with ast (every import statement, also inside functions: it runs when the code does), so
a cycle fails here before it becomes an import-order bug or a package that cannot be understood on its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def module_name(path: Path, src: Path = SRC) -> str:
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit(module: str) -> str:
    """The part of effdl a module belongs to: its subpackage (effdl.compress) or itself (effdl.engine)."""
    return ".".join(module.split(".")[:2])


def imported(path: Path, module: str) -> set[str]:
    """The effdl modules a file's import statements name (relative imports resolved; `from a import b` names a.b
    too, which may be a submodule)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(part for part in [*parts, base] if part)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in names if name == "effdl" or name.startswith("effdl.")}


def unit_graph(src: Path = SRC) -> dict[str, dict[str, list[str]]]:
    """{unit: {imported unit: ["module -> module", ...]}} over every file under src/effdl."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted((src / "effdl").rglob("*.py")):
        module = module_name(path, src)
        for target in sorted(imported(path, module)):
            if target == "effdl" or unit(target) == unit(module):
                continue  # the root package re-exports nothing that could close a loop (checked below)
            graph.setdefault(unit(module), {}).setdefault(unit(target), []).append(f"{module} -> {target}")
    return graph


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The strongly connected groups of more than one unit (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_two_parts_of_effdl_import_each_other():
    graph = unit_graph()
    assert {"effdl.models", "effdl.compress", "effdl.plan", "effdl.report"} <= set(graph)
    problems = []
    for group in cycles(graph):
        edges = [edge for a in group for b in group if b in graph.get(a, {}) for edge in graph[a][b][:2]]
        problems.append(f"{' <-> '.join(group)}: " + "; ".join(edges))
    assert not problems, "import cycles between packages:\n" + "\n".join(problems)


def test_the_root_package_imports_nothing_of_its_own():
    tree = ast.parse((SRC / "effdl" / "__init__.py").read_text())
    assert not [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def test_the_cycle_check_sees_a_cycle(tmp_path):
    """The check can fail: two packages importing each other (one of them inside a function) are found."""
    for name, text in {
        "a/__init__.py": "",
        "a/x.py": "from effdl.b.y import f\n",
        "b/__init__.py": "",
        "b/y.py": "def f():\n    from ..a import x\n",
        "c.py": "import effdl.a.x\n",
    }.items():
        path = tmp_path / "effdl" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "effdl" / "__init__.py").write_text("")
    assert cycles(unit_graph(tmp_path)) == [["effdl.a", "effdl.b"]]
