"""docs/architecture.md lists every module under src/effdl/, and every effdl name it mentions exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
DOC = (REPO / "docs" / "architecture.md").read_text()


def module_file(dotted: str) -> Path | None:
    """The file of a dotted module or package name, or None."""
    path = SRC.joinpath(*dotted.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def all_modules() -> set[str]:
    names = set()
    for path in (SRC / "effdl").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_module_is_documented():
    mentioned = set(re.findall(r"`(effdl(?:\.\w+)*)", DOC))
    missing = sorted(all_modules() - mentioned - {"effdl"})
    assert not missing, f"docs/architecture.md does not list {missing}"


def test_every_documented_name_exists():
    wrong = []
    for dotted in sorted(set(re.findall(r"\beffdl(?:\.\w+)+", DOC))):
        if module_file(dotted):
            continue
        parent, _, attribute = dotted.rpartition(".")
        source = module_file(parent)
        defined = source and re.search(rf"^(?:def|class) {attribute}\b|^{attribute}\s*=", source.read_text(), re.M)
        if not defined:
            wrong.append(dotted)
    assert not wrong, f"docs/architecture.md names {wrong}, which do not exist"


def test_the_checks_see_a_missing_module():
    assert module_file("effdl.engine") is not None and module_file("effdl.no_such_module") is None
    assert "effdl.report.part3" in all_modules()


def test_readme_showcase_block_is_the_generated_one():
    """The README's showcase block holds docs/cpu-tier/claims.md verbatim (python -m effdl.report.showcase)."""
    from effdl.report.showcase import SHOWCASE_BEGIN, SHOWCASE_END

    readme = (REPO / "README.md").read_text()
    assert readme.count(SHOWCASE_BEGIN) == 1 and readme.count(SHOWCASE_END) == 1
    block = readme.split(SHOWCASE_BEGIN)[1].split(SHOWCASE_END)[0]
    claims = REPO / "docs" / "cpu-tier" / "claims.md"
    if claims.exists():
        assert claims.read_text() in block, "README's showcase is stale: rerun python -m effdl.report.showcase"
    for image in re.findall(r"\]\((docs/cpu-tier/[\w.-]+\.png)\)", block):
        assert (REPO / image).is_file(), image
