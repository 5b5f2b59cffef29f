"""Tests of generated-TeX helpers: macro names, comparison words, word counting, LaTeX log checks, runtime table."""

from __future__ import annotations

import os
import shutil
import subprocess

import pandas as pd
import pytest
from paper_checks import count_words, expand, undefined_macros

from effdl.report.latex import LatexError, build_pdf, check_log
from effdl.report.texgen import compare, df_to_latex, macro, macro_name


def test_macro_names_are_letters_and_distinct_for_distinct_numbers():
    names = {macro_name("Pone", "acc", lr) for lr in (0.0001, 0.001, 0.1, 1.0, 1e-05)}
    assert len(names) == 5 and all(n.isalpha() for n in names)
    with pytest.raises(ValueError, match=r"letters only, got 'Bad1'"):
        macro("Bad1", "x")


def test_compare_is_a_welch_test_at_five_percent():
    assert compare([90.0, 91.0, 90.5], [80.0, 80.5, 80.2]) == "higher"
    assert compare([80.0, 80.5, 80.2], [90.0, 91.0, 90.5]) == "lower"
    assert compare([90.0, 92.0], [90.5, 91.5]) == "within noise"
    assert compare([90.0], [80.0]) == "untested"  # one seed: no ranking
    # a consistent one-point drop of each child against its own parent is only visible to the paired test
    parents, children = [80.0, 90.0, 70.0], [79.0, 88.8, 69.1]
    assert compare(children, parents) == "within noise" and compare(children, parents, paired=True) == "lower"


def test_word_count_expands_macros_and_ignores_markup():
    macros = {"Acc": "91.2", "Word": "within noise"}
    text = r"Accuracy was \Acc\% and \textbf{the} gap \Word{} ($x^2$)."
    assert count_words(expand(text, macros)) == len("Accuracy was 91.2 and the gap within noise x".split())


def test_undefined_macros_are_found(tmp_path):
    (tmp_path / "a.tex").write_text(r"\newcommand{\Local}{1} \Local \Missing \LaTeX \section{x}")
    assert undefined_macros(tmp_path, {"Other": "2"}) == {"Missing"}


def test_latex_log_checks_are_strict():
    log = (
        "Overfull \\hbox (45.3pt too wide) in paragraph at lines 3--4\n"
        "Overfull \\hbox (2.0pt too wide) in paragraph at lines 9--9\n"
        "LaTeX Warning: Reference `fig:x' on page 1 undefined on input line 7.\n"
        "! Undefined control sequence.\n"
    )
    problems = check_log(log, max_overfull_pt=30)
    assert any("45.3pt" in p for p in problems) and not any("2.0pt" in p for p in problems)
    assert any("fig:x" in p for p in problems) and any(p.startswith("! Undefined") for p in problems)
    assert check_log("Output written on main.pdf (3 pages).", 30) == []


def test_rule_runtimes_sum_jobs_per_rule_and_escape_once(tmp_path):
    from effdl.report.provenance import rule_runtimes

    def bench(path: str, seconds: float) -> None:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:0{int(seconds)}\t1.0\n")

    bench("train_model/part1/a.tsv", 2.0)
    bench("train_model/part1/b.tsv", 3.5)
    bench("benchmark_dwconv.tsv", 1.0)  # a rule's file directly under the folder is named by its stem
    table = rule_runtimes(tmp_path)
    rows = table.set_index("rule")
    assert rows.loc["train_model", "jobs"] == 2 and rows.loc["train_model", "total (s)"] == 5.5
    assert rows.loc["train_model", "max (s)"] == 3.5 and rows.loc["benchmark_dwconv", "jobs"] == 1
    assert table.iloc[-1]["jobs"] == 3 and table.iloc[-1]["total (s)"] == 6.5
    df_to_latex(table, tmp_path / "runtimes.tex", float_format="%.1f")
    tex = (tmp_path / "runtimes.tex").read_text()
    assert "train\\_model" in tex and "textbackslash" not in tex and "\\\\_" not in tex


@pytest.mark.skipif(shutil.which("latexmk") is None or shutil.which("pdftotext") is None, reason="needs latexmk")
def test_build_pdf_reads_generated_files_from_results_dir(tmp_path):
    """build_pdf(results_dir=...) points the paper's \\resultsdir (TeX and figures) at another results/."""
    paper, results = tmp_path / "repo" / "paper", tmp_path / "variants" / "v" / "results"
    paper.mkdir(parents=True)
    (results / "tex").mkdir(parents=True)
    (results / "figs").mkdir()
    (results / "tex" / "numbers.tex").write_text("\\newcommand{\\Answer}{forty-two}\n")
    # a one-page PDF figure, written by pdflatex itself
    (results / "figs" / "fig.tex").write_text("\\documentclass{article}\\begin{document}FIGURE\\end{document}\n")
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "fig.tex"], cwd=results / "figs", capture_output=True)
    (paper / "main.tex").write_text(
        "\\documentclass{article}\n\\usepackage{graphicx}\n\\providecommand{\\resultsdir}{../results}\n"
        "\\graphicspath{{\\resultsdir/figs/}}\n\\input{\\resultsdir/tex/numbers.tex}\n"
        "\\begin{document}The answer is \\Answer.\\includegraphics[width=2cm]{fig.pdf}\\end{document}\n"
    )
    out = tmp_path / "paper.pdf"
    build_pdf(paper / "main.tex", tmp_path / "build", out, 30, results_dir=os.path.relpath(results, paper))
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert "The answer is forty-two." in text
    with pytest.raises(LatexError, match="did not build cleanly"):  # the default ../results has no numbers.tex
        build_pdf(paper / "main.tex", tmp_path / "build2", tmp_path / "default.pdf", 30)


def test_a_long_table_is_a_longtable_that_breaks_across_pages(tmp_path):
    """A table whose length follows the config (deviations, rebuild, runtimes) breaks with its header repeated."""
    frame = pd.DataFrame({"setting": [f"s{i}" for i in range(60)], "value": range(60)})
    df_to_latex(frame, tmp_path / "long.tex", longtable=True)
    text = (tmp_path / "long.tex").read_text()
    assert "\\begin{longtable}" in text and "\\endhead" in text and "\\begin{tabular}" not in text
    df_to_latex(frame, tmp_path / "short.tex")
    assert "\\begin{tabular}" in (tmp_path / "short.tex").read_text()
    with pytest.raises(ValueError, match="longtable"):
        df_to_latex(frame, tmp_path / "both.tex", caption="c", longtable=True)
