"""Snakemake adapter for rule plot_sparse_sanity: unpruned SparseConvNet vs Part 1.1's ConvNet at matching epochs."""

import pandas as pd

from effdl.report.csvs import read_csv
from effdl.report.part3 import sanity_figure
from effdl.report.plotting import write_figure
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(inputs, out_pdf: str) -> None:
    epochs = pd.concat([read_csv(path) for path in [*inputs.dense_epochs, inputs.sparse_epochs]], ignore_index=True)
    write_figure(sanity_figure(epochs), out_pdf, epochs, log)


main(snakemake.input, snakemake.output[0])
