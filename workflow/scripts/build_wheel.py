"""Snakemake adapter for rule effdl_wheel: the project's wheel (src/effdl only), which the notebook installs."""

from effdl.report.wheel import build_wheel
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])

log(f"wrote {build_wheel(snakemake.params.repo, snakemake.output[0])}")
