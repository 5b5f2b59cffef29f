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
