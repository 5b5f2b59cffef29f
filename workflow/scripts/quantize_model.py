"""Snakemake adapter for rule quantize_model: evaluate one PTQ variant on every checkpoint of a network."""

from effdl.engine import resolve_device
from effdl.io import write_csv
from effdl.runlog import announce_device, open_log
from effdl.studies.quant import ptq_variant_rows

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(
    net: str,
    variant: str,
    checkpoint_keys,
    checkpoint_paths,
    data_path: str,
    params,
    config: dict,
    threads: int,
    out_csv: str,
) -> None:
    # the device comes from the config, not params: a device change re-runs nothing
    device = resolve_device(config["device"], jobs_per_device=config.get("gpu_jobs_per_device", 1), log=log)
    announce_device(device, log, threads)
    rows = ptq_variant_rows(
        dict(zip(checkpoint_keys, checkpoint_paths)),
        data_path,
        variant,
        net=net,
        batchnorm=params.batchnorm,
        rounding_seed=params.rounding_seed,
        eval_batch_size=params.eval_batch_size,
        device=device,
        config=config,
        log=log,
    )
    write_csv(rows, out_csv)


main(
    snakemake.wildcards.net,
    snakemake.wildcards.variant,
    snakemake.params.checkpoint_keys,
    snakemake.input.checkpoints,
    snakemake.input.data,
    snakemake.params,
    snakemake.config,
    snakemake.threads,
    snakemake.output[0],
)
