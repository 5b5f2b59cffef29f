"""Snakemake adapter for rule tex_part1: Part 1's tidy results, and its numbers, choices and words as TeX."""

from effdl.io import write_csv
from effdl.report.csvs import read_csv
from effdl.report.part1 import part1_macros, part1_table
from effdl.report.results import part1_results
from effdl.report.texgen import df_to_latex, write_macros
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(inputs, window: int, out_macros: str, out_table: str, out_results: str) -> None:
    sweep, sched = read_csv(inputs.sweep), read_csv(inputs.sched)
    results = part1_results(sweep, sched)
    write_csv(results, out_results)
    macros = part1_macros(
        sweep,
        sched,
        read_csv(inputs.sweep_epochs),
        read_csv(inputs.sched_epochs),
        sweep_iters=read_csv(inputs.sweep_iters),
        sched_iters=read_csv(inputs.sched_iters),
        window=window,
        results=results,
    )
    write_macros(macros, out_macros, "Part 1")
    df_to_latex(
        part1_table(sweep, sched, results),
        out_table,
        escape=False,
        caption="Part 1 runs: final test accuracy and total training time per run (mean $\\pm$ 95\\% t-interval) "
        "over the seeds counted in the table. \\rebuild{results/tex/part1_table.tex}"
        "{results/metrics/part1_lr_sweep/summary.csv, part1_schedulers/summary.csv}",
        label="tab:part1",
    )
    log(f"wrote {out_results}, {out_macros} and {out_table}")


main(
    snakemake.input,
    snakemake.params.window,
    snakemake.output.macros,
    snakemake.output.table,
    snakemake.output.results,
)
