"""Snakemake adapter for rule submission_zip: the seed's CS2420_PSet2_<names>.zip (PDF, notebook, wheel, AI logs)."""

from pathlib import Path

from effdl.plan import lastgood
from effdl.report.submission import write_zip
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(pdf: str, notebook: str, wheel: str, ai_logs: list[str], stem: str, out_zip: str) -> None:
    members = [(pdf, f"{stem}.pdf"), (notebook, f"{stem}.ipynb"), (wheel, Path(wheel).name)]
    store = "results/.last-good/submission_zip"  # the previous zip survives a failed rebuild
    entries = lastgood.build_keeping([out_zip], store, lambda: write_zip(out_zip, members, ai_logs=ai_logs), log)
    log(f"wrote {out_zip}: {', '.join(entries)}")


main(
    snakemake.input.pdf,
    snakemake.input.notebook,
    snakemake.input.wheel,
    list(snakemake.input.ai_logs),
    snakemake.params.stem,
    snakemake.output[0],
)
