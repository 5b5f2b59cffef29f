"""Snakemake adapter for rule tex_part4: Part 4's numbers as TeX macros and its parameter/time/accuracy table."""

import pandas as pd

from effdl.io import write_csv
from effdl.report.csvs import read_csv
from effdl.report.part4 import finetune_macros, finetune_table
from effdl.report.part4_lora_ranks import lora_rank_rows, lora_rank_sentence
from effdl.report.results import part4_results
from effdl.report.texgen import df_to_latex, write_macros
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(
    summary_csv: str,
    epochs_csv: str,
    ranks_csvs: list,
    num_classes: int,
    lora_r: int,
    lora_alpha: float,
    out_macros: str,
    out_table: str,
    out_results: str,
) -> None:
    summary, epochs = read_csv(summary_csv), read_csv(epochs_csv)
    # the rank control's runs (beyond the problem set), when configured: [summary.csv, epochs.csv]
    ranks, ranks_epochs = (read_csv(p) for p in ranks_csvs) if ranks_csvs else (pd.DataFrame(), pd.DataFrame())
    results = part4_results(summary, epochs, ranks, ranks_epochs)
    write_csv(results, out_results)
    macros = finetune_macros(summary, epochs, num_classes, lora_r, lora_alpha, results)
    macros["PfourLoraRanksSentence"] = lora_rank_sentence(summary, ranks, num_classes, lora_r)
    write_macros(macros, out_macros, "Part 4")
    table = pd.concat([finetune_table(summary, epochs, results), lora_rank_rows(ranks, results)], ignore_index=True)
    df_to_latex(
        table,
        out_table,
        escape=False,
        column_format="lrrrrr",
        caption="Part 4: parameters, mean wall time per epoch (training and test pass) and test "
        "accuracy before and after fine-tuning (mean $\\pm$ 95\\% t-interval over seeds); rows "
        "``control: $r$'' are \\texttt{net\\_freeze\\_lora} at a lower LoRA rank $r$ (same scale $\\alpha/r$), "
        "a control beyond the problem set. "
        "\\rebuild{results/tex/part4_table.tex}{results/metrics/part4_finetune/summary.csv, epochs.csv}",
        label="tab:part4",
    )
    log(f"wrote {out_macros}, {out_table} and {out_results}")


main(
    snakemake.input.summary,
    snakemake.input.epochs,
    list(snakemake.input.ranks),
    snakemake.params.num_classes,
    snakemake.params.lora_r,
    snakemake.params.lora_alpha,
    snakemake.output.macros,
    snakemake.output.table,
    snakemake.output.results,
)
