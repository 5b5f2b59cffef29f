"""Snakemake adapter for rule train_toy_transformer: train the transformer to reverse digit sequences (one seed)."""

import dataclasses

import pandas as pd

from effdl.execution import resolve_device
from effdl.io import save_checkpoint, write_csv
from effdl.provenance import provenance
from effdl.runlog import announce_device, open_log
from effdl.studies.seq2seq import ToyTaskConfig, train_reversal

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(settings: dict, seed: int, device_name: str, config: dict, threads: int, outputs) -> None:
    cfg = ToyTaskConfig.from_dict({**settings, "seed": seed})
    device = resolve_device(device_name, jobs_per_device=snakemake.config.get("gpu_jobs_per_device", 1), log=log)
    announce_device(device, log, threads)
    result = train_reversal(cfg, device, log=log)
    prov = provenance(device, seed, config, {"source": "synthetic digit reversal (generated per step)"})
    write_csv(pd.DataFrame([{**prov, **row} for row in result.history]), outputs.history)
    write_csv(pd.DataFrame([{**prov, **dataclasses.asdict(cfg), **result.final}]), outputs.summary)
    state = {k: v.detach().cpu() for k, v in result.model.state_dict().items()}
    save_checkpoint({"state_dict": state, "config": dataclasses.asdict(cfg), "provenance": prov}, outputs.model)
    log(f"greedy token accuracy {result.final['greedy_token_acc']:.2f}% after {result.train_time_s:.1f} s")


main(
    dict(snakemake.params.toy),
    int(snakemake.wildcards.seed),
    snakemake.config["device"],
    snakemake.config,
    snakemake.threads,
    snakemake.output,
)
