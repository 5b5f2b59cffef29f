"""The appendix table "How to rebuild each figure and table", read from the \\rebuild{target}{sources} marks.

Each figure and table of the paper carries a `\\rebuild{target}{CSV sources}` mark next to its caption (in
paper/sections/*.tex or in a generated table's caption). main.tex defines `\\rebuild` to print nothing, so the
build details stay out of the captions; this module collects the marks, with the float's label, into one table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

_FLOAT = re.compile(r"\\begin\{(figure|table)\*?\}(.*?)\\end\{\1\*?\}", re.DOTALL)
_REBUILD = re.compile(r"\\rebuild\{([^{}]*)\}\{([^{}]*)\}")
_LABEL = re.compile(r"\\label\{([^{}]*)\}")
_COMMENT = re.compile(r"(?<!\\)%.*")


@dataclass(frozen=True)
class Rebuild:
    """One figure or table: its kind, label, the target that rebuilds it and the CSVs it reads."""

    kind: str  # "Figure" or "Table"
    label: str
    target: str
    sources: str


def rebuild_entries(texts: Iterable[str]) -> list[Rebuild]:
    """Every float of the given TeX texts that carries a \\rebuild mark, in the order they appear."""
    entries = []
    for text in texts:
        text = "\n".join(_COMMENT.sub("", line) for line in text.splitlines())
        for kind, body in _FLOAT.findall(text):
            mark, label = _REBUILD.search(body), _LABEL.search(body)
            if mark and label:
                entries.append(Rebuild(kind.capitalize(), label.group(1), mark.group(1), mark.group(2)))
    return entries


def in_document_order(entries: Iterable[Rebuild], sections: str) -> list[Rebuild]:
    """Figures, then tables, each in the order the paper's sections (`sections`, in reading order) place them:
    a float written in a section by its label, a generated table by where the section inputs it."""

    def position(entry: Rebuild) -> int:
        for needle in (f"\\label{{{entry.label}}}", f"\\gen{{{entry.target.rsplit('/', 1)[-1]}}}"):
            if needle in sections:
                return sections.index(needle)
        return len(sections)

    return sorted(entries, key=lambda e: (e.kind != "Figure", position(e)))


def _sources_cell(sources: str) -> str:
    """The CSVs as breakable paths; a mark saying there is no CSV (a computed figure) as plain words."""
    if sources.strip().lower().startswith("no csv"):
        return "none (computed by the rule itself)"
    return ", ".join(f"\\path{{{s.strip()}}}" for s in sources.split(",") if s.strip())


def rebuild_table(entries: Iterable[Rebuild]) -> pd.DataFrame:
    """TeX cells: which float, the snakemake target that rebuilds it, and the CSVs it reads."""
    rows = [
        {
            "": f"{e.kind}~\\ref{{{e.label}}}",
            "rebuild target": f"\\path{{{e.target}}}",
            "reads": _sources_cell(e.sources),
        }
        for e in entries
    ]
    return pd.DataFrame(rows, columns=["", "rebuild target", "reads"])
