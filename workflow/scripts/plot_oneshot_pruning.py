"""Snakemake adapter for rule plot_oneshot_pruning: one-shot pruning sweep vs the gradual schedule (CSVs only)."""

import pandas as pd

from effdl.report.csvs import read_csv
from effdl.report.part3 import oneshot_figure
from effdl.report.plotting import write_figure
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(oneshot_csvs: list, gradual_csv: str, baseline_csvs: list, out_pdf: str) -> None:
    oneshot = pd.concat([read_csv(path) for path in oneshot_csvs], ignore_index=True)
    baseline = pd.concat([read_csv(path) for path in baseline_csvs], ignore_index=True)
    write_figure(oneshot_figure(oneshot, read_csv(gradual_csv), baseline), out_pdf, oneshot, log, print_width=0.85)


main(list(snakemake.input.oneshot), snakemake.input.gradual, list(snakemake.input.baseline), snakemake.output[0])
