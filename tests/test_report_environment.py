"""Tests of effdl.report.environment: versions present, no absolute path in what reaches the paper."""

from __future__ import annotations

import pytest

from effdl.report.environment import command_line, config_listing, cpu_model, listing_tex, package_versions


def test_package_versions_name_python_and_the_report_stack():
    versions = package_versions()
    assert {"python", "numpy", "pandas", "matplotlib", "seaborn", "snakemake", "scipy"} <= set(versions)
    assert package_versions(["surely-not-a-package-xyz"])["surely-not-a-package-xyz"] == "not installed"


def test_cpu_model_reads_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B13 64-Core Processor\n")
    assert cpu_model(info) == "AMD EPYC 7B13 64-Core Processor"
    assert cpu_model(tmp_path / "missing")  # falls back, never raises


def test_no_absolute_path_survives(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    argv = ["/opt/venv/bin/snakemake", "--configfile", f"{repo}/config/smoke.yaml", "results/paper.pdf"]
    assert command_line(argv, repo) == "snakemake --configfile config/smoke.yaml results/paper.pdf"
    listing = config_listing({"datasets": {"x": {"path": f"{repo}/data/x.tar.gz"}}, "seeds": [43, 44]}, repo)
    assert str(repo) not in listing and "path: data/x.tar.gz" in listing and "seeds: [43, 44]" in listing
    assert command_line(None, repo) == "not recorded"
    with pytest.raises(ValueError, match="end"):
        listing_tex("\\end{verbatim}")


def test_appendix_macros_name_versions_machine_and_full_hashes(tmp_path):
    import pandas as pd

    from effdl.report.provenance import data_sources_table, provenance_macros

    sha = "7854ea059adc7729ab5267c5269ccc01e6eaeea6549d5f3c834c106bae86e8ee"
    runs = pd.DataFrame(
        {
            "seed": [43, 44],
            "device": ["cuda:NVIDIA H200", "cpu"],
            "precision": ["bf16", "fp32"],
            "git_commit": "abc",
            "torch_version": "2.14.1",
            "torchvision_version": "0.29.1",
            "cuda_version": ["12.8", "12.8"],
            "cudnn_version": ["91000", "91000"],
            "dataset": "cifar10",
            "data_source": "../shared/data/cifar10-jpeg.tar.gz",
            "data_sha256": sha,
            "n_train": 320,
            "n_test": 320,
        }
    )
    macros = provenance_macros(
        runs,
        {"seeds": [43, 44]},
        "smoke",
        [f"{tmp_path}/config/smoke.yaml"],
        "9.27.1",
        str(tmp_path),
        versions={"python": "3.11.9", "numpy": "2.4.6"},
        command="snakemake x",
    )
    assert macros["GpuModel"] == "NVIDIA H200" and macros["CudaVersion"] == "12.8"
    assert macros["StudyPrecisions"] == "bf16 autocast and fp32"
    assert macros["PythonVersion"] == "3.11.9" and macros["ScipyVersion"] == "not installed"
    assert str(tmp_path) not in macros["ConfigFiles"] and macros["ConfigFiles"] == "config/smoke.yaml"
    assert "the runs did not record theirs" in macros["CpuModel"]
    assert sha in data_sources_table(runs)["sha256"].iloc[0]  # the full hash, not a prefix


def test_captions_name_the_spread_the_figures_draw():
    """Figures draw each seed at n <= SEEDS_SHOWN_MAX and a t-band above it; the caption words say which."""
    import pandas as pd

    from effdl.report.provenance import spread_macros, spread_text
    from effdl.report.stats import SEEDS_SHOWN_MAX

    assert spread_text(1) == "one seed" and "t-interval" not in spread_text(SEEDS_SHOWN_MAX)
    assert f"each of the {SEEDS_SHOWN_MAX} seeds" in spread_text(SEEDS_SHOWN_MAX)
    assert spread_text(SEEDS_SHOWN_MAX + 1).startswith("mean and 95\\% t-interval over")
    rows = pd.DataFrame({"part": ["part1", "part1", "part6"], "seed": [43, 44, 43]})
    macros = spread_macros(rows)
    assert macros["SpreadPartOne"] == spread_text(2) and macros["SpreadPartSix"] == "one seed"
