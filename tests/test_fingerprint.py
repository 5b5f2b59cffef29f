"""Code fingerprints (effdl.fingerprint): blind to comments, docstrings and layout; see code changes and imports."""

from __future__ import annotations

import base64
import io
import json
import os
import textwrap
import time
import tokenize
from pathlib import Path

import pytest

from effdl import code_records as cr
from effdl import fingerprint as fp
from effdl.plan.registry import HOOKS, MODELS

SRC = Path(__file__).resolve().parents[1] / "src"
LIBRARY = sorted((SRC / "effdl").rglob("*.py"))

BASE = '''\
"""A module."""

import math


def area(r, *, scale=1.0):
    """Area of a circle."""
    return scale * math.pi * r**2


class Box:
    """A box."""

    size = 3

    def volume(self):
        return self.size**3
'''

# Same code, other text: each must leave the digest alone.
SAME_CODE = {
    "comment": BASE.replace("import math\n", "import math  # for pi\n# a comment line\n"),
    "docstrings": BASE.replace('"""A module."""', '"""Another text."""')
    .replace('"""Area of a circle."""', '"""Area.\n\n    Longer now.\n    """')
    .replace('    """A box."""\n\n', ""),
    "layout": BASE.replace("return scale * math.pi * r**2", "return (scale *\n            math.pi * (r**2))")
    .replace("\n\n\nclass", "\n\nclass")
    .replace("def area(r, *, scale=1.0):", "def area(\n    r,\n    *,\n    scale=1.0,\n):"),
    "string statement": BASE.replace("    size = 3\n", "    size = 3\n    'a string used as a comment'\n"),
}

# Code changes, each small: each must change the digest.
OTHER_CODE = {
    "constant": BASE.replace("size = 3", "size = 4"),
    "int vs float": BASE.replace("size = 3", "size = 3.0"),
    "int vs bool": BASE.replace("size = 3", "size = True"),
    "operator": BASE.replace("r**2", "r**3"),
    "name": BASE.replace("math.pi", "math.tau"),
    "default": BASE.replace("scale=1.0", "scale=2.0"),
    "statement": BASE.replace("        return self.size**3", "        print()\n        return self.size**3"),
    "string value": BASE.replace("size = 3", "size = 'three'"),
}


def digest(source: str) -> str:
    return fp.normalised_tree(source)


@pytest.mark.parametrize("variant", SAME_CODE)
def test_comments_docstrings_and_layout_keep_the_digest(variant):
    assert SAME_CODE[variant] != BASE
    assert digest(SAME_CODE[variant]) == digest(BASE)


@pytest.mark.parametrize("variant", OTHER_CODE)
def test_code_changes_change_the_digest(variant):
    assert digest(OTHER_CODE[variant]) != digest(BASE)


def test_a_docstring_only_body_equals_pass_and_differs_from_real_code():
    assert digest('def f():\n    """Doc."""\n') == digest("def f():\n    pass\n")
    assert digest("def f():\n    pass\n") != digest("def f():\n    return 1\n")


def with_comments(source: str) -> str:
    """`source` with a comment ending every logical line, a blank line after each, and comment lines around."""
    lines = source.splitlines(keepends=True)
    ends = [tok.start for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.NEWLINE]
    for row, col in reversed(ends):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + "  # a comment" + line[col:] + "\n"
    return "# a leading comment\n" + "".join(lines) + "\n# a last comment\n"


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.relative_to(SRC).as_posix())
def test_every_library_module_is_fingerprinted_by_its_syntax_tree(path):
    """The proof for each real module: comments on every line and blank lines between them change nothing,
    while one added statement does."""
    source = path.read_text()
    commented = with_comments(source)
    assert commented.count("# a comment") >= min(source.count("\n"), 3) // 3
    assert digest(commented) == digest(source)
    assert digest(source + "\n_added = 1\n") != digest(source)


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))


@pytest.fixture
def package(tmp_path):
    """A small effdl tree: relative, lazy, package and submodule-by-name imports, and a module nobody imports."""
    write(
        tmp_path,
        {
            "effdl/__init__.py": '"""Package."""\n',
            "effdl/a.py": "from .b import helper\nimport os\n",
            "effdl/b.py": "def helper():\n    from effdl.pkg import sub\n    return sub\n",
            "effdl/pkg/__init__.py": "from . import inner\n",
            "effdl/pkg/inner.py": "X = 1\n",
            "effdl/pkg/sub.py": "from ..c import value\n",
            "effdl/c.py": "value = 1\n",
            "effdl/unused.py": "value = 2\n",
            "script.py": "from effdl.a import helper\nimport numpy\n",
        },
    )
    return tmp_path


