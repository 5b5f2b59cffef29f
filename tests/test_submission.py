"""Tests of the seed's submission: sources read from src/, the notebook builder and executor, the appendix, the zip."""

from __future__ import annotations

import importlib
import inspect
import re
import zipfile
from dataclasses import replace
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from conftest import REPO

from effdl.plan.config import ConfigError, validate_config
from effdl.plan.submission import SubmissionError, check_ai_logs, sanitize_name, zip_name
from effdl.report.nbdisplay import tex_table_rows
from effdl.report.notebook import (
    NotebookExecutionError,
    build_notebook,
    execute_notebook,
    notebook_runs,
    paper_exhibits,
    recorded_logs,
    scrub_paths,
)
from effdl.report.seed_tests import SEED_TESTS, SeedTest, SeedTestError, run_seed_tests
from effdl.report.sources import QUESTIONS, Question, inline_closure, object_source
from effdl.report.submission import code_appendix_tex, team_macros, write_zip
from effdl.report.texgen import df_to_latex

# The seed's implementation questions (issue 15): each needs a code cell in the notebook.
SEED_IMPLEMENTATION_QUESTIONS = [
    "2.1.1", "2.1.2", "2.1.3", "3.1", "3.3.1", "3.4.1", "3.4.2", "4.1", "5.1", "6.1.1", "6.1.2", "6.1.3", "6.2.1",
]  # fmt: skip
TEAM = [{"name": "Ada Lovelace", "email": "ada@example.edu"}, {"name": "Émile Borel", "email": "e_b@example.fr"}]


def code_cells(nb, key):
    tagged = [c for c in nb.cells if c.cell_type == "code" and key in c.metadata.get("effdl", {})]
    return {c.metadata["effdl"][key]: c for c in tagged}


def test_every_implementation_question_has_a_code_cell_that_defines_its_objects():
    """Each question's objects are defined (inlined from src/) in a code cell, with every effdl helper they call:
    no cell imports effdl, and the cells run together without the repository (checked end to end in
    tests/workflow/test_notebook_standalone.py)."""
    nb = build_notebook(team=TEAM, label="test", exhibits=[])
    shown = code_cells(nb, "question")
    tested = {t.question for t in SEED_TESTS}
    defined_earlier = {
        c.metadata["effdl"]["question"]: c.metadata["effdl"]["defined_in"]
        for c in nb.cells
        if c.cell_type == "markdown" and "defined_in" in c.metadata.get("effdl", {})
    }
    assert all(q in shown for earlier in defined_earlier.values() for q in earlier)
    missing = [q for q in SEED_IMPLEMENTATION_QUESTIONS if q not in shown and q not in tested | set(defined_earlier)]
    assert not missing, f"questions without a code cell: {missing}"
    code = "\n".join(c.source for c in shown.values())
    for question in QUESTIONS:
        for ref in question.objects:
            name = ref.split(":")[1]
            assert re.search(rf"^(class|def) {name}\b", code, re.MULTILINE), (question.number, ref)
    assert not re.search(r"^\s*(from|import) effdl", code, re.MULTILINE)
    # a seed test imports nothing from effdl that a cell before it defines
    defined: set[str] = set()
    for cell in (c for c in nb.cells if c.cell_type == "code"):
        for names in re.findall(r"^from effdl\.[\w.]+ import (.+)$", cell.source, re.MULTILINE):
            assert not set(names.split(", ")) & defined, cell.source
        defined |= set(re.findall(r"^(?:class|def) (\w+)", cell.source, re.MULTILINE))
    # The notebook follows the seed's order: parts 1..6, and questions in the seed's numbering.
    headings = [c.source.split(":")[0] for c in nb.cells if re.match(r"## Part \d\.\d", c.source)]
    numbers = [h.removeprefix("## Part ") for h in headings]
    assert numbers == sorted(numbers, key=lambda n: [int(x) for x in n.split(".")]) and numbers[0] == "1.1"
    assert sorted(code_cells(nb, "training")) == ["1", "2", "3", "4", "5", "6"]


