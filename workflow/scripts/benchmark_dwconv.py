"""Snakemake adapter for rule benchmark_dwconv: DWConvNet training-step time with each layer, and their ratio (6.2)."""

import pandas as pd

from effdl.execution import resolve_device
from effdl.io import write_csv
from effdl.provenance import provenance
from effdl.runlog import announce_device, open_log
from effdl.studies.dwconv import benchmark_training_steps

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(settings: dict, device_name: str, config: dict, threads: int, out_csv: str) -> None:
    device = resolve_device(device_name, jobs_per_device=snakemake.config.get("gpu_jobs_per_device", 1), log=log)
    announce_device(device, log, threads)
    rows = benchmark_training_steps(
        device,
        batch_size=settings["batch_size"],
        steps=settings["steps"],
        warmup=settings["warmup"],
        seed=settings["seed"],
    )
    table = pd.DataFrame([{**row, **provenance(device, settings["seed"], config)} for row in rows])
    write_csv(table, out_csv)
    log(f"wrote {out_csv}:\n{table[['impl', 'median_step_s', 'images_per_s', 'time_ratio']].to_string(index=False)}")


main(
    dict(snakemake.params.settings),
    snakemake.config["device"],
    snakemake.config,
    snakemake.threads,
    snakemake.output[0],
)
