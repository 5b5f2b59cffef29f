"""Snakemake adapter for rule build_paper: strict latexmk build of results/paper.pdf."""

from effdl.plan import lastgood
from effdl.report.latex import build_pdf
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(main_tex: str, build_dir: str, out_pdf: str, max_overfull_pt: float, results_dir: str) -> None:
    # a copy of each good PDF in results/.last-good/build_paper: Snakemake deletes paper.pdf before a rebuild
    output = lastgood.build_keeping(
        [out_pdf],
        "results/.last-good/build_paper",
        lambda: build_pdf(main_tex, build_dir, out_pdf, max_overfull_pt, results_dir=results_dir),
        log,
    )
    log(output[-3000:])
    log(f"wrote {out_pdf}")


main(
    snakemake.input.main,
    snakemake.params.build_dir,
    snakemake.output[0],
    snakemake.params.max_overfull_pt,
    snakemake.params.results_dir,
)
