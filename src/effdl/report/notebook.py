"""The submission notebook: built cell by cell with nbformat, executed with nbclient in an ipykernel.

It stands alone: a teaching fellow reruns it with no repository. One section per part of the problem set, in
its order. Each implementation question gets a code cell with the project's source of its objects and of every
effdl helper they call, inlined from src/ at build time (effdl.report.sources.inline_closure), and the problem
set's tests (`effdl.report.seed_tests`) run on what those cells define. Each figure and table of the paper sits
under its question as a markdown cell (PNG attachment, markdown table), with the study's training logs. Each
part ends with a training cell that reruns its runs with the study's code (effdl.report.nbrun, from the wheel
the submission zip carries): REPRODUCE = "recorded" (the executed copy: trains nothing), "quick" or "full".

Torch-free at import (the builder only writes cells); torch is imported inside the kernel.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import v4

from effdl.report.nbdisplay import pdf_to_png, plain_text, tex_table_rows
from effdl.report.seed_tests import SEED_TESTS
from effdl.report.sources import QUESTIONS, SEED_PARTS, inline_closure

KERNEL_NAME = "python3"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# \section{..}, \subsection{..} and the paper's \partsection{1}{Part 1: ...}, \partsubsection{1.1}{Part 1.1: ...},
# \extrasection{..}, \extrasubsection{..}: group 1 the command, group 2 all its brace arguments
_HEADING = re.compile(r"\\((?:part|extra)?(?:sub)?section)\*?((?:\{(?:[^{}]|\{[^{}]*\})*\})+)")
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


def _code(text: str):
    return v4.new_code_cell(text.strip() + "\n")


# The PyPI packages the notebook installs besides torch and torchvision (which Colab ships); the study's own
# code comes from the wheel in the notebook's folder.
PYPI_PACKAGES = (
    "numpy>=2.0,<3",
    "pandas>=2.2,<4",
    "matplotlib>=3.8,<4",
    "seaborn==0.13.2",
    "pillow>=10.0,<14",
    "pyyaml>=6.0,<7",
    "jsonschema>=4.20,<5",
)

SETUP_CELL = """\
# Setup. REPRODUCE = "recorded" shows the study's own results (saved under each question) and trains nothing;
# "quick" retrains every part with the study's code on a few images per class for one epoch (minutes on a
# CPU) and draws each part's figure; "full" retrains every run at the study's settings (hours on a GPU).
REPRODUCE = "recorded"
# Data come through torchvision (downloaded into ./data). Offline: a folder holding ImageFolder copies
# (cifar10/ and mnist/ with train/ and test/ class folders, or cifar10*.tar.gz, mnist*.tar.gz).
DATA_DIR = None
# Part 4 starts from torchvision's ImageNet weights (a download); with False, "quick" starts from random weights.
DOWNLOAD_WEIGHTS = True

import importlib.util
import platform
import subprocess
import sys
from pathlib import Path

PYPI_PACKAGES = {pypi}
if importlib.util.find_spec("effdl") is None:  # the study's code: the wheel that comes with this notebook
    wheels = sorted(Path.cwd().glob("effdl-*.whl"))
    if not wheels:
        raise FileNotFoundError(
            "effdl-*.whl is not in the notebook's folder. Fix: unzip the whole submission and open the notebook "
            "from that folder (on Colab: upload the .whl next to the notebook first)."
        )
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, *PYPI_PACKAGES], check=True)
    subprocess.run([*pip, "--no-deps", wheels[-1].name], check=True)
    importlib.invalidate_caches()

import json

import matplotlib.pyplot as plt
import torch

from effdl.report.nbrun import check_mode, packed_data, plot_accuracy, plot_bars, ptq_table, train_runs
from effdl.report.nbrun import train_transformer

check_mode(REPRODUCE)
print("python", platform.python_version(), "| torch", torch.__version__, "| REPRODUCE =", repr(REPRODUCE))
print("device:", "cuda" if torch.cuda.is_available() else "cpu")
"""

_EFFDL_IMPORT = re.compile(r"^from (effdl\.[\w.]+) import (.+)$", re.MULTILINE)


def seed_test_code(code: str, defined: set[str]) -> str:
    """A seed test's code for the notebook: names an earlier cell defines are not imported from effdl again."""

    def strip(match: re.Match) -> str:
        names = [n.strip() for n in match.group(2).split(",")]
        kept = [n for n in names if n.split(" as ")[0] not in defined]
        return f"from {match.group(1)} import {', '.join(kept)}" if kept else ""

    return re.sub(r"\n{3,}", "\n\n", _EFFDL_IMPORT.sub(strip, code)).strip()


