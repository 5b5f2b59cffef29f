"""Code fingerprints: a digest of the syntax trees of the effdl modules a job runs, blind to comments and layout.

A workflow job re-runs when its code fingerprint (a rule param, so also the between-workflow cache key) changes.
The fingerprint covers the job's entry script and every `effdl` module it imports, transitively: import
statements anywhere in a module count (also those inside functions or `if` blocks), relative imports are
resolved, `from effdl.x import y` follows y when it is a submodule, and importing a module also runs its
packages' `__init__.py`. Each module contributes the digest of its normalised syntax tree, so comments,
docstrings, blank lines and formatting never change it; any change to what the code does does.

What a static scan cannot see is code chosen by name at run time (`effdl.plan.registry.MODELS` and `HOOKS`,
resolved with importlib): `dispatched_modules(spec)` names those for a run spec, and the workflow adds them.

The registry itself is mostly data that a job does not read (display names, colours, other runs' schedulers),
yet every job that builds a model imports it. So it counts as data: its code (everything but the tables) plus
the entries the job's runs read (`registry_reads(spec)`: their model, hooks and scheduler), without the fields
only figures and text read (`PRESENTATION_FIELDS`). Adding a scheduler or a colour then retrains nothing;
changing how an existing scheduler steps retrains the runs that use it. A job whose code reads whole lists of
the registry (figures, tables, text: any importer outside `REGISTRY_ENTRY_READERS`) sees it whole.

Torch-free and import-light: Snakemake computes fingerprints while it builds the DAG, for every job. Parsed
modules are cached per file (keyed by path, size and mtime), so a DAG of hundreds of jobs parses each once.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import os
import sys
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "effdl"
# digests and fingerprints are truncated sha256 hex: 16 digits (64 bits) for a job, 12 per module
FINGERPRINT_DIGITS = 16
MODULE_DIGITS = 12
# Fields that never change what code does: `kind` is the u"" prefix of a string, type comments are comments.
IGNORED_FIELDS = frozenset({"kind", "type_comment"})


def normalised_tree(source: str, filename: str = "<source>") -> str:
    """A canonical text of the code's syntax tree: no comments, docstrings, positions or formatting.

    Bare string statements (docstrings, and strings used as comments) are dropped; a body left empty becomes
    `pass`. Empty and absent fields are left out, so the text does not depend on the Python version's extra
    optional AST fields (e.g. 3.12's `type_params`).
    """
    return _dump(ast.parse(source, filename=filename), [])


def _is_bare_string(stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _dump(node, imports: list) -> str:
    """The canonical text of `node` (see normalised_tree); appends every import statement met to `imports`."""
    if isinstance(node, ast.AST):
        if isinstance(node, ast.Import):
            imports.extend((0, alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imports.append((node.level, node.module or "", tuple(alias.name for alias in node.names)))
        fields = []
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                value = [stmt for stmt in value if not _is_bare_string(stmt)]
                if not value and name == "body" and not isinstance(node, ast.Module):
                    value = [ast.Pass()]
            if name in IGNORED_FIELDS or value is None or (isinstance(value, list) and not value):
                continue
            fields.append(f"{name}={_dump(value, imports)}")
        return f"{type(node).__name__}({', '.join(fields)})"
    if isinstance(node, list):
        return f"[{', '.join(_dump(item, imports) for item in node)}]"
    # constants: the type keeps 1, 1.0 and True apart
    return f"{type(node).__name__}:{node!r}"


@dataclass(frozen=True)
class ParsedModule:
    """One source file: its normalised digest, and its import statements as (level, module, names), any depth
    (imports inside functions and `if` blocks count: they run when the code does)."""

    digest: str
    imports: tuple[tuple[int, str, tuple[str, ...]], ...]


# sha256 of a file's bytes -> what parsing it gave; (path, size, mtime) -> that sha256, within one process
_PARSED: dict[str, ParsedModule] = {}
_CONTENT: dict[tuple[str, int, int], str] = {}


def parse_module(path: str | Path) -> ParsedModule:
    """Digest and import statements of a source file; a file is parsed once per content (see load_cache)."""
    path = Path(path)
    content = _content(path)
    if content not in _PARSED:
        imports: list = []
        text = _dump(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), imports)
        _PARSED[content] = ParsedModule(hashlib.sha256(text.encode()).hexdigest()[:MODULE_DIGITS], tuple(imports))
    return _PARSED[content]


def load_cache(path: str | Path) -> None:
    """Read parse results kept by save_cache (keyed by file content, so never stale); a bad file is ignored."""
    try:
        kept = json.loads(Path(path).read_text())
        for content, (digest, imports) in kept.items():
            _PARSED.setdefault(content, ParsedModule(digest, tuple((i[0], i[1], tuple(i[2])) for i in imports)))
    except (OSError, ValueError, TypeError, IndexError):
        pass


def save_cache(path: str | Path, files: Iterable[str | Path]) -> None:
    """Keep the parse results of `files` (parsing any not parsed yet) for the next process: a DAG build then
    parses only the modules that changed since. Written atomically; a failure to write is harmless."""
    kept = {}
    for file in files:
        parsed = parse_module(file)
        kept[_content(Path(file))] = [parsed.digest, parsed.imports]
    path = Path(path)
    try:
        if path.exists() and json.loads(path.read_text()) == json.loads(json.dumps(kept)):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(kept, sort_keys=True))
        os.replace(tmp, path)
    except (OSError, ValueError):
        pass


def _content(path: Path) -> str:
    """sha256 of a file's bytes, read again only when its size or mtime changes."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _CONTENT:
        _CONTENT[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _CONTENT[key]


class SourceTree:
    """The effdl package under `src_root` (the directory holding `effdl/`), read as source, never imported."""

    def __init__(self, src_root: str | Path):
        self.src_root = Path(src_root)

    def path_of(self, module: str) -> Path | None:
        """The file of a module (`a/b.py`) or package (`a/b/__init__.py`) named `effdl...`, if it exists."""
        base = self.src_root.joinpath(*module.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    def display(self, module: str) -> str:
        """How a module is named to people: its file relative to src/ (effdl/compress/quant.py)."""
        path = self.path_of(module)
        return path.relative_to(self.src_root).as_posix() if path else module

    def imported_modules(self, path: str | Path, module: str | None = None) -> set[str]:
        """The effdl modules and packages that the import statements of `path` name (`module`: its own
        dotted name, needed to resolve relative imports; None for a script outside the package)."""
        is_package = Path(path).name == "__init__.py"
        names = set()
        for level, target, aliases in parse_module(path).imports:
            if level:
                if module is None:
                    continue
                parts = module.split(".") if is_package else module.split(".")[:-1]
                if level > 1:
                    parts = parts[: len(parts) - (level - 1)]
                target = ".".join(part for part in [*parts, target] if part)
            if target != PACKAGE and not target.startswith(PACKAGE + "."):
                continue
            names.add(target)
            names.update(f"{target}.{alias}" for alias in aliases if alias != "*")
        return {name for name in names if self.path_of(name) is not None}

    def closure(self, modules: Iterable[str]) -> set[str]:
        """`modules`, their packages, and everything they import, transitively (existing modules only)."""
        seen: set[str] = set()
        todo = [name for name in modules if self.path_of(name) is not None]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            parts = name.split(".")
            # importing a.b.c runs a/__init__.py and a/b/__init__.py first
            todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
            todo.extend(self.imported_modules(self.path_of(name), name) - seen)
        return seen

    def digests(self, modules: Iterable[str], registry: Iterable[str] = (), whole_registry: bool = False):
        """{display name: digest} of the closure of `modules`. The registry counts as data (see the module
        docstring: its code plus the `registry` entries the job's runs read) unless `whole_registry` or a module
        of the closure reads whole lists of it (any importer outside REGISTRY_ENTRY_READERS)."""
        closure = self.closure(modules)
        as_data = REGISTRY in closure and not whole_registry and not self.list_readers(closure)

        def digest(name: str) -> str:
            if name == REGISTRY and as_data:
                return registry_digest(self.path_of(name), registry)
            return parse_module(self.path_of(name)).digest

        return {self.display(name): digest(name) for name in sorted(closure)}

    def list_readers(self, modules: Iterable[str]) -> set[str]:
        """Those of `modules` that import the registry and may read whole lists of it (names, colours, counts)."""
        return {
            name
            for name in modules
            if name not in REGISTRY_ENTRY_READERS and REGISTRY in self.imported_modules(self.path_of(name), name)
        }


def script_digests(
    script: str | Path,
    tree: SourceTree,
    extra_modules: Iterable[str] = (),
    name: str | None = None,
    registry: Iterable[str] = (),
):
    """{name: digest} of what a job running `script` executes: the script itself (as `name`, default its path)
    and the closure of the effdl modules it imports plus `extra_modules` (code it reaches by name); `registry`:
    the registry entries the job's runs read (a script importing the registry itself reads it whole)."""
    modules = tree.imported_modules(script) | set(extra_modules)
    whole = REGISTRY in tree.imported_modules(script)
    return {name or str(script): parse_module(script).digest, **tree.digests(modules, registry, whole)}


# ---- the registry as data (see the module docstring)

REGISTRY = "effdl.plan.registry"
# The registry's tables: {name: entry} dicts a run reads entry by entry; the rest of the module is code.
REGISTRY_TABLES = frozenset(
    {"MODELS", "HOOKS", "SCHEDULERS", "ROUNDINGS", "GRANULARITIES", "BATCHNORM_MODES", "PRUNE_MODES", "MODEL_NAMES"}
)
# Modules that read the registry only by a run's names (its model, hooks, scheduler) or to check names: a job
# whose code reaches the registry only through these reads nothing else of it. Any other importer (the report's
# names and colours, the cost estimate's list lengths) makes the registry count whole for its jobs.
REGISTRY_ENTRY_READERS = frozenset(
    {
        "effdl.models",  # MODELS[name]
        "effdl.runs",  # HOOKS[name]
        "effdl.plan.spec",  # SCHEDULERS[name].step, and the names for validation
        "effdl.plan.prune",  # PRUNE_MODES names, for validation
        "effdl.plan.quant_variants",  # GRANULARITIES names, for parsing and validation
        "effdl.plan.config",  # the schema's enums: validation only
        "effdl.fingerprint",  # registry_reads, dispatched_modules
    }
)
# Entry fields that only figures and the paper's text read (effdl.plan.registry.Choice and Scheduler).
PRESENTATION_FIELDS = frozenset({"display", "colour", "how", "compared"})
_REGISTRY_DIGESTS: dict[tuple[str, tuple[str, ...]], str] = {}


def registry_reads(spec: Mapping) -> set[str]:
    """The registry entries a run spec's job reads ("TABLE:name"): its model, its engine hooks, its scheduler."""
    from effdl.plan.spec import TrainConfig

    scheduler = spec.get("train", {}).get("scheduler", TrainConfig.__dataclass_fields__["scheduler"].default)
    reads = {f"MODELS:{spec.get('model', {}).get('name')}", f"SCHEDULERS:{scheduler}"}
    return reads | {f"HOOKS:{hook.get('name')}" for hook in spec.get("hooks", [])}


def registry_digest(path: str | Path, reads: Iterable[str]) -> str:
    """Digest of the registry at `path` as a job reading `reads` sees it: its code without the tables, and those
    entries without their presentation fields (an entry missing counts as None)."""
    path = Path(path)
    key = (_content(path), tuple(sorted(set(reads))))
    if key not in _REGISTRY_DIGESTS:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
        tree.body = [stmt for stmt in tree.body if not _assigns_table(stmt)]
        namespace = _execute(source, path)
        entries = {}
        for read in key[1]:
            table, _, name = read.partition(":")
            entries[read] = _entry_text(namespace.get(table, {}).get(name))
        text = json.dumps([_dump(tree, []), entries], sort_keys=True)
        _REGISTRY_DIGESTS[key] = hashlib.sha256(text.encode()).hexdigest()[:MODULE_DIGITS]
    return _REGISTRY_DIGESTS[key]


def _assigns_table(stmt) -> bool:
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
    return any(isinstance(target, ast.Name) and target.id in REGISTRY_TABLES for target in targets)


def _execute(source: str, path: Path) -> dict:
    """The registry module's names, run from its source (torch-free and without side effects, by its contract)."""
    name = f"_effdl_registry_{hashlib.sha256(source.encode()).hexdigest()[:12]}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module  # dataclasses look their module up while the classes are built
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)
    finally:
        del sys.modules[name]
    return module.__dict__


def _entry_text(entry) -> str:
    """An entry as a job reads it: a dataclass without its presentation fields, anything else by repr."""
    if dataclasses.is_dataclass(entry):
        kept = [f.name for f in dataclasses.fields(entry) if f.name not in PRESENTATION_FIELDS]
        fields = {name: getattr(entry, name) for name in kept}
        return f"{type(entry).__name__}({fields!r})"
    return repr(entry)


def fingerprint(digests: Mapping[str, str]) -> str:
    """One short digest of {name: digest} (order-free)."""
    text = json.dumps(sorted(digests.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:FINGERPRINT_DIGITS]


def dispatched_modules(spec: Mapping) -> set[str]:
    """The modules a run spec's model and engine hooks come from: registry entries resolved by name at run time."""
    from effdl.plan.registry import HOOKS, MODELS

    targets = [MODELS.get(spec.get("model", {}).get("name"))]
    targets += [HOOKS.get(hook.get("name")) for hook in spec.get("hooks", [])]
    return {target.partition(":")[0] for target in targets if target}


# ---- which code change made a job out of date
