"""A value added in a config overlay reaches the paper: 3-bit PTQ and OneCycleLR, each a one-line overlay of the
smoke configuration, built through only the outputs of their part (not the whole paper: CI time).

Each runs as its own variant (`--directory variants/<name>`), so the smoke run's results stay as they are. The
variant starts from a copy of the smoke variant's results and records, built for the same targets without the
overlay (test_smoke_e2e reuses that build), so the overlay computes only what it changes, as it would for a user
who adds one value to a finished study; the tests check that too.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pandas as pd
import pytest
from helpers import REPO, job_counts, snakemake
from paper_checks import ANSWER, count_words, expand, generated_macros

SMOKE = ("--cores", "2", "--resources", "gpu=1", "--rerun-incomplete")


BASE = "variants/smoke"


def start_from_smoke(name: str, targets: list[str]) -> None:
    """Build `targets` in the smoke variant, then copy its results and Snakemake's records to variants/<name>."""
    base = snakemake(*SMOKE, "--configfile", "config/smoke.yaml", "--directory", BASE, *targets, timeout=1800)
    assert base.returncode == 0, base.stdout[-4000:] + base.stderr[-4000:]
    variant = REPO / "variants" / name
    shutil.rmtree(variant, ignore_errors=True)
    shutil.copytree(REPO / BASE / "results", variant / "results", symlinks=True)
    for records in ("metadata", "effdl"):  # what was run with which params and code: the rerun decisions
        if (REPO / BASE / ".snakemake" / records).is_dir():
            shutil.copytree(REPO / BASE / ".snakemake" / records, variant / ".snakemake" / records, symlinks=True)


def build(name: str, overlay_text: str, targets: list[str], tmp_path):
    """Build `targets` of the smoke configuration plus the overlay in variants/<name>: (its results/, {rule: jobs})."""
    start_from_smoke(name, targets)
    overlay = tmp_path / f"{name}.yaml"
    overlay.write_text(overlay_text)
    start = time.monotonic()
    result = snakemake(
        *SMOKE, "--configfile", "config/smoke.yaml", str(overlay), "--directory", f"variants/{name}", *targets,
        timeout=1800,
    )  # fmt: skip
    print(f"\n{name}: {time.monotonic() - start:.0f} s")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return REPO / "variants" / name / "results", job_counts(result.stdout + result.stderr)


def figure_text(path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def answers(section: str, results) -> dict[str, tuple[str, int, int]]:
    """{question: (plain text, words, limit)} of a section's answers, the generated macros expanded."""
    macros = generated_macros(results / "tex")
    text = (REPO / "paper" / "sections" / section).read_text()
    out = {}
    for question, limit, body in ANSWER.findall(text):
        expanded = expand(body, macros)
        out[question] = (expanded, count_words(expanded), int(limit))
    return out


@pytest.mark.slow
def test_a_three_bit_overlay_reaches_the_csv_figure_table_and_answers(tmp_path):
    results, jobs = build(
        "smoke-bits",
        "quant:\n  bits: [8, 4, 3, 2]\n",
        ["results/figs/quantization.pdf", "results/tex/part2.tex", "results/tex/part2_table.tex"],
        tmp_path,
    )
    assert "train_model" not in jobs and "prepare_data" not in jobs, jobs  # a width is a PTQ-only change
    summary = pd.read_csv(results / "metrics" / "quantization.csv")
    assert not summary[(summary["rounding"] == "nearest") & (summary["bits"] == 3)].empty
    assert "3-bit" in figure_text(results / "figs" / "quantization.pdf")
    assert "3-bit" in (results / "tex" / "part2_table.tex").read_text()
    part2 = answers("part2.tex", results)
    assert any("3-bit" in text for text, _, _ in part2.values()), part2
    assert all(words <= limit for _, words, limit in part2.values()), part2


@pytest.mark.slow
def test_a_one_cycle_overlay_trains_plots_and_names_it(tmp_path):
    results, jobs = build(
        "smoke-one-cycle",
        "schedules:\n  schedulers:\n    names: [multistep, cosine_annealing, one_cycle]\n",
        ["results/figs/schedulers.pdf", "results/tex/part1.tex"],
        tmp_path,
    )
    runs = pd.read_csv(results / "metrics" / "part1_schedulers" / "summary.csv")
    assert set(runs["scheduler"]) == {"multistep", "cosine_annealing", "one_cycle"}
    assert jobs.get("train_model") == runs[runs["scheduler"] == "one_cycle"]["seed"].nunique(), jobs  # only its runs
    assert "OneCycleLR" in figure_text(results / "figs" / "schedulers.pdf")
    part1 = answers("part1.tex", results)
    assert "OneCycleLR" in part1["1.2.3"][0]
    assert all(words <= limit for _, words, limit in part1.values()), part1