def test_inline_closure_brings_helpers_constants_and_other_modules_definitions(tmp_path):
    package = tmp_path / "effdl"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(
        "from __future__ import annotations\n\nimport math\n\nfrom effdl.b import helper\n\nSCALE = 2\n\n\n"
        "def unused():\n    return 0\n\n\ndef f(x: Path) -> Thing:\n    return helper(x) * SCALE + math.pi\n"
    )
    (package / "b.py").write_text("import numpy as np\n\n\ndef helper(x):\n    return np.sqrt(x)\n")
    imports, blocks = inline_closure(["effdl.a:f"], tmp_path)
    assert imports == ["import math", "import numpy as np"]  # annotations (Path, Thing) pull in nothing
    assert [b.ref for b in blocks] == ["effdl.a:SCALE", "effdl.b:helper", "effdl.a:f"]
    namespace: dict = {}
    exec("\n".join(imports) + "\n" + "".join(b.text for b in blocks), namespace)
    assert namespace["f"](4.0) == pytest.approx(4 + 3.141592653589793)
    assert inline_closure(["effdl.a:f"], tmp_path, exclude={"effdl.b:helper"})[1][-1].ref == "effdl.a:f"


def test_inline_closure_binds_an_aliased_effdl_import(tmp_path):
    # `from effdl.b import MODES as _MODES` (a list's home elsewhere): the inlined code must see `_MODES`
    package = tmp_path / "effdl"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(
        "from effdl.b import MODES as _MODES\n\nMODES = tuple(_MODES)\n\n\ndef check(mode):\n    return mode in MODES\n"
    )
    (package / "b.py").write_text('MODES = {"structured": 1, "unstructured": 2}\n')
    imports, blocks = inline_closure(["effdl.a:check"], tmp_path)
    namespace: dict = {}
    exec("\n".join(imports) + "\n" + "".join(b.text for b in blocks), namespace)
    assert namespace["check"]("structured") and not namespace["check"]("other")
    assert namespace["MODES"] == ("structured", "unstructured")


def test_notebook_carries_no_path_of_the_build_machine(tmp_path):
    """Specs lose local weight paths; logs keep file names only; no cell names the repository or home."""
    runs = {"part4/x": {"part": "part4", "run": "x", "model": {"name": "resnet18", "weights_path": str(REPO / "w.pt")}}}
    carried = notebook_runs(runs)
    assert carried["part4"][0]["model"]["weights_path"] is None
    assert scrub_paths("run a: 320 images of imagefolder:/work/x/shared/data/c.tar.gz on cpu") == (
        "run a: 320 images of imagefolder:c.tar.gz on cpu"
    )
    assert scrub_paths("read ../shared/data/mnist-png.tar.gz and ~/w.pt; 1/2 epochs") == (
        "read mnist-png.tar.gz and w.pt; 1/2 epochs"
    )
    run_dir = tmp_path / "runs" / "part1" / "sched_cosine_seed43"
    run_dir.mkdir(parents=True)
    (run_dir / "summary.csv").write_text("total_time_s,final_test_acc,epochs_completed,device_name\n12.5,40.1,2,cpu\n")
    log = tmp_path / "logs" / "train_model" / "part1" / "sched_cosine_seed43.log"
    log.parent.mkdir(parents=True)
    log.write_text(f"[1] run part1/sched_cosine_seed43: images of imagefolder:{REPO}/data/c.tar.gz\n[2] done\n")
    recorded = recorded_logs({"part1": [{"run": "sched_cosine_seed43"}]}, tmp_path)
    assert list(recorded) == ["1.2"] and "Total training time: 12.5 s" in recorded["1.2"]
    nb = build_notebook(team=TEAM, label="test", exhibits=[], runs=carried, recorded=recorded)
    text = nbformat.writes(nb)
    for path in (str(REPO), str(Path.home()), "/work/"):
        assert path not in text


@pytest.mark.parametrize("ref", sorted({ref for q in QUESTIONS for ref in q.objects}))
def test_sources_are_the_live_objects_of_src(ref):
    """The file-based extraction (appendix, notebook) gives exactly what inspect sees in the imported module."""
    module, name = ref.split(":")
    obj = getattr(importlib.import_module(module), name)
    lines, start = inspect.getsourcelines(obj)
    snippet = object_source(ref)
    assert snippet.text == "".join(lines)
    assert (snippet.start, snippet.end) == (start, start + len(lines) - 1)
    assert snippet.path.resolve() == (REPO / "src" / snippet.display_path().removeprefix("src/")).resolve()


