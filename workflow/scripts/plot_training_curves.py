"""Snakemake adapter for rule plot_training_curves: smoothed loss and test accuracy figure from CSVs only."""

import pandas as pd

from effdl.report.plotting import provenance_caption, save_figure, training_curves_figure
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])

TITLES = {
    "lr_sweep": "Part 1.1: learning-rate sweep (ConvNet, CIFAR-10)",
    "schedulers": "Part 1.2: MultiStep vs cosine annealing (ConvNet, CIFAR-10)",
}


def main(iters_csv: str, epochs_csv: str, out_pdf: str, hue: str, window: int, experiment: str) -> None:
    iters, epochs = pd.read_csv(iters_csv), pd.read_csv(epochs_csv)
    iters[hue], epochs[hue] = iters[hue].astype(str), epochs[hue].astype(str)
    fig = training_curves_figure(iters, epochs, hue, window, TITLES[experiment])
    save_figure(fig, out_pdf, provenance_caption(epochs))
    log(f"wrote {out_pdf} from {epochs['run'].nunique()} runs")


main(
    snakemake.input.iters,
    snakemake.input.epochs,
    snakemake.output[0],
    snakemake.params.hue,
    snakemake.params.window,
    snakemake.wildcards.experiment,
)
