"""Snakemake adapter for rule report_description: the report's landing page (effdl.report.dashboard)."""

from effdl.io import write_text
from effdl.report.dashboard import description_rst
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])
text = description_rst(
    summaries=list(snakemake.input.summaries),
    claims_csv=snakemake.input.claims,
    bench_dir=snakemake.params.benchmarks_dir,
    label=snakemake.params.label,
    configfiles=list(snakemake.params.configfiles),
)
write_text(text, snakemake.output[0])
log(f"wrote {snakemake.output[0]} ({len(text.splitlines())} lines)")
