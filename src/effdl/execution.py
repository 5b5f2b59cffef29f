"""How a run executes on its device: the device (and its GPU slot), the precision and its autocast, torch.compile,
and the CPU threads and denormal flushing of small-batch steps. effdl.engine trains with these; jobs and the bench
resolve the same settings through them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import torch

from effdl.devices import DEFAULT_LOCK_DIR, DeviceClaim, claim_device
from effdl.plan.spec import SINGLE_THREAD_MAX_BATCH

# engine.compile: auto compiles runs of at least this many epochs (compiling costs tens of seconds once)
COMPILE_MIN_EPOCHS = 10
# ... and on a CPU only when the benchmark measured at least this training speed-up from compiling
COMPILE_MIN_CPU_GAIN = 1.05
# the GPU slots this process holds (released when it exits); see effdl.devices
_CLAIMS: list[DeviceClaim] = []


def resolve_device(
    name: str = "auto",
    *,
    jobs_per_device: int | None = None,
    lock_dir: str | Path = DEFAULT_LOCK_DIR,
    log: Callable[[str], None] | None = None,
) -> torch.device:
    """'auto' -> CUDA when present, else CPU; otherwise the named device.

    With `jobs_per_device` (a workflow job), 'auto' and 'cuda' claim one free (GPU, slot) among the visible
    GPUs for the rest of this process's life (effdl.devices), so concurrent jobs spread over all GPUs with at
    most `jobs_per_device` on each; 'cuda:N' is taken as given (no claim).
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name != "cuda" or jobs_per_device is None:
        return torch.device(name)
    if _CLAIMS:
        return torch.device(_CLAIMS[0].torch_name)
    claim = claim_device(torch.cuda.device_count(), jobs_per_device, lock_dir, log=log)
    _CLAIMS.append(claim)
    torch.cuda.set_device(claim.index)
    if log is not None:
        log(f"claimed GPU slot {claim.describe()} ({claim.path})")
    return torch.device(claim.torch_name)


def device_claim() -> DeviceClaim | None:
    """The GPU slot this process claimed through resolve_device, if any."""
    return _CLAIMS[0] if _CLAIMS else None


def resolve_compile(setting: bool | str, device: torch.device, epochs: int, cpu_gain: float | None = None) -> bool:
    """'auto' -> compile on CUDA for runs of >= COMPILE_MIN_EPOCHS epochs; on a CPU only when the benchmark's
    measured training speed-up from compiling (`cpu_gain`, None = not measured) is at least COMPILE_MIN_CPU_GAIN."""
    if setting != "auto":
        return bool(setting)
    if epochs < COMPILE_MIN_EPOCHS:
        return False
    if device.type == "cuda":
        return True
    return device.type == "cpu" and cpu_gain is not None and cpu_gain >= COMPILE_MIN_CPU_GAIN


def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 arithmetic in hardware: AMX tiles (Xeon) or AVX-512 BF16 (Zen 4, Cooper Lake)."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> bf16 on CUDA and on CPUs with native bf16 (AMX or AVX-512 BF16), else fp32.

    Without native bf16, oneDNN emulates it and a step is ~10x slower than fp32 (measured on an AVX2-only EPYC);
    with AVX-512 BF16 (a 2-core Zen 4) bf16 + channels_last trains the ConvNet 1.7x faster than fp32 + channels_last.
    """
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16"
    return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"


def autocast(precision: str, device: torch.device):
    """The autocast context for a resolved precision (a no-op for fp32)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def step_threads(batch_size: int, device: torch.device):
    """Run the training steps of batches up to SINGLE_THREAD_MAX_BATCH images on one CPU thread.

    Each operation of such a step takes microseconds; splitting it over OpenMP threads costs a fork/join per
    operation, and when another job holds the other core every join waits for a descheduled thread (the MNIST
    MLP at batch 1 on the loaded 2-core machine: about 70-140 ms a step on 2 threads, 2-5 ms on 1). The results
    do not change: tests/test_engine_small_batch.py checks batch 1 and 3 against a plain loop on 2 threads."""
    before = torch.get_num_threads()
    if device.type != "cpu" or batch_size > SINGLE_THREAD_MAX_BATCH or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def flush_denormals(batch_size: int, device: torch.device):
    """Flush denormal floats to zero during the training steps of batches up to SINGLE_THREAD_MAX_BATCH images
    on a CPU (which step_threads runs on this one thread: the flag is per thread); off again afterwards.

    At batch 1 a hidden ReLU unit that is off for the sample gets an exactly zero gradient (its row of the first
    layer, its column of the second); for a unit that stays off over a long stretch of samples Adam's first moment
    decays by 0.9 a step into denormal numbers, whose x86 arithmetic is ~100x slower. On real MNIST 21 % of the
    MLP's first moments were denormal after 8,000 steps, and a step took 0.93 ms against 0.72 ms flushed (one
    thread, shared machine). A moment below 1.2e-38 moves no weight (its update, ~1e-34, is below a weight's
    last bit), so the weights stay bit-identical (tests/test_engine_small_batch.py; the CPU tier's three MNIST
    models reach the unflushed runs' test accuracies, 97.13 / 97.09 / 97.18 %)."""
    if device.type != "cpu" or batch_size > SINGLE_THREAD_MAX_BATCH:
        yield
        return
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)  # torch's default; torch offers no way to read the flag first