def test_imports_are_followed_transitively(package):
    tree = fp.SourceTree(package)
    digests = fp.script_digests(package / "script.py", tree, name="script.py")
    assert sorted(digests) == [
        "effdl/__init__.py",
        "effdl/a.py",
        "effdl/b.py",
        "effdl/c.py",  # relative import two levels up, from a module imported inside a function
        "effdl/pkg/__init__.py",  # importing effdl.pkg.sub runs the package first
        "effdl/pkg/inner.py",  # `from . import inner` in a package
        "effdl/pkg/sub.py",  # `from effdl.pkg import sub`: a submodule, not an attribute
        "script.py",
    ]


def test_a_change_reaches_the_fingerprint_through_imports_and_nothing_else_does(package):
    tree = fp.SourceTree(package)

    def fingerprint():
        return fp.fingerprint(fp.script_digests(package / "script.py", tree, name="script.py"))

    before = fingerprint()
    (package / "effdl/unused.py").write_text("value = 3\n")
    (package / "effdl/c.py").write_text("# a comment\nvalue = 1  # still one\n")
    assert fingerprint() == before
    (package / "effdl/c.py").write_text("value = 2\n")
    assert fingerprint() != before


def test_extra_modules_reached_by_name_count(package):
    tree = fp.SourceTree(package)
    plain = fp.script_digests(package / "script.py", tree)
    with_unused = fp.script_digests(package / "script.py", tree, ["effdl.unused"])
    assert set(with_unused) - set(plain) == {"effdl/unused.py"}


def test_dispatched_modules_name_each_registered_model_and_hook():
    for name, target in MODELS.items():
        assert fp.dispatched_modules({"model": {"name": name}}) == {target.split(":")[0]}
    hooks = [{"name": name} for name in HOOKS]
    modules = fp.dispatched_modules({"model": {"name": "convnet"}, "hooks": hooks})
    assert {target.split(":")[0] for target in HOOKS.values()} <= modules
    for module in modules:
        assert fp.SourceTree(SRC).path_of(module) is not None, module


def test_the_parse_cache_round_trips(tmp_path, package):
    files = sorted(package.rglob("*.py"))
    fresh = {f: fp.parse_module(f) for f in files}
    cache = tmp_path / "cache" / "parsed.json"
    fp.save_cache(cache, files)
    fp._PARSED.clear()
    fp.load_cache(cache)
    assert len(fp._PARSED) == len({fp._content(f) for f in files})
    assert {f: fp.parse_module(f) for f in files} == fresh
    cache.write_text("{not json")
    fp.load_cache(cache)  # a broken cache is ignored


def snakemake_record(root: Path, output: str, rule: str, params: list[str], log: str) -> None:
    """A record as Snakemake's file backend writes it (long names split into '@' directories)."""
    name = base64.urlsafe_b64encode(output.encode()).decode()
    parts = [name[i : i + 40] for i in range(0, len(name), 40)]
    path = root / "metadata" / Path(*["@" + p for p in parts[:-1]], parts[-1])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"rule": rule, "params": params, "log": [log], "incomplete": False}))


def test_code_changes_name_the_module_and_count_jobs_once(tmp_path, package):
    tree = fp.SourceTree(package)
    store = tmp_path / "store"

    def current(entries):
        return fp.script_digests(package / entries["script"], tree, entries["modules"], name=entries["script"])

    entries = {"script": "script.py", "modules": []}
    old = current(entries)
    cr.store_record(store, fp.fingerprint(old), entries, old)
    snake = tmp_path / ".snakemake"
    outputs = [str(tmp_path / "results" / f"run{i}" / name) for i in range(3) for name in ("a.csv", "model.pt")]
    for output in outputs:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text("")
        log = str(Path(output).parent / "log")
        snakemake_record(snake, output, "train_model", [repr(cr.param_value(fp.fingerprint(old))), "'x'"], log)
    snakemake_record(snake, str(tmp_path / "legacy.csv"), "quantize_model", ["'abc'"], "l1")
    (tmp_path / "legacy.csv").write_text("")
    records = list(cr.snakemake_records(snake))
    assert sorted(path for path, _ in records) == sorted([*outputs, str(tmp_path / "legacy.csv")])

    unchanged = cr.code_changes(records, store, current, {"train_model", "quantize_model"})
    assert unchanged.by_module == {}
    assert unchanged.unfingerprinted == {"quantize_model": 1}
    assert unchanged.lines() == ["  1 quantize_model job built before code fingerprints existed: out of date once"]
    assert unchanged.recorded == {fp.fingerprint(old)}

    (package / "effdl/c.py").write_text("value = 5\n")
    changed = cr.code_changes(records, store, current, {"train_model"})
    assert changed.by_module == {"effdl/c.py": {"train_model": 3}}
    assert changed.lines() == ["  code changed: effdl/c.py → 3 train_model jobs out of date"]


def test_the_store_forgets_only_old_fingerprints_no_record_names(tmp_path):
    for name in ("named", "unnamed_old", "unnamed_new"):
        cr.store_record(tmp_path, name, {"script": "s.py", "modules": []}, {"s.py": "0"})
    old = time.time() - 30 * 86400
    for name in ("named", "unnamed_old"):
        os.utime(tmp_path / f"{name}.json", (old, old))
    cr.prune_store(tmp_path, keep={"named"})
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == ["named", "unnamed_new"]
    assert cr.read_record(tmp_path, "named")["digests"] == {"s.py": "0"}


