"""Snakemake adapter for rule plot_positional_encoding: the notebook's Cell 5.3 heat map of the sinusoidal table."""

import torch

from effdl.models.transformer import positional_encoding
from effdl.provenance import git_commit
from effdl.report.part5 import positional_encoding_figure
from effdl.report.plotting import save_figure
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(length: int, depth: int, out_pdf: str) -> None:
    fig = positional_encoding_figure(positional_encoding(length, depth).numpy())
    caption = (
        f"data: none, the table is computed (length {length}, depth {depth}) | torch {torch.__version__} "
        f"| commit {git_commit()}"
    )
    save_figure(fig, out_pdf, caption, print_width=0.8)
    log(f"wrote {out_pdf}")


main(snakemake.params.length, snakemake.params.depth, snakemake.output[0])
