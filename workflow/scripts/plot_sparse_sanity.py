"""Snakemake adapter for rule plot_sparse_sanity: unpruned SparseConvNet vs Part 1.1's ConvNet at matching epochs."""

import pandas as pd

from effdl.report.plotting import provenance_caption, save_figure, training_error_figure
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(inputs, out_pdf: str) -> None:
    sparse = pd.read_csv(inputs.sparse_epochs)
    dense = pd.concat([pd.read_csv(path) for path in inputs.dense_epochs], ignore_index=True)
    dense = dense[dense["epoch"] <= sparse["epoch"].max()]  # the seed's 3.2 compares the same number of epochs
    epochs = pd.concat([sparse, dense], ignore_index=True)
    lr = ", ".join(f"{v:g}" for v in sorted(epochs["lr"].unique()))
    title = f"Part 3.2: SparseConvNet sanity check (lr {lr})"
    fig = training_error_figure(epochs, "model", title, order=["sparse_convnet", "convnet"])
    save_figure(fig, out_pdf, provenance_caption(epochs))
    log(f"wrote {out_pdf} from {epochs['run'].nunique()} runs")


main(snakemake.input, snakemake.output[0])
