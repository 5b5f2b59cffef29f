"""Snakemake adapter for rule plot_finetune: test accuracy vs epoch of the three Part 4 models, from CSVs only."""

from effdl.report.csvs import read_csv
from effdl.report.part4 import finetune_figure
from effdl.report.plotting import write_figure
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(epochs_csv: str, out_pdf: str) -> None:
    epochs = read_csv(epochs_csv)
    write_figure(finetune_figure(epochs), out_pdf, epochs, log, print_width=0.75)


main(snakemake.input.epochs, snakemake.output[0])
