"""Snakemake adapter for rule tex_frontier: the frontier table, its macros and the generated answer as TeX."""

from effdl.io import write_text
from effdl.report.csvs import read_csv
from effdl.report.frontier import as_table, packed_check
from effdl.report.frontier_text import frontier_macros, frontier_table_latex
from effdl.report.texgen import write_macros
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(inputs, out_macros, out_table) -> None:
    table = as_table(read_csv(inputs.table))
    checked = len(packed_check(read_csv(inputs.quant_rows), read_csv(inputs.packed)))
    m = frontier_macros(table, checked, read_csv(inputs.finetune))
    write_macros(m, out_macros, "the efficiency frontier")
    write_text(frontier_table_latex(table), out_table)
    log(f"wrote {len(m)} macros to {out_macros} and the {len(table)}-row table {out_table}")


main(snakemake.input, snakemake.output.macros, snakemake.output.table)
