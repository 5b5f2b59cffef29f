"""Snakemake adapter for rule train_model: train one registered run (effdl.train_job), resuming from its checkpoint."""

from effdl.runlog import open_log
from effdl.train_job import TrainJob, train_job

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])

train_job(
    TrainJob(
        dict(snakemake.params.spec),
        snakemake.input.data,
        snakemake.config["device"],  # not a param: where a run executes does not change what it computes
        snakemake.params.resume_state,
        snakemake.output,
        snakemake.config,
        snakemake.threads,
        log,
    )
)