def _test_helpers(code: str, defined: set[str], defined_refs: set[str]) -> tuple[list[str], list]:
    """(imports, blocks) of the effdl objects `code` imports whose source depends on an object a cell defined."""
    refs = []
    for match in _EFFDL_IMPORT.finditer(code):
        for name in (n.strip().split(" as ")[0] for n in match.group(2).split(",")):
            if name in defined:
                continue
            try:
                closure = inline_closure([f"{match.group(1)}:{name}"])[1]
            except LookupError:
                continue
            if any(block.ref in defined_refs for block in closure):
                refs.append(f"{match.group(1)}:{name}")
    return inline_closure(refs, exclude=defined_refs) if refs else ([], [])


def implementation_cell(imports: Sequence[str], blocks: Sequence) -> str:
    """The code of one question's cell: its imports, then each inlined object with the file it comes from."""
    lines = ["from __future__ import annotations", "", *imports, ""]
    for block in blocks:
        where = block.path.as_posix().split("/src/", 1)[-1] if "/src/" in block.path.as_posix() else block.path.name
        lines += ["", f"# {block.ref.split(':')[1]}: from src/{where}", block.text.rstrip(), ""]
    return "\n".join(lines).strip()


TRAINING_CELLS = {
    "1": """\
# Part 1: every learning-rate sweep and scheduler run of the study.
if REPRODUCE == "recorded":
    print("REPRODUCE = 'recorded': the study's figures and logs are shown above; set 'quick' or 'full' to retrain.")
else:
    epochs1, _ = train_runs(RUNS["part1"], REPRODUCE, DATA_DIR, download_weights=DOWNLOAD_WEIGHTS)
    plot_accuracy(epochs1, hue="setting", title="Part 1: test accuracy per run")""",
    "2": """\
# Part 2: the study's MNIST networks, trained, then quantized after training with this notebook's
# fake_quantize_state_dict (Question 2.2.1) at 8, 4 and 2 bits.
if REPRODUCE == "recorded":
    print("REPRODUCE = 'recorded': the study's figures and logs are shown above; set 'quick' or 'full' to retrain.")
else:
    _, models2 = train_runs(RUNS["part2"], REPRODUCE, DATA_DIR)
    spec2 = RUNS["part2"][0]
    ptq2 = ptq_table(models2, packed_data("mnist", DATA_DIR, REPRODUCE == "quick"), spec2["mean"], spec2["std"],
                     quantize_fn=fake_quantize_state_dict)
    print(ptq2.to_string(index=False))
    plot_bars(ptq2, "bits", "test_acc", "Part 2: post-training quantization (MNIST)", "test accuracy (%)")""",
    "3": """\
# Part 3: SparseConvNet before pruning, and structured and unstructured gradual pruning.
if REPRODUCE == "recorded":
    print("REPRODUCE = 'recorded': the study's figures and logs are shown above; set 'quick' or 'full' to retrain.")
else:
    epochs3, _ = train_runs(RUNS["part3"], REPRODUCE, DATA_DIR)
    plot_accuracy(epochs3, hue="setting", title="Part 3: test accuracy per run")""",
    "4": """\
# Part 4: ResNet-18 fine-tuned three ways (full, frozen early layers, LoRA head).
if REPRODUCE == "recorded":
    print("REPRODUCE = 'recorded': the study's figures and logs are shown above; set 'quick' or 'full' to retrain.")
else:
    epochs4, _ = train_runs(RUNS["part4"], REPRODUCE, DATA_DIR, download_weights=DOWNLOAD_WEIGHTS)
    plot_accuracy(epochs4, hue="setting", title="Part 4: test accuracy during fine-tuning")""",
    "5": """\
# Part 5: the transformer trained to reverse digit sequences (the study's task and settings).
if REPRODUCE == "recorded":
    print("REPRODUCE = 'recorded': the study's figures and logs are shown above; set 'quick' or 'full' to retrain.")
else:
    history5 = train_transformer(TOY_TRANSFORMER, REPRODUCE)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(history5["step"], history5["train_loss"], marker="o")
    ax.set(xlabel="step", ylabel="training loss", title="Part 5: digit reversal")
    plt.show()""",
    "6": """\
# Part 6: DWConvNet trained as Part 1.2's ConvNet.
if REPRODUCE == "recorded":
    print("REPRODUCE = 'recorded': the study's figures and logs are shown above; set 'quick' or 'full' to retrain.")
else:
    epochs6, _ = train_runs(RUNS["part6"], REPRODUCE, DATA_DIR)
    plot_accuracy(epochs6, hue="setting", title="Part 6: test accuracy per run")""",
}


