"""Snakemake adapter for rule prepare_data: read a data set's source and write one packed file."""

from effdl.data import prepare_dataset
from effdl.io import save_checkpoint
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(name: str, source: dict, out_path: str) -> None:
    packed = prepare_dataset(name, source)
    log(
        f"{name}: {len(packed['train']['labels'])} train, {len(packed['test']['labels'])} test images, "
        f"shape {tuple(packed['train']['images'].shape[1:])}, source {packed['source']}, sha256 {packed['sha256']}"
    )
    save_checkpoint(packed, out_path)


main(snakemake.wildcards.dataset, dict(snakemake.params.source), snakemake.output[0])
