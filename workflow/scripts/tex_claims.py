"""Snakemake adapter for rule tex_claims: the claims table (TeX and CSV) and its verdict counts as macros."""

import pandas as pd

from effdl.io import write_csv
from effdl.report.claims import check_claims, claims_latex_table, claims_macros
from effdl.report.csvs import read_csv
from effdl.report.texgen import df_to_latex, write_macros
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])

SINGLE = ("sweep", "sched", "sched_epochs", "quant_rows", "sanity", "pruning", "pruning_epochs", "dw_params")


def main(inputs, example: dict, margin: float, outputs) -> None:
    tables = {name: read_csv(inputs[name]) for name in SINGLE}
    tables["toy"] = pd.concat([read_csv(path) for path in inputs.toy], ignore_index=True)
    claims = check_claims(tables, example, margin)
    write_csv(claims, outputs.csv)
    write_macros(claims_macros(claims, margin), outputs.macros, "claims")
    # the bare tabular: paper/sections/claims.tex wraps it in a float with its caption and font size
    df_to_latex(
        claims_latex_table(claims),
        outputs.table,
        escape=False,
        column_format="p{3.7cm}p{3.6cm}p{2.7cm}p{2.9cm}p{1.5cm}",
    )
    for row in claims.itertuples():
        log(f"{row.part} {row.expectation}: {row.verdict} ({row.measured}; {row.test})")


main(snakemake.input, dict(snakemake.params.example), float(snakemake.params.margin), snakemake.output)
