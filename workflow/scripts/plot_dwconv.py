"""Snakemake adapter for rule plot_dwconv: DWConvNet training error and test accuracy vs epoch, from CSVs only."""

from effdl.report.csvs import read_csv
from effdl.report.part6 import dwconv_figure
from effdl.report.plotting import write_figure
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(iters_csv: str, epochs_csv: str, out_pdf: str, window: int) -> None:
    iters, epochs = read_csv(iters_csv), read_csv(epochs_csv)
    fig = dwconv_figure(iters, epochs, window, "Part 6.2: DWConvNet (depthwise layers 2, 4, 7, 9), Adam + MultiStep")
    write_figure(fig, out_pdf, epochs, log)


main(snakemake.input.iters, snakemake.input.epochs, snakemake.output[0], snakemake.params.window)
