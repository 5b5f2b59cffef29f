"""The submission notebook: built cell by cell with nbformat, executed with nbclient in an ipykernel.

One section per part of the seed, in the seed's order. For each implementation question a code cell shows
the project's implementation, read from src/ by object name when the cell runs; the seed's test cells
(`effdl.report.seed_tests`) run live; every figure and table the paper includes is displayed from results/
with the command that rebuilds it. The notebook reads results and trains nothing.

Torch-free at import (the builder only writes cells); torch is imported inside the kernel.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import v4

from effdl.report.nbdisplay import plain_text
from effdl.report.seed_tests import SEED_TESTS
from effdl.report.sources import QUESTIONS, SEED_PARTS

KERNEL_NAME = "python3"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_HEADING = re.compile(r"\\(section|subsection)\*?\{(.*)\}")
_FIGURE = re.compile(r"\\includegraphics(?:\[[^\]]*\])?\{([^}]+)\}")
_GENERATED = re.compile(r"\\input\{\\gen\{([^}]+)\}\}")
_FLOAT_BEGIN = re.compile(r"\\begin\{(?:figure|table)\*?\}")
_FLOAT_END = re.compile(r"\\end\{(?:figure|table)\*?\}")
_NEWCOMMAND = re.compile(r"\\newcommand\{\\([A-Za-z]+)\}\{(.*)\}\s*$", re.MULTILINE)


class NotebookExecutionError(RuntimeError):
    """A notebook cell raised; the message carries that cell's source and traceback."""


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
                current = named[-1] if match.group(1) == "subsection" and named else part_number
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


def rebuild_command(target: str, configfiles: Sequence[str] = (), cores: int = 2, workdir: str = ".") -> str:
    """The command (run from the repository root) that rebuilds one target under the same config overlays, in the
    same working directory (`workdir`, relative to the root: "." or a variant's folder)."""
    overlays = "".join(f" --configfile {c}" for c in configfiles if Path(c).name != "config.yaml")
    directory = "" if workdir in ("", ".") else f" --directory {workdir}"
    return f".venv/bin/snakemake --cores {cores} --resources gpu=1{overlays}{directory} --force {target}"


def _md(text: str):
    return v4.new_markdown_cell(text.strip() + "\n")


def _code(text: str):
    return v4.new_code_cell(text.strip() + "\n")


def _setup_cell(threads: int) -> str:
    return f"""\
# Setup: the repository's src/ first on the path, so every cell below reads and runs this checkout's code.
# Results are read from the working directory: the repository root, or a variant's folder (variants/<name>).
import platform
import sys
from pathlib import Path

ROOT = next((p for p in (Path.cwd(), *Path.cwd().parents) if (p / "Snakefile").is_file()), None)
assert ROOT is not None, f"run this notebook inside the repository (its root or variants/<name>), not {{Path.cwd()}}"
sys.path.insert(0, str(ROOT / "src"))

import torch

import effdl
from effdl.provenance import git_commit
from effdl.report.nbdisplay import show_figure, show_source, show_table

torch.set_num_threads({int(threads)})
print("python", platform.python_version(), "| torch", torch.__version__, "| effdl from", Path(effdl.__file__).parent)
print("git commit", git_commit(str(ROOT)))
"""


