"""Snakemake adapter for rule train_model: train one registered run, resuming from its epoch checkpoint."""

from pathlib import Path

from effdl.engine import resolve_device
from effdl.experiment import run_training, write_run_outputs
from effdl.runlog import announce_device, open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(spec: dict, data_path: str, device_name: str, resume_state: str, outputs, config: dict, threads: int):
    device = resolve_device(device_name)
    announce_device(device, log, threads)
    model, result, meta = run_training(spec, data_path, device, checkpoint_path=resume_state, log=log)
    write_run_outputs(spec, model, result, meta, device, config, iters_csv=outputs.iters,
                      epochs_csv=outputs.epochs, summary_csv=outputs.summary, model_path=outputs.model)
    Path(resume_state).unlink(missing_ok=True)  # the run is complete: its outputs supersede the resume state
    log(f"done in {result.total_time_s:.1f}s (diverged: {result.diverged})")


main(dict(snakemake.params.spec), snakemake.input.data, snakemake.params.device, snakemake.params.resume_state,
     snakemake.output, snakemake.config, snakemake.threads)
