"""Snakemake adapter for rule pack_quantized_model: real bit-packed checkpoints, reloaded and checked bit-exact."""

from effdl.execution import resolve_device
from effdl.io import write_csv
from effdl.runlog import announce_device, open_log
from effdl.studies.quant import packed_checkpoint_rows

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(net: str, checkpoint: str, data_path: str, params, outputs, config: dict, threads: int) -> None:
    # the device comes from the config, not params: a device change re-runs nothing
    device = resolve_device(config["device"], jobs_per_device=config.get("gpu_jobs_per_device", 1), log=log)
    announce_device(device, log, threads)
    packed_paths = dict(zip(params.bits, outputs.packed))
    rows = packed_checkpoint_rows(
        checkpoint,
        params.checkpoint_key,
        data_path,
        net=net,
        bits_list=params.bits,
        batchnorm=params.batchnorm,
        fp32_path=outputs.fp32,
        packed_paths=packed_paths,
        eval_batch_size=params.eval_batch_size,
        device=device,
        config=config,
        log=log,
    )
    write_csv(rows, outputs.sizes)


main(
    snakemake.wildcards.net,
    snakemake.input.checkpoint,
    snakemake.input.data,
    snakemake.params,
    snakemake.output,
    snakemake.config,
    snakemake.threads,
)
