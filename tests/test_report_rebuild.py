"""Tests of effdl.report.rebuild: every rebuild mark reaches the appendix table, and none prints in a caption."""

from __future__ import annotations

import re

from conftest import REPO

from effdl.report.rebuild import rebuild_entries, rebuild_table

SECTIONS = sorted((REPO / "paper" / "sections").glob("*.tex"))


def test_marks_become_rows_with_their_label():
    tex = r"""
\begin{figure}[H]
\includegraphics{a.pdf}
\caption{A caption. \rebuild{results/figs/a.pdf}{results/metrics/a.csv, b.csv}}
\label{fig:a}
\end{figure}
% \begin{table} \rebuild{commented/out.tex}{x.csv} \label{tab:gone} \end{table}
\begin{table}[htbp]
\caption{Computed. \rebuild{results/tex/t.tex}{no CSV}}\label{tab:t}
\end{table}
"""
    entries = rebuild_entries([tex])
    assert [(e.kind, e.label, e.target) for e in entries] == [
        ("Figure", "fig:a", "results/figs/a.pdf"),
        ("Table", "tab:t", "results/tex/t.tex"),
    ]
    table = rebuild_table(entries)
    assert table.iloc[0, 0] == "Figure~\\ref{fig:a}" and "\\path{b.csv}" in table.iloc[0, 2]
    assert table.iloc[1, 2] == "none (computed by the rule itself)"


def test_every_figure_of_the_paper_is_in_the_rebuild_table_and_no_caption_prints_it():
    texts = [p.read_text() for p in SECTIONS]
    figures = sum(len(re.findall(r"\\includegraphics", t)) for t in texts)
    labelled = {e.label for e in rebuild_entries(texts) if e.kind == "Figure"}
    assert len(labelled) == figures
    main = (REPO / "paper" / "main.tex").read_text()
    assert "\\newcommand{\\rebuild}[2]{}" in main  # the mark prints nothing where it stands
    assert "Rebuild:" not in "".join(texts)


def test_rows_follow_the_paper_figures_first():
    from effdl.report.rebuild import Rebuild, in_document_order

    sections = r"\label{fig:b} \input{\gen{t2.tex}} \label{fig:a} \begin{table}\label{tab:1}\end{table}"
    entries = [
        Rebuild("Table", "tab:1", "results/tex/t1.tex", ""),
        Rebuild("Figure", "fig:a", "a.pdf", ""),
        Rebuild("Table", "tab:2", "results/tex/t2.tex", ""),
        Rebuild("Figure", "fig:b", "b.pdf", ""),
    ]
    assert [e.label for e in in_document_order(entries, sections)] == ["fig:b", "fig:a", "tab:2", "tab:1"]
