"""Snakemake adapter for rule tex_part5: Part 5's tidy results, macros, matmul table and hyper-parameter table."""

import pandas as pd

from effdl.io import write_csv
from effdl.report.csvs import read_csv
from effdl.report.part5 import hyperparameter_table, matmul_table, part5_macros
from effdl.report.results import part5_results
from effdl.report.texgen import df_to_latex, write_macros
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(
    totals_csv: str, roles_csv: str, toy_csvs: list, history_csvs: list, pe_length: int, pe_depth: int, outputs
) -> None:
    totals, roles = read_csv(totals_csv), read_csv(roles_csv)
    toy = pd.concat([read_csv(path) for path in toy_csvs], ignore_index=True)
    history = pd.concat([read_csv(path) for path in history_csvs], ignore_index=True)
    results = part5_results(toy)
    write_csv(results, outputs.results)
    write_macros(part5_macros(totals, roles, toy, history, pe_length, pe_depth, results), outputs.macros, "Part 5")
    df_to_latex(matmul_table(roles), outputs.matmuls, escape=False, column_format="lrrrrrrrrr")
    notebook = totals[(totals["model"] == "notebook") & (totals["convention"] == "per-head")].iloc[0]
    df_to_latex(hyperparameter_table(notebook, toy), outputs.hparams, escape=False, column_format="lll")
    log(f"wrote {outputs.results}, {outputs.macros}, {outputs.matmuls} and {outputs.hparams} from {len(toy)} toy runs")


main(
    snakemake.input.totals,
    snakemake.input.roles,
    snakemake.input.toy,
    snakemake.input.history,
    snakemake.params.pe_length,
    snakemake.params.pe_depth,
    snakemake.output,
)
