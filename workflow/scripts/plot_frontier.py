"""Snakemake adapter for rule plot_frontier: accuracy against bytes, latency and MACs, Pareto fronts marked."""

import pandas as pd

from effdl.report.csvs import read_csv
from effdl.report.frontier import as_table
from effdl.report.frontier_figure import frontier_figure
from effdl.report.plotting import write_figure
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(table_csv: str, bench_csv: str, baseline_csvs: list, out_pdf: str) -> None:
    table = as_table(read_csv(table_csv))
    # the footer names the trained ConvNets' data, device, precision, epochs, seeds and commit (the benchmark
    # times one seed's models; the accuracies are over every seed); a benchmark on another device is named too
    baseline = pd.concat([read_csv(p) for p in baseline_csvs], ignore_index=True)
    bench = read_csv(bench_csv)
    other = bench.loc[~bench["device"].isin(baseline["device"]), ["device"]]
    rows = pd.concat([baseline, other], ignore_index=True) if len(other) else baseline
    write_figure(frontier_figure(table), out_pdf, rows, log)


main(snakemake.input.table, snakemake.input.bench, list(snakemake.input.baseline), snakemake.output[0])
