"""Snakemake adapter for rule train_model: train one registered run, resuming from its epoch checkpoint.

Preemption: the engine saves the resume state atomically after every epoch, so a job killed at any
moment (SIGTERM from SLURM, or SIGKILL) loses at most the epoch in progress, and its re-run resumes
with results identical to an uninterrupted run. No mid-epoch state is saved: SIGTERM only logs the
stop and unwinds, so atomic writes in progress remove their temp files and no output is half-written.

Progress: results/runs/<part>/<run>/progress.json (effdl.progress) says starting / running (epoch k/N,
test accuracy, ETA, device) / done / failed / stopped; `python -m effdl.status` reads it.
"""

import contextlib
import signal
from pathlib import Path

from effdl.engine import resolve_device, resolve_precision
from effdl.io import remove_stale_temps
from effdl.plan.work import compile_gain, spec_hash
from effdl.progress import progress_path, start_heartbeat, write_progress
from effdl.provenance import device_name
from effdl.runlog import announce_device, open_log
from effdl.runs import run_training, write_run_outputs

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])
BENCH_DIR = "results/bench"


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


def main(spec: dict, data_path: str, device_setting: str, resume_state: str, outputs, config: dict, threads: int):
    stop_on_sigterm(resume_state)
    sidecar = progress_path(resume_state)
    for path in [resume_state, sidecar, *outputs]:  # temp files of a process that was SIGKILLed mid-write
        for stale in remove_stale_temps(path):
            log(f"removed {stale}, left by an interrupted write")
    ident = {"run": f"{spec['part']}/{spec['run']}", "spec_hash": spec_hash(spec), "epochs": spec["train"]["epochs"]}
    write_progress(sidecar, state="starting", epoch=0, **ident)
    start_heartbeat(sidecar)
    last = {"epoch": 0}
    try:
        device = resolve_device(device_setting, jobs_per_device=config.get("gpu_jobs_per_device", 1), log=log)
        announce_device(device, log, threads)
        label = device_name(device)
        write_progress(sidecar, state="starting", epoch=0, device=label, **ident)

        def progress(record: dict) -> None:
            last.update(record)
            write_progress(sidecar, **{**record, **ident, "device": label})

        gain = None
        if device.type == "cpu":
            precision = resolve_precision(spec["train"].get("precision", "auto"), device)
            gain = compile_gain(BENCH_DIR, precision, spec["train"].get("channels_last", False))
        model, result, meta = run_training(
            spec, data_path, device, checkpoint_path=resume_state, log=log, progress=progress, cpu_compile_gain=gain
        )
        if result.compiled:
            log("torch.compile: on (engine.compile)")
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
    except BaseException as err:
        stopped = isinstance(err, (SystemExit, KeyboardInterrupt))
        with contextlib.suppress(Exception):
            write_progress(
                sidecar,
                **{
                    **last,
                    **ident,
                    "state": "stopped" if stopped else "failed",
                    "error": f"{type(err).__name__}: {err}"[:300],
                },
            )
        raise
    Path(resume_state).unlink(missing_ok=True)  # the run is complete: its outputs supersede the resume state
    final = result.epochs[-1] if result.epochs else {}
    write_progress(
        sidecar,
        **{
            **last,
            **ident,
            "state": "done",
            "epoch": final.get("epoch", 0),
            "test_acc": final.get("test_acc"),
            "eta_s": 0.0,
            "diverged": result.diverged,
            "elapsed_s": result.total_time_s,
            "device": label,
        },
    )
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
