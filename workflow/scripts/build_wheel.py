"""Snakemake adapter for rule effdl_wheel: the project's wheel (src/effdl only), which the notebook installs."""

from pathlib import Path

from effdl.report.wheel import build_wheel
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])

# the repository is the folder of pyproject.toml (an input, so a version change rebuilds the wheel)
log(f"wrote {build_wheel(Path(snakemake.input.pyproject).parent, snakemake.output[0])}")
