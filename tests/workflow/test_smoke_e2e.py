"""End to end: the smoke configuration builds every output and the paper PDF from real CIFAR-10/MNIST subsets."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pandas as pd
import pytest
from helpers import REPO, snakemake

SMOKE = ("--cores", "2", "--resources", "gpu=1", "--configfile", "config/smoke.yaml")
SECTIONS = [  # the start of each \\section title of paper/sections/part*.tex (short enough never to wrap)
    "Part 1: learning rate",
    "Part 2: post-training quantization",
    "Part 3: structured and unstructured",
    "Part 4: fine-tuning ResNet-18",
    "Part 5: the transformer",
    "Part 6: depthwise separable",
]
PROVENANCE = ["seed", "device", "torch_version", "git_commit", "config_hash", "data_source", "data_sha256"]


@pytest.fixture(scope="module")
def smoke_run():
    """Run the whole smoke DAG once (reusing up-to-date outputs); fail with its log on error."""
    start = time.monotonic()
    result = snakemake(*SMOKE, "--rerun-incomplete", timeout=3000)
    elapsed = time.monotonic() - start
    print(f"\nsmoke run wall time: {elapsed:.0f} s")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


@pytest.fixture
def pdf_text(skip_or_fail):
    """A PDF -> text reader (pdftotext); skips without poppler-utils, fails so under CI."""
    if shutil.which("pdftotext") is None:
        skip_or_fail("pdftotext (poppler-utils) is not installed")

    def read(path) -> str:
        return subprocess.run(
            ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
        ).stdout

    return read


@pytest.mark.slow
def test_smoke_builds_the_paper_with_part1_figures(smoke_run, pdf_text):
    paper = REPO / "results" / "paper.pdf"
    data = paper.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF"), "not a complete PDF"
    text = pdf_text(paper)
    flat = " ".join(text.split())  # -layout pads words with spaces
    missing = [title for title in SECTIONS if title not in flat]
    assert not missing, f"sections missing from the PDF: {missing}"
    positions = [flat.index(title) for title in SECTIONS]
    assert positions == sorted(positions), "sections out of order"
    assert flat.rindex("Provenance") > positions[-1], "the provenance appendix should come last"
    assert "Part 1.1: training loss (moving average)" in text
    assert "Part 1.2: MultiStep" in text
    assert "??" not in text
    assert "smoke configuration" in text.lower()


@pytest.mark.slow
def test_smoke_rows_carry_provenance_and_real_data(smoke_run):
    epochs = pd.read_csv(REPO / "results" / "metrics" / "part1_lr_sweep" / "epochs.csv")
    assert set(PROVENANCE) <= set(epochs.columns)
    assert epochs[PROVENANCE].notna().all().all()
    assert epochs["data_source"].str.contains("cifar10-jpeg.tar.gz").all()
    assert (epochs["data_sha256"] == "7854ea059adc7729ab5267c5269ccc01e6eaeea6549d5f3c834c106bae86e8ee").all()
    summary = pd.read_csv(REPO / "results" / "metrics" / "part1_schedulers" / "summary.csv")
    assert (summary["total_time_s"] > 0).all()


@pytest.mark.slow
def test_smoke_rerun_is_a_no_op(smoke_run):
    result = snakemake(*SMOKE, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.slow
def test_answers_respect_the_seed_word_limits(smoke_run):
    from paper_checks import answer_word_counts, generated_macros

    counts = answer_word_counts(REPO / "paper" / "sections", generated_macros(REPO / "results" / "tex"))
    assert counts, "no answer environments found"
    too_long = [(q, n, limit) for q, n, limit in counts if n > limit]
    assert not too_long, f"answers over the seed's word limit (question, words, limit): {too_long}"


@pytest.mark.slow
def test_every_macro_the_paper_uses_is_generated(smoke_run):
    from paper_checks import generated_macros, undefined_macros

    assert undefined_macros(REPO / "paper", generated_macros(REPO / "results" / "tex")) == set()


@pytest.mark.slow
def test_report_html_has_the_figures(smoke_run):
    report = REPO / "results" / "report.html"
    result = snakemake("--configfile", "config/smoke.yaml", "--report", str(report), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    html = report.read_text(errors="replace")
    for figure in ("lr_sweep.pdf", "schedulers.pdf"):
        assert figure in html


@pytest.mark.slow
def test_changed_csv_changes_only_the_paper(smoke_run, pdf_text):
    """Edit one aggregated number by hand: only the TeX generator and the paper re-run, and the PDF shows it."""
    summary_csv = REPO / "results" / "metrics" / "part1_schedulers" / "summary.csv"
    original = summary_csv.read_text()
    frame = pd.read_csv(summary_csv)
    frame.loc[frame["scheduler"] == "multistep", "final_test_acc"] = 12.34
    frame.to_csv(summary_csv, index=False)
    try:
        plan = snakemake("results/paper.pdf", "-n", *SMOKE)
        assert plan.returncode == 0, plan.stderr
        planned = set(re.findall(r"^(?:local)?rule (\w+):", plan.stdout, re.MULTILINE))
        assert planned <= {"tex_part1", "tex_provenance", "build_paper"}, planned
        assert "tex_part1" in planned and "build_paper" in planned
        result = snakemake("results/paper.pdf", *SMOKE, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "12.34" in pdf_text(REPO / "results" / "paper.pdf")
    finally:
        summary_csv.write_text(original)
        restore = snakemake("results/paper.pdf", *SMOKE, timeout=600)
        assert restore.returncode == 0, restore.stderr[-3000:]