def test_source_and_appendix_follow_the_file_at_build_time(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    module = package / "mod.py"
    module.write_text('"""doc"""\n\n\n@staticmethod\ndef f(x):\n    return x + 1  # § 2\n')
    snippet = object_source("pkg.mod:f", tmp_path)
    assert (snippet.start, snippet.end) == (4, 6) and snippet.text.startswith("@staticmethod\ndef f")
    questions = (Question("9.9.9", "a task with_underscore", ("pkg.mod:f",)),)
    tex = code_appendix_tex([], questions, tmp_path)
    assert "firstnumber=4" in tex and "return x + 1  # S 2" in tex and "with\\_underscore" in tex
    module.write_text('"""doc"""\n\ndef f(x):\n    return x * 2\n')
    assert "return x * 2" in code_appendix_tex([], questions, tmp_path)
    with pytest.raises(LookupError, match="no top-level function or class 'g'"):
        object_source("pkg.mod:g", tmp_path)


def test_the_code_appendix_lists_each_implementation_once():
    # quantize answers 2.1.1 and 2.3.1, SparseConv2d 3.1 and 3.4.1: one listing each, then a pointer
    tex = code_appendix_tex([])
    for ref in {ref for question in QUESTIONS for ref in question.objects}:
        assert tex.count(f"\\nolinkurl{{{ref}}} (") == 1, ref
    assert "\\nolinkurl{effdl.compress.quant:quantize}: listed under Question 2.1.1 above." in tex


@pytest.mark.parametrize(
    "team, expected",
    [
        (TEAM, "CS2420_PSet2_AdaLovelace_EmileBorel.zip"),
        ([{"name": "O'Brien & Co_1", "email": "o@b.ie"}], "CS2420_PSet2_OBrienCo1.zip"),
        ([{"name": "Jean-Luc Picard", "email": "j@p.fr"}] * 2, "CS2420_PSet2_Jean-LucPicard_Jean-LucPicard.zip"),
    ],
)
def test_zip_name_follows_the_seed_pattern(team, expected):
    name = zip_name(team)
    assert name == expected
    assert re.fullmatch(r"CS2420_PSet2_[A-Za-z0-9-]+(_[A-Za-z0-9-]+)*\.zip", name)
    assert name.count("_") == 1 + len(team)


def test_zip_name_rejects_names_without_latin_letters():
    assert sanitize_name("Дмитрий") == ""
    with pytest.raises(SubmissionError, match=r"submission\.team.*Latin letters"):
        zip_name([{"name": "Дмитрий", "email": "d@x.ru"}])
    with pytest.raises(SubmissionError, match=r"submission\.team is empty"):
        zip_name([])


def test_ai_logs_must_exist_and_have_distinct_names(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "chat.txt").write_text("log")
    (tmp_path / "chat.txt").write_text("log")
    assert check_ai_logs(["a/chat.txt"], tmp_path, tmp_path) == ["a/chat.txt"]
    with pytest.raises(SubmissionError, match=r"submission\.ai_logs lists \['missing.txt'\]"):
        check_ai_logs(["missing.txt"], tmp_path, tmp_path)
    with pytest.raises(SubmissionError, match=r"several files named \['chat.txt'\]"):
        check_ai_logs(["a/chat.txt", "chat.txt"], tmp_path, tmp_path)


def test_repo_relative_ai_log_resolves_from_a_variant_folder(tmp_path):
    """Issue 28, bad case 8: under --directory the rule read the path from the variant folder, the check from
    the repository. Now both use the path check_ai_logs returns (from the working directory)."""
    repo, variant = tmp_path / "repo", tmp_path / "repo" / "variants" / "v1"
    (repo / "logs").mkdir(parents=True)
    variant.mkdir(parents=True)
    (repo / "logs" / "chat.txt").write_text("log")
    (variant / "notes.txt").write_text("variant log")
    paths = check_ai_logs(["logs/chat.txt", "notes.txt"], repo, variant)
    assert paths == ["../../logs/chat.txt", "notes.txt"]
    assert all((variant / p).is_file() for p in paths)
    # a variant folder outside the repository: its own files count, the rest of the machine does not
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert check_ai_logs(["logs/chat.txt"], repo, outside) == ["../repo/logs/chat.txt"]
    with pytest.raises(SubmissionError, match=r"outside the repository .* Fix: copy the log into the repository"):
        check_ai_logs(["/etc/passwd"], repo, outside)


def test_zip_holds_pdf_notebook_and_logs_and_is_reproducible(tmp_path):
    pdf, nb, chat = tmp_path / "paper.pdf", tmp_path / "pset2.ipynb", tmp_path / "chat.txt"
    pdf.write_bytes(b"%PDF-1.5 fake")
    nb.write_text("{}")
    chat.write_text("user: hi\n")
    members = [(pdf, "S.pdf"), (nb, "S.ipynb")]
    first, second = tmp_path / "one.zip", tmp_path / "two.zip"
    assert write_zip(first, members, ai_logs=[chat]) == ["S.pdf", "S.ipynb", "ai_logs/chat.txt"]
    write_zip(second, members, ai_logs=[chat])
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert archive.read("ai_logs/chat.txt") == b"user: hi\n" and archive.read("S.pdf") == pdf.read_bytes()
    write_zip(first, members)
    with zipfile.ZipFile(first) as archive:
        assert archive.namelist() == ["S.pdf", "S.ipynb", "ai_logs.txt"]
        note = archive.read("ai_logs.txt").decode()
        assert "none" in note and "config" not in note  # plain words, no config key


def test_team_macros_escape_tex_specials():
    tex = team_macros([{"name": "A & B_c", "email": "a_b@x.org"}, {"name": "D", "email": "d@x.org"}])
    assert r"\newcommand{\TeamAuthors}{A \& B\_c\\ \normalsize\texttt{a\_b@x.org} \and D\\" in tex
    assert "TeamNames" not in tex  # the paper prints the authors only


@pytest.mark.parametrize(
    "team, message",
    [
        ([], r"submission\.team"),
        ([{"name": "A", "email": "not-an-address"}], r"submission\.team"),
        ([{"name": "A"}], r"email"),
    ],
)
def test_config_schema_checks_the_team(team, message):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    validate_config(config, REPO / "workflow" / "schemas" / "config.schema.yaml")
    config["submission"]["team"] = team
    with pytest.raises(ConfigError, match=message):
        validate_config(config, REPO / "workflow" / "schemas" / "config.schema.yaml")


def test_paper_exhibits_find_figures_and_tables_with_their_seed_part_and_caption(tmp_path):
    sections, tex_dir = tmp_path / "sections", tmp_path / "results" / "tex"
    sections.mkdir()
    tex_dir.mkdir(parents=True)
    (tex_dir / "part3.tex").write_text("\\newcommand{\\PthreeEpochs}{17}\n")
    frame = pd.DataFrame({"model": ["slim_net"], "ms": [1.5]})
    df_to_latex(frame, tex_dir / "part3_benchmark.tex", caption="Latency of \\texttt{slim\\_net}")
    (sections / "part3.tex").write_text(
        "\\input{\\gen{part3.tex}}\n\\partsection{3}{Part 3: pruning}\n"
        "\\partsubsection{3.1}{Parts 3.1 and 3.2: before pruning (50\\% \\texttt{dense})}\n"
        "\\begin{figure}[H]\n\\includegraphics[width=\\linewidth]{sparse_sanity.pdf}\n"
        "\\caption{Part 3.2: \\PthreeEpochs{} epochs, by \\texttt{plot\\_sparse\\_sanity.py}.}\\label{fig:s}\n"
        "\\end{figure}\n"
        "% \\includegraphics{commented_out.pdf}\n"
        "\\extrasubsection{Beyond the problem set}\n\\input{\\gen{part3_benchmark.tex}}\n"
        "\\begin{figure}\\includegraphics{oneshot}\\caption{One-shot.}\\end{figure}\n"
    )
    exhibits = paper_exhibits(sections, str(tmp_path / "results"))
    assert [(e.kind, e.part, e.path.rsplit("/", 1)[-1], e.caption) for e in exhibits] == [
        ("figure", "3.2", "sparse_sanity.pdf", "Part 3.2: 17 epochs, by plot_sparse_sanity.py."),
        ("table", "3", "part3_benchmark.tex", "Latency of slim_net"),
        ("figure", "3", "oneshot.pdf", "One-shot."),
    ]
    # each figure and table sits under its own question, as a markdown cell (PNG attachment, markdown table)
    for exhibit in exhibits:
        if exhibit.kind == "figure":
            Path(exhibit.path).parent.mkdir(parents=True, exist_ok=True)
            Path(exhibit.path).with_suffix(".png").write_bytes(b"\x89PNG fake")
    exhibits = [e if e.kind == "table" else replace(e, path=str(Path(e.path).with_suffix(".png"))) for e in exhibits]
    nb = build_notebook(team=TEAM, label="test", exhibits=exhibits)
    sources = [c.source for c in nb.cells]
    under_32 = sources.index("## Part 3.2: SparseConvNet before pruning\n")
    next_heading = next(i for i in range(under_32 + 1, len(sources)) if sources[i].startswith("## "))
    figure = next(c for c in nb.cells[under_32:next_heading] if "figure" in c.metadata.get("effdl", {}))
    assert figure.cell_type == "markdown" and "sparse_sanity.png" in figure.attachments
    assert "17 epochs" in figure.source
    beyond = sources.index("## Part 3: beyond the problem set\n")
    assert any("| model | ms |" in s and "| slim_net | 1.50 |" in s for s in sources[beyond:])
    assert rows_of(tex_dir / "part3_benchmark.tex") == [["model", "ms"], ["slim_net", "1.50"]]


def rows_of(path):
    return tex_table_rows(path.read_text())


def test_table_cells_and_captions_become_plain_text():
    from effdl.report.nbdisplay import detex, plain_text

    assert detex(r"$\Delta$ (\%)") == "Δ (%)" and detex(r"7.66 $\pm$ 3.31") == "7.66 ± 3.31"
    assert detex(r"\textbf{1{,}212{,}778}") == "1,212,778"
    assert (
        plain_text(r"Part 1: \texttt{plot\_x.py}, $\leq$ 2~s (Figure~\ref{fig:a}).")
        == "Part 1: plot_x.py, ≤ 2 s (Figure )."
    )


def test_seed_test_runner_names_the_failing_test():
    failing = SeedTest("boom", "1.1", "1.1", "t", "print('before')\nraise RuntimeError('broken test')\n", "x")
    with pytest.raises(SeedTestError, match=r"(?s)'boom'.*RuntimeError: broken test.*before"):
        run_seed_tests([failing])
    silent = SeedTest("quiet", "1.1", "1.1", "t", "print('FAIL: Size')\n", r"^Success!")
    with pytest.raises(SeedTestError, match=r"(?s)'quiet' did not print.*FAIL: Size"):
        run_seed_tests([silent])


def test_notebook_cell_that_raises_fails_with_its_traceback(tmp_path):
    """The rule's execute step stops at the failing cell and reports that cell's code and traceback."""
    failing = SeedTest("fails", "2.1", "2.1.3", "a failing case", "x = 41\nraise ValueError(f'bad case {x + 1}')\n", "")
    nb = build_notebook(team=TEAM, label="test", exhibits=[], questions=(), seed_tests=(failing,))
    out = tmp_path / "nb.ipynb"
    expected = r"(?s)cell \d+ failed \(ValueError: bad case 42\).*raise ValueError"
    with pytest.raises(NotebookExecutionError, match=expected):
        execute_notebook(nb, out, cwd=REPO, timeout_s=120)
    assert not out.exists()


def test_figures_are_rasterised_from_the_pdf_and_missing_ones_name_the_rebuild(tmp_path):
    import shutil

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from effdl.report.nbdisplay import pdf_to_png, show_figure

    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [0, 1])
    fig.savefig(tmp_path / "f.pdf")
    plt.close(fig)
    png = pdf_to_png(tmp_path / "f.pdf", dpi=50)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 100
    with pytest.raises(FileNotFoundError, match=r"results/figs/none.pdf does not exist.*snakemake x"):
        show_figure("results/figs/none.pdf", rebuild="snakemake x")


def test_every_training_cell_goes_through_the_one_reproduce_guard():
    from effdl.report.nbcells import SETUP_CELL, TRAINING_CELLS
    from effdl.report.nbrun import retrains

    said = []
    assert retrains("recorded", log=said.append) is False and "'recorded'" in said[0]
    assert retrains("quick", log=said.append) and retrains("full", log=said.append) and len(said) == 1
    with pytest.raises(ValueError, match="REPRODUCE"):
        retrains("fast")
    assert "retrains" in SETUP_CELL
    for part, code in TRAINING_CELLS.items():
        assert "if retrains(REPRODUCE):" in code and 'REPRODUCE == "recorded"' not in code, part