def _runs_cell(runs: dict[str, list[dict]], toy: dict | None) -> str:
    lines = [
        "# The study's run specs (written in when this notebook was built): model, data set, every training",
        "# setting and seed of each run. The training cells below rerun them.",
        "RUNS = {",
    ]
    for part, specs in sorted(runs.items()):
        lines.append(f"    {json.dumps(part)}: [")
        lines += [f"        json.loads({json.dumps(json.dumps(s, sort_keys=True))})," for s in specs]
        lines.append("    ],")
    lines.append("}")
    lines.append(f"TOY_TRANSFORMER = json.loads({json.dumps(json.dumps(toy or {}, sort_keys=True))})")
    lines.append('print({part: len(specs) for part, specs in RUNS.items()}, "runs per part")')
    return "\n".join(lines)


def build_notebook(
    *,
    team: Sequence[dict],
    label: str,
    exhibits: Sequence[Exhibit],
    questions=QUESTIONS,
    seed_tests=SEED_TESTS,
    runs: dict[str, list[dict]] | None = None,
    toy: dict | None = None,
    recorded: dict[str, str] | None = None,
):
    """The unexecuted notebook (nbformat v4 node): title, setup, the study's runs, then one section per part.

    Each implementation question gets a code cell with the project's source of its objects and every effdl
    helper they call (inlined from src/ at build time); the seed's tests run on what those cells define;
    each figure and table of the paper sits under its question (a markdown cell: the PNG as an attachment,
    tables as markdown); `recorded` ({seed part: markdown}) adds the study's training logs; each part ends
    with a training cell (REPRODUCE) that reruns its runs with the study's code from the bundled wheel.
    """
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

**Build:** {label}.

