"""Checks of the generated paper's sources: answers within the seed's word limits, every macro defined."""

from __future__ import annotations

import re
from pathlib import Path

NEWCOMMAND = re.compile(r"\\newcommand\{\\([A-Za-z]+)\}\{(.*)\}\s*$", re.MULTILINE)
ANSWER = re.compile(r"\\begin\{answer\}\{([^}]*)\}\{(\d+)\}(.*?)\\end\{answer\}", re.DOTALL)
UPPER_MACRO = re.compile(r"\\([A-Z][A-Za-z]*)")
BUILTIN_UPPER = {"LaTeX", "TeX", "S"}  # \S: the section sign


def generated_macros(tex_dir: str | Path) -> dict[str, str]:
    """All \\newcommand definitions in the generated TeX files."""
    macros = {}
    for path in sorted(Path(tex_dir).glob("*.tex")):
        macros.update(dict(NEWCOMMAND.findall(path.read_text())))
    return macros


def expand(text: str, macros: dict[str, str], depth: int = 5) -> str:
    """Replace generated macros by their values (repeatedly, for macros that use macros)."""
    for _ in range(depth):
        new = re.sub(r"\\([A-Za-z]+)(\{\})?", lambda m: macros.get(m.group(1), m.group(0)), text)
        if new == text:
            break
        text = new
    return text


def count_words(tex: str) -> int:
    """Words of TeX text: commands, math and braces removed, then whitespace-separated tokens with a letter or digit."""
    text = re.sub(r"(?<!\\)%.*", "", tex)  # comments, not \%
    text = re.sub(r"\$[^$]*\$", " x ", text)
    text = re.sub(r"\\[A-Za-z]+\*?", " ", text)
    text = re.sub(r"[{}\\~]", " ", text)
    return sum(1 for token in text.split() if re.search(r"[A-Za-z0-9]", token))


def answer_word_counts(sections_dir: str | Path, macros: dict[str, str]) -> list[tuple[str, int, int]]:
    """(question, words with macros expanded, the seed's limit) for every answer environment."""
    rows = []
    for path in sorted(Path(sections_dir).glob("*.tex")):
        for question, limit, body in ANSWER.findall(path.read_text()):
            rows.append((question, count_words(expand(body, macros)), int(limit)))
    return rows


def undefined_macros(paper_dir: str | Path, macros: dict[str, str]) -> set[str]:
    """Capitalised macros used by the paper's sources that no generated file (nor the sources) defines."""
    used, defined = set(), set(macros) | BUILTIN_UPPER
    for path in Path(paper_dir).rglob("*.tex"):
        text = re.sub(r"(?<!\\)%.*", "", path.read_text())
        text = re.sub(r"(?<!\\)\$[^$]*\$", " ", text)  # math ($\Delta$) uses TeX's own macros
        used |= set(UPPER_MACRO.findall(text))
        defined |= set(re.findall(r"\\newcommand\{\\([A-Za-z]+)\}", text))
    return used - defined


def unused_macros(paper_dir: str | Path, tex_dir: str | Path) -> set[str]:
    """Generated macros that neither the paper's sources nor another generated file (a table, a macro built from
    macros) use: numbers computed for nobody."""
    macros = generated_macros(tex_dir)
    texts = [re.sub(r"(?<!\\)%.*", "", path.read_text()) for path in Path(paper_dir).rglob("*.tex")]
    texts += [re.sub(r"\\newcommand\{\\[A-Za-z]+\}", "", path.read_text()) for path in Path(tex_dir).glob("*.tex")]
    used = set(re.findall(r"\\([A-Za-z]+)", "\n".join(texts)))
    return set(macros) - used