def build_notebook(
    *,
    team: Sequence[dict],
    label: str,
    exhibits: Sequence[Exhibit],
    configfiles: Sequence[str] = (),
    workdir: str = ".",
    notebook_target: str = "",
    threads: int = 1,
    questions=QUESTIONS,
    seed_tests=SEED_TESTS,
):
    """The unexecuted notebook (nbformat v4 node): title, setup, then one section per seed part."""
    members = "\n".join(f"- {m['name']} ({m['email']})" for m in team)
    nb = v4.new_notebook()
    nb.metadata.update(
        {
            "kernelspec": {"name": KERNEL_NAME, "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        }
    )
    cells = [
        _md(f"""\
# CS2420 Problem Set 2: the effdl study

**Team**

{members}

**Build:** {label}. This notebook is generated and executed by the workflow (rule `notebook`): it reads the
study's results and trains nothing. Every implementation is shown from `src/` as it is when the cell runs,
the seed's tests run live, and every figure and table of the write-up is displayed from `results/` with the
command that rebuilds it. Rebuild this notebook: `{rebuild_command(notebook_target, configfiles, workdir=workdir)}`.
Reproduce the whole study: `bash workflow/setup.sh && .venv/bin/snakemake --cores 4 --resources gpu=1`.
Every output is saved in the file; to re-run the cells, start the kernel in the repository root (the setup cell
checks) with the project's environment."""),
        _code(_setup_cell(threads)),
    ]
    parts_seen = set()
    for seed_part in SEED_PARTS:
        major = seed_part.number.split(".")[0]
        if major not in parts_seen:
            parts_seen.add(major)
            cells.append(_md(f"# Part {major}"))
        cells.append(_md(f"## Part {seed_part.number}: {seed_part.title}"))
        for question in (q for q in questions if q.part == seed_part.number):
            refs = ", ".join(json.dumps(ref) for ref in question.objects)
            cells.append(
                _md(
                    f"**Question {question.number}**: {question.task}. The implementation, read from "
                    "`src/` by object name:"
                )
            )
            cell = _code(f"# Question {question.number}\nshow_source({refs})")
            cell.metadata["effdl"] = {"question": question.number}
            cells.append(cell)
        for test in (t for t in seed_tests if t.part == seed_part.number):
            cells.append(_md(f"**{test.label}**: {test.title}."))
            cell = _code(test.code)
            cell.metadata["effdl"] = {"seed_test": test.key}
            cells.append(cell)
        cells += _exhibit_cells([e for e in exhibits if e.part == seed_part.number], configfiles, workdir)
        last_of_part = seed_part is [p for p in SEED_PARTS if p.number.split(".")[0] == major][-1]
        beyond = [e for e in exhibits if e.part == major]
        if last_of_part and beyond:
            cells.append(_md(f"## Part {major}: beyond the seed"))
            cells += _exhibit_cells(beyond, configfiles, workdir)
    for index, cell in enumerate(cells):
        cell["id"] = f"cell-{index:03d}"  # stable ids: the same inputs build the same notebook
    nb.cells = cells
    nbformat.validate(nb)
    return nb


def _exhibit_cells(exhibits: Sequence[Exhibit], configfiles: Sequence[str], workdir: str = ".") -> list:
    cells = []
    for exhibit in exhibits:
        command = rebuild_command(exhibit.path, configfiles, workdir=workdir)
        show = "show_figure" if exhibit.kind == "figure" else "show_table"
        caption = f": {exhibit.caption}" if exhibit.caption else "."
        cells.append(
            _md(
                f"**{exhibit.kind.capitalize()} of the paper** (`paper/sections/{exhibit.section_file}`, "
                f"file `{exhibit.path}`){caption}"
            )
        )
        cell = _code(f"{show}({json.dumps(exhibit.path)},\n     rebuild={json.dumps(command)})")
        cell.metadata["effdl"] = {exhibit.kind: exhibit.path}
        cells.append(cell)
    return cells


def execute_notebook(
    nb, out_path: str | Path, cwd: str | Path, *, timeout_s: int = 120, kernel_name: str = KERNEL_NAME
):
    """Run every cell in a fresh kernel started in `cwd`; write the executed notebook to `out_path` atomically.

    A cell that raises stops the run with NotebookExecutionError carrying that cell's source and traceback
    (nbclient's CellExecutionError, ANSI colours removed); nothing is written then.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    client = NotebookClient(
        nb, timeout=timeout_s, kernel_name=kernel_name, record_timing=False, resources={"metadata": {"path": str(cwd)}}
    )
    try:
        client.execute()
    except CellExecutionError as err:
        failed = [
            i for i, c in enumerate(nb.cells) if any(o.get("output_type") == "error" for o in c.get("outputs", ()))
        ]
        where = f"cell {failed[0]}" if failed else "a cell"
        raise NotebookExecutionError(
            f"notebook {where} failed ({err.ename}: {err.evalue}):\n{ANSI.sub('', str(err))}"
        ) from None
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    nbformat.write(nb, str(tmp))
    tmp.replace(out_path)
    return nb
