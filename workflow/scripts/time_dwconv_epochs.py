"""Snakemake adapter for rule time_dwconv_epochs: wall time of whole DWConvNet training epochs per layer (6.2.2)."""

import pandas as pd

from effdl.data import DeviceDataset, load_packed
from effdl.execution import resolve_device
from effdl.io import write_csv
from effdl.provenance import provenance
from effdl.runlog import announce_device, open_log
from effdl.studies.dwconv import time_training_epochs

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(data_path: str, settings: dict, mean, std, device_name: str, config: dict, threads: int, out_csv: str):
    device = resolve_device(device_name, jobs_per_device=config.get("gpu_jobs_per_device", 1), log=log)
    announce_device(device, log, threads)
    train_set = DeviceDataset.from_packed(load_packed(data_path), "train", device)
    rows = time_training_epochs(
        device,
        train_set,
        mean=mean,
        std=std,
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        seed=settings["seed"],
    )
    table = pd.DataFrame([{**row, **provenance(device, settings["seed"], config)} for row in rows])
    write_csv(table, out_csv)
    log(f"wrote {out_csv}:\n{table[['impl', 'median_epoch_s', 'images_per_s', 'time_ratio']].to_string(index=False)}")


main(
    snakemake.input.data,
    dict(snakemake.params.settings),
    list(snakemake.params.mean),
    list(snakemake.params.std),
    snakemake.config["device"],
    snakemake.config,
    snakemake.threads,
    snakemake.output[0],
)
