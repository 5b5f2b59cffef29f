"""Snakemake adapter for rule tex_part6: Part 6's tidy results, its numbers as TeX macros, the parameter table."""

from effdl.io import write_csv
from effdl.report.csvs import read_csv
from effdl.report.part6 import parameter_table, part6_macros
from effdl.report.results import part6_results
from effdl.report.texgen import df_to_latex, write_macros
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(inputs, example: dict, batch_size: int, out_macros: str, out_table: str, out_results: str) -> None:
    params, summary, epochs = read_csv(inputs.params), read_csv(inputs.summary), read_csv(inputs.epochs)
    results = part6_results(summary, epochs)
    write_csv(results, out_results)
    macros = part6_macros(
        params,
        read_csv(inputs.bench),
        summary,
        epochs,
        example,
        batch_size,
        results,
        epoch_timing=read_csv(inputs.epoch_timing),
    )
    write_macros(macros, out_macros, "Part 6")
    df_to_latex(
        parameter_table(params),
        out_table,
        escape=False,
        label="tab:part6-params",
        caption="Part 6.1 parameter counts: a standard convolution against the depthwise separable one "
        "(layer $(C_\\text{in}, C_\\text{out}, K)$, no bias; theoretical ratio "
        "$K^2C_\\text{out}/(K^2+C_\\text{out})$), "
        "and ConvNet against DWConvNet. Both separable implementations are counted; their counts must agree. "
        "\\rebuild{results/tex/part6_params_table.tex}{results/metrics/dwconv_params.csv}",
    )
    log(f"wrote {out_results}, {out_macros} and {out_table}")


main(
    snakemake.input,
    dict(snakemake.params.example),
    snakemake.params.batch_size,
    snakemake.output.macros,
    snakemake.output.table,
    snakemake.output.results,
)
