"""Snakemake adapter for rule prepare_data: read a data set's source and write one packed file.

Beside it go `<name>.meta.json` (the data contract's facts, read while Snakemake builds the DAG) and, after
success, a copy in `results/data/.last-good/<name>/` (with its checksums), so a failed rebuild loses nothing.
"""

import os
from pathlib import Path

from effdl.data import prepare_dataset, write_meta
from effdl.io import save_checkpoint
from effdl.plan import lastgood
from effdl.plan.checksums import write_sums
from effdl.runlog import open_log, write_benchmark

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])
REPO = Path(snakemake.scriptdir).resolve().parents[1]  # scriptdir may read workflow/rules/../scripts


def from_repo(source: dict) -> dict:
    """The source with relative `path`/`root` resolved against the repository root (as the DAG does)."""
    source = dict(source)
    for key in ("path", "root"):
        if source.get(key) and not Path(source[key]).is_absolute():
            source[key] = os.path.relpath(REPO / source[key])
    return source


def main(name: str, source: dict, out_path: str, benchmark_path: str, sums_path: str) -> None:
    store = Path(out_path).parent / ".last-good" / name
    try:
        packed = prepare_dataset(name, from_repo(source))
    except Exception as err:
        if lastgood.mark_failed(store, f"{type(err).__name__}: {err}"):
            log(
                f"this rebuild failed; the previous {out_path} is kept in {store} and comes back by itself "
                f"when datasets.{name} is changed back"
            )
        raise
    log(
        f"{name}: {len(packed['train']['labels'])} train, {len(packed['test']['labels'])} test images, "
        f"shape {tuple(packed['train']['images'].shape[1:])}, source {packed['source']}, sha256 {packed['sha256']}"
    )
    write_meta(packed, out_path, source)
    save_checkpoint(packed, out_path)
    write_benchmark(benchmark_path)
    write_sums(sums_path, {"data": out_path, "benchmark": benchmark_path})
    lastgood.save([out_path, sums_path], source, store)


main(
    snakemake.wildcards.dataset,
    dict(snakemake.params.source),
    snakemake.output.data,
    snakemake.output.benchmark,
    snakemake.output.sums,
)
