"""Snakemake adapter for rule train_model: train one registered run, resuming from its epoch checkpoint.

Preemption: the engine saves the resume state atomically after every epoch, so a job killed at any
moment (SIGTERM from SLURM, or SIGKILL) loses at most the epoch in progress, and its re-run resumes
with results identical to an uninterrupted run. No mid-epoch state is saved: SIGTERM only logs the
stop and unwinds, so atomic writes in progress remove their temp files and no output is half-written.
"""

import contextlib
import signal
from pathlib import Path

from effdl.engine import resolve_device
from effdl.io import remove_stale_temps
from effdl.runlog import announce_device, open_log
from effdl.runs import run_training, write_run_outputs

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def stop_on_sigterm(resume_state: str) -> None:
    """On SIGTERM (SLURM preemption, scancel, timeout), log where training can resume and exit with 143."""

    def handler(signum, frame):
        with contextlib.suppress(RuntimeError):  # the signal may arrive while the log is being written
            log(
                f"received {signal.Signals(signum).name} (preemption, scancel or time limit): stopping. "
                f"{resume_state} holds the last completed epoch, if any; re-run snakemake to resume from it."
            )
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def main(spec: dict, data_path: str, device_name: str, resume_state: str, outputs, config: dict, threads: int):
    stop_on_sigterm(resume_state)
    for path in [resume_state, *outputs]:  # temp files of a process that was SIGKILLed mid-write
        for stale in remove_stale_temps(path):
            log(f"removed {stale}, left by an interrupted write")
    device = resolve_device(device_name)
    announce_device(device, log, threads)
    model, result, meta = run_training(spec, data_path, device, checkpoint_path=resume_state, log=log)
    write_run_outputs(
        spec,
        model,
        result,
        meta,
        device,
        config,
        iters_csv=outputs.iters,
        epochs_csv=outputs.epochs,
        summary_csv=outputs.summary,
        model_path=outputs.model,
    )
    Path(resume_state).unlink(missing_ok=True)  # the run is complete: its outputs supersede the resume state
    log(f"done in {result.total_time_s:.1f}s (diverged: {result.diverged})")


main(
    dict(snakemake.params.spec),
    snakemake.input.data,
    snakemake.params.device,
    snakemake.params.resume_state,
    snakemake.output,
    snakemake.config,
    snakemake.threads,
)
