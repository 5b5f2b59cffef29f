"""Snakemake adapter for rule plot_frontier: accuracy against bytes, latency and MACs, Pareto fronts marked."""

from effdl.report.csvs import read_csv
from effdl.report.frontier import as_table, frontier_figure
from effdl.report.plotting import write_figure
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(table_csv: str, bench_csv: str, out_pdf: str) -> None:
    table = as_table(read_csv(table_csv))
    # the footer names the device, seeds and commit of the measured models (the benchmark's rows)
    write_figure(frontier_figure(table), out_pdf, read_csv(bench_csv), log)


main(snakemake.input.table, snakemake.input.bench, snakemake.output[0])
