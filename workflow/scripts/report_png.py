"""Snakemake adapter for rule report_png: a figure's PDF rendered as PNG for the report (browsers show it inline)."""

from pathlib import Path

from effdl.report.showcase import figure_png
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])
figure_png(Path(snakemake.input[0]), Path(snakemake.output[0]), dpi=110)  # ~715 px wide: legible, not heavy
log(f"rendered {snakemake.input[0]} as {snakemake.output[0]}")
