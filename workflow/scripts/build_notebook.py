"""Snakemake adapter for rule notebook: build the submission notebook and execute it (a failing cell fails the rule)."""

import time
from pathlib import Path

from effdl.report.notebook import (
    NotebookExecutionError,
    build_notebook,
    execute_notebook,
    notebook_runs,
    paper_exhibits,
    recorded_logs,
)
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(params, sections_dir: str, out_path: str) -> None:
    exhibits = paper_exhibits(sections_dir)
    runs = notebook_runs(dict(params.runs))
    nb = build_notebook(
        team=[dict(m) for m in params.team],
        label=params.label,
        exhibits=exhibits,
        runs=runs,
        toy=dict(params.toy),
        recorded=recorded_logs(runs),
    )
    log(f"built {len(nb.cells)} cells ({len(exhibits)} figures/tables); executing")
    start = time.monotonic()
    try:
        execute_notebook(nb, out_path, cwd=Path.cwd(), timeout_s=params.cell_timeout_s)
    except NotebookExecutionError as err:
        log(str(err))
        raise
    log(f"executed in {time.monotonic() - start:.1f} s; wrote {out_path}")


main(snakemake.params, str(Path(snakemake.input.sections[0]).parent), snakemake.output[0])
