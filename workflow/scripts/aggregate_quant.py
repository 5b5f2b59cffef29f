"""Snakemake adapter for rule aggregate_quant: all PTQ rows, their per-setting summary and the packed-file sizes."""

import pandas as pd

from effdl.io import write_csv
from effdl.report.csvs import read_csv
from effdl.report.part2 import summarize_ptq
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(row_csvs, packed_csvs, outputs) -> None:
    rows = pd.concat([read_csv(path) for path in row_csvs], ignore_index=True)
    write_csv(rows, outputs.rows)
    write_csv(summarize_ptq(rows), outputs.summary)
    write_csv(pd.concat([read_csv(path) for path in packed_csvs], ignore_index=True), outputs.packed)
    log(f"{len(rows)} PTQ rows from {len(row_csvs)} variant files; {len(packed_csvs)} packed-size files")


main(snakemake.input.rows, snakemake.input.packed, snakemake.output)
