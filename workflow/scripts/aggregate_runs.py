"""Snakemake adapter for rule aggregate_runs: concatenate the CSVs of a collection of runs."""

import pandas as pd

from effdl.io import write_csv
from effdl.report.csvs import read_csv
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(inputs, outputs) -> None:
    for kind in ("iters", "epochs", "summary"):
        frame = pd.concat([read_csv(path) for path in inputs[kind]], ignore_index=True)
        write_csv(frame, outputs[kind])
        log(f"{kind}: {len(inputs[kind])} runs, {len(frame)} rows")


main(snakemake.input, snakemake.output)
