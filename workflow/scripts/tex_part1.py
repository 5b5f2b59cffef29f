"""Snakemake adapter for rule tex_part1: Part 1's numbers, choices and comparison words as TeX macros and a table."""

import pandas as pd

from effdl.report.part1 import part1_macros, part1_table
from effdl.report.texgen import df_to_latex, write_macros
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(inputs, out_macros: str, out_table: str) -> None:
    sweep, sched = pd.read_csv(inputs.sweep), pd.read_csv(inputs.sched)
    macros = part1_macros(sweep, sched, pd.read_csv(inputs.sweep_epochs), pd.read_csv(inputs.sched_epochs))
    write_macros(macros, out_macros, "Part 1")
    df_to_latex(
        part1_table(sweep, sched),
        out_table,
        escape=False,
        caption="Part 1 runs: final test accuracy "
        "over seeds (mean $\\pm$ std) and the measured total training time per run.",
        label="tab:part1",
    )
    log(f"wrote {out_macros} and {out_table}")


main(
    snakemake.input,
    snakemake.output.macros,
    snakemake.output.table,
)
