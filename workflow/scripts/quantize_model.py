"""Snakemake adapter for rules quantize_model_<net>: evaluate every PTQ variant of a network on all its checkpoints,
in one process, and write one CSV per variant."""

from effdl.execution import resolve_device
from effdl.io import write_csv
from effdl.runlog import announce_device, open_log
from effdl.studies.quant import ptq_network_rows

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(
    net: str,
    variants,
    checkpoint_keys,
    checkpoint_paths,
    data_path: str,
    params,
    config: dict,
    threads: int,
    out_csvs,
) -> None:
    # the device comes from the config, not params: a device change re-runs nothing
    device = resolve_device(config["device"], jobs_per_device=config.get("gpu_jobs_per_device", 1), log=log)
    announce_device(device, log, threads)
    tables = ptq_network_rows(
        dict(zip(checkpoint_keys, checkpoint_paths)),
        data_path,
        list(variants),
        net=net,
        batchnorm=params.batchnorm,
        rounding_seed=params.rounding_seed,
        eval_batch_size=params.eval_batch_size,
        device=device,
        config=config,
        log=log,
    )
    for variant, out_csv in zip(variants, out_csvs, strict=True):  # the rule lists outputs in variant order
        write_csv(tables[variant], out_csv)


main(
    snakemake.params.net,
    snakemake.params.variants,
    snakemake.params.checkpoint_keys,
    snakemake.input.checkpoints,
    snakemake.input.data,
    snakemake.params,
    snakemake.config,
    snakemake.threads,
    list(snakemake.output),
)
