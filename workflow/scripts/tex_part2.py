"""Snakemake adapter for rule tex_part2: Part 2's tidy results, its numbers and words as TeX macros, its tables."""

from effdl.io import write_csv
from effdl.report.csvs import read_csv
from effdl.report.part2 import packed_table, part2_macros, part2_table
from effdl.report.results import part2_results
from effdl.report.texgen import df_to_latex, write_macros
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(inputs, mnist: dict, outputs) -> None:
    summary, rows, packed = read_csv(inputs.summary), read_csv(inputs.rows), read_csv(inputs.packed)
    results = part2_results(summary)
    write_csv(results, outputs.results)
    write_macros(part2_macros(summary, rows, packed, mnist=mnist, results=results), outputs.macros, "Part 2")
    df_to_latex(
        part2_table(summary, results),
        outputs.table,
        escape=False,
        label="tab:part2",
        caption="Part 2: test accuracy after post-training quantization with per-tensor and "
        "per-channel scales (mean $\\pm$ 95\\% t-interval over trained models, and over trials for stochastic "
        "rounding), its change $\\Delta$ in points against the same model in fp32, and the model size "
        "with bit-packed codes plus shifts and scales, with its ratio to fp32. "
        "\\rebuild{results/tex/part2_table.tex}{results/metrics/quantization.csv}",
    )
    df_to_latex(
        packed_table(packed),
        outputs.packed_table,
        escape=False,
        label="tab:part2-packed",
        caption="Part 2: real checkpoint files. The fp32 \\texttt{state\\_dict} saved with "
        "\\texttt{torch.save} against the bit-packed per-tensor file, reloaded and checked bit-exact "
        "against the simulated model. "
        "\\rebuild{results/tex/part2_packed_table.tex}{results/metrics/quantization_packed.csv}",
    )
    log(f"wrote {outputs.results}, {outputs.macros}, {outputs.table} and {outputs.packed_table}")


main(snakemake.input, dict(snakemake.params.mnist), snakemake.output)
