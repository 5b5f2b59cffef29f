"""Snakemake adapter for rule tex_provenance: the appendix's macros, tables and config listing; the deviations table."""

import os
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from effdl.io import write_text
from effdl.report.csvs import read_csv
from effdl.report.deviations import deviations_table
from effdl.report.environment import command_line, config_listing, listing_tex, package_versions
from effdl.report.provenance import data_sources_table, provenance_macros, rule_runtimes
from effdl.report.rebuild import in_document_order, rebuild_entries, rebuild_table
from effdl.report.texgen import df_to_latex, write_macros
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(summary_csvs, config, label, configfiles, benchmarks_dir, command, outputs, tex_sources) -> None:
    repo = Path.cwd()
    summaries = pd.concat([read_csv(path) for path in summary_csvs], ignore_index=True)
    macros = provenance_macros(
        summaries,
        config,
        label,
        configfiles,
        version("snakemake"),
        str(repo),
        versions=package_versions(),
        command=command_line(command.split("\x1f") if command else None, repo),
    )
    write_macros(macros, outputs.macros, "provenance")
    df_to_latex(
        data_sources_table(summaries), outputs.data_sources, escape=False, column_format="@{}lp{2.3cm}p{9.6cm}rr@{}"
    )
    df_to_latex(rule_runtimes(benchmarks_dir), outputs.runtimes, float_format="%.1f", longtable=True)
    df_to_latex(
        deviations_table(config, summaries),
        outputs.deviations,
        escape=False,
        column_format="@{}p{1.3cm}p{2.6cm}p{3.3cm}p{4.6cm}p{3.6cm}@{}",
        longtable=True,
    )
    write_text(listing_tex(config_listing(config, repo)), outputs.config_listing)
    entries = rebuild_entries(Path(path).read_text() for path in tex_sources)
    sections = "".join(Path(p).read_text() for p in sorted(tex_sources) if "/sections/" in str(p))
    entries = in_document_order(entries, sections)
    df_to_latex(
        rebuild_table(entries), outputs.rebuild, escape=False, column_format="@{}lp{6.2cm}p{6.6cm}@{}", longtable=True
    )
    log(f"provenance of {len(summaries)} runs written")


main(
    snakemake.input.summaries,
    snakemake.config,
    snakemake.params.label,
    snakemake.params.configfiles,
    snakemake.params.benchmarks_dir,
    os.environ.get("EFFDL_COMMAND_LINE"),  # set by workflow/rules/paper.smk; not a param, so no rerun trigger
    snakemake.output,
    [*snakemake.input.sections, *(p for p in snakemake.input.others if str(p).endswith(".tex"))],
)
