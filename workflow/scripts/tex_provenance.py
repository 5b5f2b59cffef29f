"""Snakemake adapter for rule tex_provenance: the appendix's macros, data-source and rule-runtime tables."""

from importlib.metadata import version

import pandas as pd

from effdl.report.provenance import data_sources_table, provenance_macros, rule_runtimes
from effdl.report.texgen import df_to_latex, write_macros
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(summary_csvs, config, label, configfiles, benchmarks_dir, outputs) -> None:
    summaries = pd.concat([pd.read_csv(path) for path in summary_csvs], ignore_index=True)
    write_macros(
        provenance_macros(summaries, config, label, configfiles, version("snakemake")), outputs.macros, "provenance"
    )
    df_to_latex(data_sources_table(summaries), outputs.data_sources, escape=False)
    df_to_latex(rule_runtimes(benchmarks_dir), outputs.runtimes, float_format="%.1f")
    log(f"provenance of {len(summaries)} runs written")


main(
    snakemake.input.summaries,
    snakemake.config,
    snakemake.params.label,
    snakemake.params.configfiles,
    snakemake.params.benchmarks_dir,
    snakemake.output,
)
