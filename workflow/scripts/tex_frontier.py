"""Snakemake adapter for rule tex_frontier: the frontier table, its macros and the generated answer as TeX."""

from effdl.report.csvs import read_csv
from effdl.report.frontier import as_table, frontier_macros, frontier_table_tex, packed_check
from effdl.report.texgen import df_to_latex, write_macros
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(inputs, out_macros, out_table) -> None:
    table = as_table(read_csv(inputs.table))
    checked = len(packed_check(read_csv(inputs.quant_rows), read_csv(inputs.packed)))
    m = frontier_macros(table, checked, read_csv(inputs.finetune))
    write_macros(m, out_macros, "the efficiency frontier")
    df_to_latex(
        frontier_table_tex(table),
        out_table,
        escape=False,
        label="tab:frontier",
        caption="The ConvNet family on CIFAR-10: test accuracy (each seed's value in brackets when $n\\le3$), its "
        "difference from the reference in points (PTQ and one-shot: paired with their own fp32 parent; trained "
        "variants: Welch against the fp32 ConvNet; n/t: one model, no test), stored kB (computed payload; "
        "$^f$ saved file, with the format's overhead; $^s$ CSR with 16-bit indices; $^\\dagger$ equal to a "
        "real bit-packed file), multiply-accumulates per image as run (dense kernels count the zeros of masked "
        "weights), median latency of one model at the smallest benchmarked batch, and the Pareto fronts it is on "
        "(B bytes, L latency, M MACs). "
        f"{m['FrontierMissing']} "
        "\\rebuild{results/tex/frontier_table.tex}{results/metrics/frontier.csv}",
    )
    log(f"wrote {len(m)} macros to {out_macros} and the {len(table)}-row table {out_table}")


main(snakemake.input, snakemake.output.macros, snakemake.output.table)