REGISTRY = SRC / "effdl" / "plan" / "registry.py"
A_RUN = {"model": {"name": "convnet"}, "train": {"scheduler": "multistep"}}
OTHER_RUN = {"model": {"name": "convnet"}, "train": {"scheduler": "cosine_annealing"}}
# Edits of the registry that no run of the study executes: a new scheduler, a display colour, a display name.
DATA_ONLY_EDITS = {
    "new scheduler": ("SCHEDULERS = {\n", 'SCHEDULERS = {\n    "linear": Scheduler("linear decay", colour=5),\n'),
    "colour": ('Scheduler("MultiStep", colour=0,', 'Scheduler("MultiStep", colour=4,'),
    "display name": ('Scheduler("MultiStep",', 'Scheduler("MultiStepLR",'),
    "model name": ('"resnet18": Choice("ResNet-18")', '"resnet18": Choice("ResNet 18")'),
}


def registry_variant(tmp_path: Path, old: str, new: str) -> Path:
    text = REGISTRY.read_text()
    assert old in text, old  # the edit must apply to today's registry, or the test tests nothing
    path = tmp_path / "registry.py"
    path.write_text(text.replace(old, new, 1))
    return path


def test_a_run_reads_its_model_and_scheduler_from_the_registry():
    reads = fp.registry_reads({"model": {"name": "sparse_convnet"}, "train": {}, "hooks": [{"name": "prune"}]})
    assert reads == {"MODELS:sparse_convnet", "SCHEDULERS:none", "HOOKS:prune"}


@pytest.mark.parametrize("edit", sorted(DATA_ONLY_EDITS))
def test_registry_data_a_run_does_not_read_leaves_its_fingerprint(tmp_path, edit):
    edited = registry_variant(tmp_path, *DATA_ONLY_EDITS[edit])
    reads = fp.registry_reads(A_RUN)
    assert fp.registry_digest(edited, reads) == fp.registry_digest(REGISTRY, reads)
    # a job that reads the whole registry (a figure, the text) sees every such edit
    assert fp.parse_module(edited).digest != fp.parse_module(REGISTRY).digest


def test_a_change_to_how_a_scheduler_steps_retrains_only_its_runs(tmp_path):
    edited = registry_variant(
        tmp_path, 'Scheduler("MultiStep", colour=0,', 'Scheduler("MultiStep", step="batch", colour=0,'
    )
    assert fp.registry_digest(edited, fp.registry_reads(A_RUN)) != fp.registry_digest(
        REGISTRY, fp.registry_reads(A_RUN)
    )
    other = fp.registry_reads(OTHER_RUN)
    assert fp.registry_digest(edited, other) == fp.registry_digest(REGISTRY, other)


def test_registry_code_and_a_read_entry_removed_change_every_run(tmp_path):
    code = registry_variant(tmp_path, "def resolve(", "def _new_helper():\n    return 1\n\n\ndef resolve(")
    reads = fp.registry_reads(OTHER_RUN)
    assert fp.registry_digest(code, reads) != fp.registry_digest(REGISTRY, reads)
    gone = registry_variant(tmp_path, '    "cosine_annealing": Scheduler(', '    "cosine": Scheduler(')
    assert fp.registry_digest(gone, reads) != fp.registry_digest(REGISTRY, reads)


def test_the_registry_counts_whole_only_for_jobs_that_read_whole_lists_of_it():
    tree = fp.SourceTree(SRC)
    reads = fp.registry_reads(A_RUN)
    as_data = tree.digests(["effdl.runs"], reads)["effdl/plan/registry.py"]
    assert as_data == fp.registry_digest(REGISTRY, reads)
    whole = fp.parse_module(REGISTRY).digest
    assert tree.digests(["effdl.runs"], reads, whole_registry=True)["effdl/plan/registry.py"] == whole
    # the report's display names and colours read every entry: figures and text follow any registry edit
    assert tree.list_readers(tree.closure(["effdl.report.names"])) == {"effdl.report.names"}
    assert tree.digests(["effdl.runs", "effdl.report.names"], reads)["effdl/plan/registry.py"] == whole


def test_every_registry_importer_is_known_as_an_entry_reader_or_reads_it_whole():
    """A new importer of the registry defaults to reading it whole; the entry readers named must still import it."""
    tree = fp.SourceTree(SRC)
    modules = {".".join(p.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__") for p in LIBRARY}
    importers = {name for name in modules if fp.REGISTRY in tree.imported_modules(tree.path_of(name), name)}
    assert fp.REGISTRY_ENTRY_READERS <= importers
    assert tree.list_readers(modules) == importers - fp.REGISTRY_ENTRY_READERS
    assert {"effdl.report.names", "effdl.report.plotting", "effdl.plan.cost"} <= tree.list_readers(modules)
