"""Snakemake adapter for rule plot_quantization: accuracy vs bit width per network, from the PTQ CSVs only."""

from effdl.report.csvs import read_csv
from effdl.report.part2_figure import quantization_figure
from effdl.report.plotting import write_figure
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(summary_csv: str, rows_csv: str, out_pdf: str) -> None:
    summary, rows = read_csv(summary_csv), read_csv(rows_csv)
    write_figure(quantization_figure(summary, rows), out_pdf, rows, log)


main(snakemake.input.summary, snakemake.input.rows, snakemake.output[0])
