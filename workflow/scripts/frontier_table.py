"""Snakemake adapter for rule frontier_table: the ConvNet family's variants with accuracy, bytes, latency, MACs."""

import pandas as pd

from effdl.io import write_csv
from effdl.report.csvs import read_csv
from effdl.report.frontier import frontier_points
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def read_all(paths) -> pd.DataFrame:
    return pd.concat([read_csv(p) for p in paths], ignore_index=True) if paths else pd.DataFrame()


def main(inputs, out_csv) -> None:
    table = frontier_points(
        baseline=read_all(inputs.baseline),
        quant_rows=read_csv(inputs.quant_rows),
        packed=read_csv(inputs.packed),
        pruned=read_csv(inputs.pruned),
        slim_checks=read_all(inputs.slim),
        bench=read_csv(inputs.bench),
        oneshot=read_all(inputs.oneshot),
        sparsity=read_csv(inputs.sparsity),
        dwconv=read_csv(inputs.dwconv),
        dw_bench=read_csv(inputs.dw_bench),
    )
    write_csv(table, out_csv)
    log(f"wrote {out_csv}: {len(table)} variants, {int(table['front_bytes'].sum())} on the bytes front")


main(snakemake.input, snakemake.output[0])
