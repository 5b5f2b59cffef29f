"""Snakemake adapter for rule plot_sparse_sanity: unpruned SparseConvNet vs Part 1.1's ConvNet (CSVs only)."""

import pandas as pd

from effdl.report.plotting import provenance_caption, save_figure, training_curves_figure
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])

LABELS = {"sparse_convnet": "SparseConvNet (Part 3.2, unpruned)", "convnet": "ConvNet (Part 1.1)"}


def load(paths) -> pd.DataFrame:
    frame = pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)
    frame["network"] = frame["model"].map(LABELS)
    return frame


def main(inputs, out_pdf: str, window: int) -> None:
    # the same row order in both frames keeps each network's colour the same in both panels
    iters = load([*inputs.dense_iters, inputs.sparse_iters]).sort_values("network", kind="stable")
    epochs = load([*inputs.dense_epochs, inputs.sparse_epochs]).sort_values("network", kind="stable")
    lr = ", ".join(f"{v:g}" for v in sorted(epochs["lr"].unique()))
    fig = training_curves_figure(iters, epochs, "network", window, f"Part 3.2: SparseConvNet sanity check (lr {lr})")
    save_figure(fig, out_pdf, provenance_caption(epochs))
    log(f"wrote {out_pdf} from {epochs['run'].nunique()} runs")


main(snakemake.input, snakemake.output[0], snakemake.params.window)
