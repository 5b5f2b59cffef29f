"""The paper's figures and tables as the submission notebook shows them: found in paper/sections, one markdown
cell each (the figure's PNG as an attachment, a table as markdown), under the question they answer.

Torch-free: the sections are parsed as text, the figures converted with pdftoppm (effdl.report.nbdisplay).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nbformat import v4

from effdl.report.nbdisplay import pdf_to_png, plain_text, tex_table_rows
from effdl.report.sources import SEED_PARTS

# \section{..}, \subsection{..} and the paper's \partsection{1}{Part 1: ...}, \partsubsection{1.1}{Part 1.1: ...},
# \extrasection{..}, \extrasubsection{..}: group 1 the command, group 2 all its brace arguments
_HEADING = re.compile(r"\\((?:part|extra)?(?:sub)?section)\*?((?:\{(?:[^{}]|\{[^{}]*\})*\})+)")
_FIGURE = re.compile(r"\\includegraphics(?:\[[^\]]*\])?\{([^}]+)\}")
_GENERATED = re.compile(r"\\input\{\\gen\{([^}]+)\}\}")
_FLOAT_BEGIN = re.compile(r"\\begin\{(?:figure|table)\*?\}")
_FLOAT_END = re.compile(r"\\end\{(?:figure|table)\*?\}")
_NEWCOMMAND = re.compile(r"\\newcommand\{\\([A-Za-z]+)\}\{(.*)\}\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Exhibit:
    """A figure or table of the paper: its file under results/, kind, seed part, and caption (plain text)."""

    path: str  # "results/figs/lr_sweep.pdf" or "results/tex/part1_table.tex"
    kind: str  # "figure" or "table"
    part: str  # "1.1"; or "2" (a part's "beyond the seed" material)
    section_file: str
    caption: str = ""


def braced(text: str, start: int) -> str:
    """The contents of the brace group that opens at text[start] == '{' (nested groups kept)."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{" and text[i - 1 : i] != "\\":
            depth += 1
        elif text[i] == "}" and text[i - 1 : i] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    return text[start + 1 :]


def _caption(region: str, macros: dict[str, str]) -> str:
    """Plain text of the first \\caption in `region`, generated macros expanded."""
    match = re.search(r"\\caption\{", region)
    if not match:
        return ""
    tex = braced(region, match.end() - 1)
    for _ in range(3):
        tex = re.sub(r"\\([A-Za-z]+)(\{\})?", lambda m: macros.get(m.group(1), m.group(0)), tex)
    tex = re.sub(r"\\(ref|label|cite)\{[^}]*\}", "", tex)
    tex = re.sub(r"\\rebuild\{[^{}]*\}\{[^{}]*\}", "", tex)  # build details stay out of the notebook
    return plain_text(tex)


def _float_region(text: str, pos: int) -> str:
    """From `pos` to the end of the figure/table environment around it ('' when `pos` is in no float)."""
    begins = [m.end() for m in _FLOAT_BEGIN.finditer(text, 0, pos)]
    ends = [m.end() for m in _FLOAT_END.finditer(text, 0, pos)]
    if not begins or (ends and ends[-1] > begins[-1]):
        return ""
    end = _FLOAT_END.search(text, pos)
    return text[pos : end.end() if end else len(text)]


def paper_exhibits(sections_dir: str | Path, results_dir: str = "results") -> list[Exhibit]:
    """Every figure and generated table the paper's sections include, in order, with its seed part and caption.

    A figure or table belongs to the last seed part number ("3.2") named in the title of the subsection it
    appears in; without one (e.g. "Beyond the seed") it belongs to the part itself ("3"). A generated TeX
    file counts as a table when it exists and contains a tabular (the others hold macros). Captions come from
    the enclosing float of the section, or from the generated table file itself.
    """
    known = {p.number for p in SEED_PARTS}
    macros = {}
    for generated in sorted((Path(results_dir) / "tex").glob("*.tex")):
        macros.update(_NEWCOMMAND.findall(generated.read_text(encoding="utf-8", errors="replace")))
    exhibits = []
    for tex in sorted(Path(sections_dir).glob("part*.tex")):
        part_number = re.sub(r"\D", "", tex.stem) or "0"
        current = part_number
        lines = tex.read_text(encoding="utf-8").splitlines()
        text = "\n".join(re.sub(r"(?<!\\)%.*", "", line) for line in lines)  # TeX comments dropped, \% kept
        events = sorted(
            [(m.start(), "heading", m) for m in _HEADING.finditer(text)]
            + [(m.start(), "figure", m) for m in _FIGURE.finditer(text)]
            + [(m.start(), "generated", m) for m in _GENERATED.finditer(text)]
        )
        for pos, kind, match in events:
            region = _float_region(text, pos)
            if kind == "heading":
                named = [n for n in re.findall(r"\d\.\d", match.group(2)) if n in known]
                current = named[-1] if match.group(1).endswith("subsection") and named else part_number
            elif kind == "figure":
                name = match.group(1)
                path = f"{results_dir}/figs/{name}" + ("" if Path(name).suffix else ".pdf")
                exhibits.append(Exhibit(path, "figure", current, tex.name, _caption(region, macros)))
            else:
                path = Path(results_dir) / "tex" / match.group(1)
                body = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
                if "\\begin{tabular}" in body:
                    caption = _caption(region, macros) or _caption(body, macros)
                    exhibits.append(Exhibit(str(path), "table", current, tex.name, caption))
    return exhibits


def _md(text: str):
    return v4.new_markdown_cell(text.strip() + "\n")


def exhibit_cells(exhibits: Sequence[Exhibit]) -> list:
    """One markdown cell per figure (its PNG as an attachment) or table (a markdown table), with its caption."""
    cells = []
    for exhibit in exhibits:
        name = Path(exhibit.path).name
        caption = f": {exhibit.caption}" if exhibit.caption else "."
        if exhibit.kind == "figure":
            png = Path(exhibit.path).stem + ".png"
            cell = _md(f"**Figure** (`{name}`){caption}\n\n![{png}](attachment:{png})")
            figure = Path(exhibit.path)
            data = figure.read_bytes() if figure.suffix.lower() == ".png" else pdf_to_png(figure)
            cell["attachments"] = {png: {"image/png": base64.b64encode(data).decode("ascii")}}
        else:
            rows = tex_table_rows(Path(exhibit.path).read_text(encoding="utf-8"))
            cell = _md(f"**Table** (`{name}`){caption}\n\n{markdown_table(rows)}")
        cell.metadata["effdl"] = {exhibit.kind: exhibit.path}
        cells.append(cell)
    return cells


def markdown_table(rows: Sequence[Sequence[str]]) -> str:
    """A markdown table of plain-text rows (the first is the header); '|' in a cell escaped."""
    width = max(len(r) for r in rows)
    padded = [[c.replace("|", "\\|") for c in r] + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(padded[0]) + " |", "|" + " --- |" * width]
    lines += ["| " + " | ".join(r) + " |" for r in padded[1:]]
    return "\n".join(lines)
