"""A training job's lifecycle around effdl.runs: what rule train_model runs for one registered run.

Preemption: the engine saves the resume state atomically after every epoch, so a job killed at any
moment (SIGTERM from SLURM, or SIGKILL) loses at most the epoch in progress, and its re-run resumes
with results identical to an uninterrupted run. No mid-epoch state is saved: SIGTERM only logs the
stop and unwinds, so atomic writes in progress remove their temp files and no output is half-written.

Progress: results/runs/<part>/<run>/progress.json (effdl.progress) says starting / running (epoch k/N,
test accuracy, ETA, device) / done / failed / stopped; `python -m effdl.status` reads it.

One trainer per run: the job holds `<run dir>/trainer.lock` (a second trainer refuses, naming the holder's
PID) and stops (SIGTERM, as above) when the Snakemake process that started it dies. A finished run's
outputs are kept copied in `<run dir>/.last-good/`, so a later failed rebuild loses nothing (see
effdl.plan.lastgood). The device comes from the config, not `params`: changing it does not re-run a run.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from effdl.execution import resolve_compile, resolve_device, resolve_precision
from effdl.io import remove_stale_temps
from effdl.plan import lastgood
from effdl.plan.checksums import write_sums
from effdl.plan.work import compile_gain, sgd_impl_rates, spec_hash
from effdl.progress import progress_path, start_heartbeat, write_progress
from effdl.provenance import device_name
from effdl.runlock import RunLock, stop_with_parent
from effdl.runlog import announce_device, check_device, write_benchmark
from effdl.runs import run_training, write_run_outputs

if TYPE_CHECKING:
    import torch

# the outputs of rule train_model that its checksums.json covers
CHECKSUMMED = ("iters", "epochs", "summary", "model", "benchmark")


def stop_on_sigterm(resume_state: str, log: Callable[[str], None]) -> None:
    """On SIGTERM (SLURM preemption, scancel, timeout), log where training can resume and exit with 143."""

    def handler(signum, frame):
        with contextlib.suppress(RuntimeError):  # the signal may arrive while the log is being written
            log(
                f"received {signal.Signals(signum).name} (preemption, scancel or time limit): stopping. "
                f"{resume_state} holds the last completed epoch, if any; re-run snakemake to resume from it."
            )
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


@dataclass(frozen=True)
class TrainJob:
    """What rule train_model hands a job: the run's spec and data, the device setting, where its resume state and
    outputs go (`outputs`: attributes iters, epochs, summary, model, benchmark; iterating gives every path)."""

    spec: dict
    data_path: str
    device_setting: str
    resume_state: str
    outputs: Any
    config: dict
    threads: int
    log: Callable[[str], None]
    bench_dir: str = "results/bench"


def train_job(job: TrainJob) -> None:
    """Train one registered run as a workflow job: lock, stop with the parent, progress, last-good copies."""
    spec, resume_state, outputs, log = job.spec, job.resume_state, job.outputs, job.log
    stop_on_sigterm(resume_state, log)
    stop_with_parent()  # a killed Snakemake takes its trainer with it (SIGTERM, handled above)
    run_dir = Path(outputs.model).parent
    with RunLock(run_dir, log=log):
        try:
            _train_run(job)
        except Exception as err:  # not SIGTERM (SystemExit): an interrupted run resumes, it is not rolled back
            if lastgood.mark_failed(run_dir / ".last-good", f"{type(err).__name__}: {err}"):
                log(
                    f"this rebuild failed; the previous finished outputs are kept in {run_dir / '.last-good'} "
                    "and come back by themselves when this run's settings are changed back"
                )
            raise
        if getattr(outputs, "sums", None):  # the checksums a reuse is verified against (effdl.plan.checksums)
            write_sums(outputs.sums, {role: getattr(outputs, role) for role in CHECKSUMMED})
        lastgood.save(list(outputs), spec, run_dir / ".last-good")


def measured_choices(bench_dir: str | Path, train: dict, device: torch.device) -> tuple[float | None, dict | None]:
    """(cpu_compile_gain, sgd_rates) for effdl.engine.train from the bench's CSVs in `bench_dir`: the measured gain
    of compiling, and the SGD step rates measured in the compile state the run will have (compiling changes which
    step is fastest); (None, None) off a CPU or without measurements."""
    if device.type != "cpu":
        return None, None
    precision = resolve_precision(train.get("precision", "auto"), device)
    channels_last = train.get("channels_last", False)
    gain = compile_gain(bench_dir, precision, channels_last)
    compiled = resolve_compile(train.get("compile", False), device, train["epochs"], gain)
    return gain, sgd_impl_rates(bench_dir, precision, channels_last, compiled=compiled)


def _train_run(job: TrainJob) -> None:
    spec, resume_state, outputs, config, log = job.spec, job.resume_state, job.outputs, job.config, job.log
    sidecar = progress_path(resume_state)
    for path in [resume_state, sidecar, *outputs]:  # temp files of a process that was SIGKILLed mid-write
        for stale in remove_stale_temps(path):
            log(f"removed {stale}, left by an interrupted write")
    ident = {"run": f"{spec['part']}/{spec['run']}", "spec_hash": spec_hash(spec), "epochs": spec["train"]["epochs"]}
    write_progress(sidecar, state="starting", epoch=0, **ident)
    start_heartbeat(sidecar)
    last = {"epoch": 0}
    try:
        check_device(job.device_setting)  # a clear message before any GPU slot is claimed
        device = resolve_device(job.device_setting, jobs_per_device=config.get("gpu_jobs_per_device", 1), log=log)
        announce_device(device, log, job.threads)
        label = device_name(device)
        write_progress(sidecar, state="starting", epoch=0, device=label, **ident)

        def progress(record: dict) -> None:
            last.update(record)
            write_progress(sidecar, **{**record, **ident, "device": label})

        gain, sgd_rates = measured_choices(job.bench_dir, spec["train"], device)
        model, result, meta = run_training(
            spec,
            job.data_path,
            device,
            checkpoint_path=resume_state,
            log=log,
            progress=progress,
            cpu_compile_gain=gain,
            sgd_rates=sgd_rates,
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
    write_benchmark(outputs.benchmark)