Every implementation the problem set asks for is a code cell below: the project's own source of each
function and class, with every helper it calls; the problem set's tests run on them. Each figure and table
of the write-up sits under its question, with the training logs of the run that built it. To rerun: unzip
the submission, open this notebook from the unzipped folder (it holds the study's code as a wheel,
`effdl-*.whl`, which the first cell installs; on Colab upload the wheel next to the notebook), set
`REPRODUCE` in the first cell to `"quick"` (minutes on a CPU) or `"full"` (the study's settings, a GPU)
and run all cells."""),
        _code(SETUP_CELL.replace("{pypi}", repr(list(PYPI_PACKAGES)))),
        _code(_runs_cell(runs or {}, toy)),
    ]
    defined: set[str] = set()
    defined_refs: set[str] = set()  # every object a cell defined so far
    question_refs: set[str] = set()  # those a question's cell defined
    where_defined: dict[str, str] = {}
    recorded = recorded or {}
    parts_seen = set()
    for seed_part in SEED_PARTS:
        major = seed_part.number.split(".")[0]
        if major not in parts_seen:
            parts_seen.add(major)
            cells.append(_md(f"# Part {major}"))
        cells.append(_md(f"## Part {seed_part.number}: {seed_part.title}"))
        for question in (q for q in questions if q.part == seed_part.number):
            # a question's own objects show in its cell even when a test cell above needed one already
            earlier = question_refs | (defined_refs - set(question.objects))
            imports, blocks = inline_closure(question.objects, exclude=earlier)
            if blocks:
                cells.append(_md(f"**Question {question.number}**: {question.task}. The implementation:"))
                cell = _code(implementation_cell(imports, blocks))
                for block in blocks:
                    defined_refs.add(block.ref)
                    question_refs.add(block.ref)
                    defined.add(block.ref.split(":")[1])
                    where_defined[block.ref] = question.number
            else:
                earlier = sorted({where_defined.get(r, "above") for r in question.objects})
                cell = _md(
                    f"**Question {question.number}**: {question.task}. Implemented by "
                    + ", ".join(f"`{r.split(':')[1]}`" for r in question.objects)
                    + f", defined in Question {', '.join(earlier)}'s cell above."
                )
                cell.metadata["effdl"] = {"question": question.number, "defined_in": earlier}
                cells.append(cell)
                continue
            cell.metadata["effdl"] = {"question": question.number}
            cells.append(cell)
        for test in (t for t in seed_tests if t.part == seed_part.number):
            cells.append(_md(f"**{test.label}**: {test.title}."))
            # An effdl function the test imports that works on objects a cell defined (isinstance checks on
            # SparseConv2d, say) is inlined here too, so that it sees this notebook's classes, not the wheel's.
            imports, blocks = _test_helpers(test.code, defined, defined_refs)
            for block in blocks:
                defined_refs.add(block.ref)
                defined.add(block.ref.split(":")[1])
            code = seed_test_code(test.code, defined)
            if blocks:
                code = implementation_cell(imports, blocks) + "\n\n\n# The test\n" + code
            cell = _code(code)
            cell.metadata["effdl"] = {"seed_test": test.key}
            cells.append(cell)
        cells += _exhibit_cells([e for e in exhibits if e.part == seed_part.number])
        if seed_part.number in recorded:
            cells.append(_md(recorded[seed_part.number]))
        last_of_part = seed_part is [p for p in SEED_PARTS if p.number.split(".")[0] == major][-1]
        if last_of_part:
            beyond = [e for e in exhibits if e.part == major]
            if beyond:
                cells.append(_md(f"## Part {major}: beyond the problem set"))
                cells += _exhibit_cells(beyond)
            if major in TRAINING_CELLS:
                cells.append(_md(f"## Part {major}: rerun its training with the study's code"))
                cell = _code(TRAINING_CELLS[major])
                cell.metadata["effdl"] = {"training": major}
                cells.append(cell)
    for index, cell in enumerate(cells):
        cell["id"] = f"cell-{index:03d}"  # stable ids: the same inputs build the same notebook
    nb.cells = cells
    nbformat.validate(nb)
    return nb


def _exhibit_cells(exhibits: Sequence[Exhibit]) -> list:
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


_PATHLIKE = re.compile(r"(?<![\w.])(?:\.{1,2}/|/|~/)(?:[^\s:;,()'\"]*/)?([^\s/:;,()'\"]+)")


def scrub_paths(text: str) -> str:
    """Text with every file path cut to its file name (a log names the build machine's folders)."""
    return _PATHLIKE.sub(r"\1", text)


def notebook_runs(runs: dict[str, dict]) -> dict[str, list[dict]]:
    """{part: [spec, ...]} of the registered runs ({"part/run": spec}) as the notebook carries them: no path of
    the machine that built it (a local weights file becomes torchvision's download)."""
    out: dict[str, list[dict]] = {}
    for spec in runs.values():
        spec = json.loads(json.dumps(spec, default=str))
        if "weights_path" in spec.get("model", {}):
            spec["model"]["weights_path"] = None
        out.setdefault(spec["part"], []).append(spec)
    return out


def recorded_logs(runs: dict[str, list[dict]], results_dir: str | Path = "results", tail: int = 25) -> dict[str, str]:
    """{seed part: markdown} with each run's training log (its last `tail` lines) and total training time, read
    from the run that built the paper. Part 1's sweep runs go under 1.1, its scheduler runs under 1.2."""
    import csv

    where = {"part1": "1.2", "part2": "2.2", "part3": "3.4", "part4": "4.2", "part6": "6.2"}
    by_part: dict[str, list[str]] = {}
    for part, specs in runs.items():
        for spec in specs:
            target = "1.1" if spec["run"].startswith("lr_sweep") else where.get(part)
            if target is None:
                continue
            summary = Path(results_dir) / "runs" / part / spec["run"] / "summary.csv"
            log = Path(results_dir) / "logs" / "train_model" / part / f"{spec['run']}.log"
            lines = []
            if summary.is_file():
                with summary.open(encoding="utf-8") as handle:
                    row = next(csv.DictReader(handle), {})
                total = float(row.get("total_time_s") or "nan")
                acc = row.get("final_test_acc", "")
                lines.append(
                    f"- `{spec['run']}`: Total training time: {total:.1f} s on {row.get('device_name') or 'cpu'}"
                    f" ({row.get('epochs_completed', '?')} epochs; final test accuracy {float(acc or 'nan'):.2f} %)"
                )
            if log.is_file():
                text = scrub_paths("\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-tail:]))
                lines.append("\n  ```text\n" + "\n".join(f"  {line}" for line in text.splitlines()) + "\n  ```")
            if lines:
                by_part.setdefault(target, []).append("\n".join(lines))
    return {
        number: "**Training logs of the run that built the paper** (each run's last log lines; times are training "
        "plus per-epoch evaluation):\n\n" + "\n".join(entries)
        for number, entries in by_part.items()
    }
