"""Snakemake adapter for rule plot_training_curves: smoothed loss and test accuracy figure from CSVs only."""

from effdl.report.csvs import read_csv
from effdl.report.part1 import part1_figure
from effdl.report.plotting import write_figure
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(iters_csv: str, epochs_csv: str, out_pdf: str, hue: str, window: int, experiment: str) -> None:
    iters, epochs = read_csv(iters_csv), read_csv(epochs_csv)
    write_figure(part1_figure(iters, epochs, experiment, hue, window), out_pdf, epochs, log)


main(
    snakemake.input.iters,
    snakemake.input.epochs,
    snakemake.output[0],
    snakemake.params.hue,
    snakemake.params.window,
    snakemake.wildcards.experiment,
)
