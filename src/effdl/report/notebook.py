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

import json
import re
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbformat import v4

from effdl.report.nbcells import (
    PYPI_PACKAGES,
    SETUP_CELL,
    TRAINING_CELLS,
    helpers_for_test,
    implementation_cell,
    runs_cell,
    seed_test_code,
)
from effdl.report.nbexhibits import Exhibit, exhibit_cells, markdown_table, paper_exhibits
from effdl.report.seed_tests import SEED_TESTS
from effdl.report.sources import QUESTIONS, SEED_PARTS, inline_closure

# re-exported: the workflow script and the tests import these from here
__all__ = [
    "Exhibit",
    "NotebookExecutionError",
    "build_notebook",
    "execute_notebook",
    "markdown_table",
    "notebook_runs",
    "paper_exhibits",
    "recorded_logs",
    "scrub_paths",
    "seed_test_code",
]

KERNEL_NAME = "python3"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class NotebookExecutionError(RuntimeError):
    """A notebook cell raised; the message carries that cell's source and traceback."""


def _md(text: str):
    return v4.new_markdown_cell(text.strip() + "\n")


def _code(text: str):
    return v4.new_code_cell(text.strip() + "\n")


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
        _code(runs_cell(runs or {}, toy)),
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
            imports, blocks = helpers_for_test(test.code, defined, defined_refs)
            for block in blocks:
                defined_refs.add(block.ref)
                defined.add(block.ref.split(":")[1])
            code = seed_test_code(test.code, defined)
            if blocks:
                code = implementation_cell(imports, blocks) + "\n\n\n# The test\n" + code
            cell = _code(code)
            cell.metadata["effdl"] = {"seed_test": test.key}
            cells.append(cell)
        cells += exhibit_cells([e for e in exhibits if e.part == seed_part.number])
        if seed_part.number in recorded:
            cells.append(_md(recorded[seed_part.number]))
        last_of_part = seed_part is [p for p in SEED_PARTS if p.number.split(".")[0] == major][-1]
        if last_of_part:
            beyond = [e for e in exhibits if e.part == major]
            if beyond:
                cells.append(_md(f"## Part {major}: beyond the problem set"))
                cells += exhibit_cells(beyond)
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
