"""Snakemake adapter for rule plot_pruning: dense baseline vs structured and unstructured pruning (CSVs only)."""

import pandas as pd

from effdl.report.csvs import read_csv
from effdl.report.part3 import pruning_figure
from effdl.report.plotting import write_figure
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(pruned_csv: str, baseline_csvs: list, unpruned_csvs: list, out_pdf: str) -> None:
    pruned = read_csv(pruned_csv)
    baseline = pd.concat([read_csv(path) for path in baseline_csvs], ignore_index=True)
    # the unpruned SparseConvNet on the same schedule (a control beyond the problem set), when configured
    unpruned = pd.concat([read_csv(path) for path in unpruned_csvs], ignore_index=True) if unpruned_csvs else None
    data = pd.concat([baseline, pruned, *([] if unpruned is None else [unpruned])], ignore_index=True)
    write_figure(pruning_figure(pruned, baseline, unpruned), out_pdf, data, log)


main(snakemake.input.pruned, list(snakemake.input.baseline), list(snakemake.input.unpruned), snakemake.output[0])
