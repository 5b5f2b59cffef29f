"""Variants side by side (`snakemake --directory`) and the paper switch (`paper.build`), checked on dry runs."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from helpers import BIN, REPO, job_counts, snakemake

# these tests read the per-job rule listing, which the default workflow profile (profiles/default) hides
DRY = ("-n", "--nolock", "--cores", "2", "--resources", "gpu=1", "--workflow-profile", "none")
SMOKE = ("--configfile", "config/smoke.yaml")
SMOKE_DATA = ("cifar10-jpeg.tar.gz", "mnist-png.tar.gz", "cifar10-stand-in.tar.gz")  # in .test/


def job_block(out: str, rule: str) -> str:
    """The dry run's description of the first job of `rule`."""
    match = re.search(rf"^(?:local)?rule {rule}:\n(.*?)(?:\n\n|\Z)", out, re.S | re.M)
    assert match, f"no {rule} job in:\n{out[-3000:]}"
    return match.group(1)


def without_latex(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH has the venv and `which` (the SLURM plugin calls it) but no TeX."""
    fake = tmp_path / "bin"
    fake.mkdir()
    os.symlink(shutil.which("which"), fake / "which")
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{fake}"}


def test_a_variant_directory_keeps_outputs_apart_and_reads_the_repository(tmp_path):
    variant = tmp_path / "smoke"
    result = snakemake(*DRY, *SMOKE, "--directory", str(variant), "--forceall")
    out = result.stdout + result.stderr
    # the default config came from the repository (the variant holds no config/), and so did the data
    assert result.returncode == 0, out[-3000:]
    # every data set's relative path (.test/...) resolves against the repository, not the variant folder
    data_inputs = re.findall(r"^(?:local)?rule prepare_data:\n    input: (\S+)$", out, re.M)
    assert sorted((variant / path).resolve() for path in data_inputs) == sorted(
        (REPO / ".test" / name).resolve() for name in SMOKE_DATA
    ), data_inputs
    assert all(os.path.isabs(path) or path.startswith("..") for path in data_inputs), data_inputs
    paper = job_block(out, "build_paper")
    assert "output: results/paper.pdf" in paper  # relative to the variant: variant/results/paper.pdf
    main_tex = paper.split("input: ", 1)[1].split(",", 1)[0]
    assert (variant / main_tex).resolve() == (REPO / "paper" / "main.tex").resolve()
    assert (variant / ".snakemake").is_dir(), "the variant keeps its own Snakemake metadata"


def test_the_default_working_directory_is_unchanged():
    result = snakemake(*DRY, *SMOKE, "--forceall", "--", "results/paper.pdf")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "input: paper/main.tex," in job_block(out, "build_paper")


def test_without_latex_the_default_target_skips_only_the_paper_and_says_why(tmp_path):
    result = snakemake(*DRY, *SMOKE, "--forceall", env=without_latex(tmp_path))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    counts = job_counts(result.stdout)
    assert "build_paper" not in counts
    assert counts["tex_provenance"] == 1 and counts["plot_training_curves"] == 2
    assert "lacks latexmk, pdflatex" in out
    for hint in ("apt-get install", "brew install", "conda-forge", "paper.build: false"):
        assert hint in out


def test_paper_build_false_skips_the_paper_and_an_explicit_target_still_builds_it():
    skipped = snakemake(*DRY, *SMOKE, "--forceall", "--config", "paper={build: false}")
    assert skipped.returncode == 0, skipped.stderr[-3000:]
    assert "build_paper" not in job_counts(skipped.stdout)
    assert "lacks" not in skipped.stdout + skipped.stderr, "paper.build: false needs no LaTeX check"
    explicit = snakemake(*DRY, *SMOKE, "--forceall", "--config", "paper={build: false}", "--", "results/paper.pdf")
    assert explicit.returncode == 0, explicit.stderr[-3000:]
    assert job_counts(explicit.stdout)["build_paper"] == 1


def test_paper_build_rejects_other_values():
    result = snakemake(*DRY, *SMOKE, "--config", "paper={build: maybe}")
    assert result.returncode != 0
    assert "paper.build" in result.stdout + result.stderr
