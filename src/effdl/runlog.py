"""Job logging for workflow scripts: send stdout/stderr to the rule's log file and return a log function."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from effdl.io import write_text
from effdl.resources import report_uncaught

if TYPE_CHECKING:
    import torch

_IMPORTED = time.time()  # write_benchmark's start time where psutil is missing


def open_log(path: str | Path) -> Callable[[str], None]:
    """Redirect this process's stdout and stderr to `path` (line-buffered) and return a timestamped logger."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a", buffering=1)
    sys.stdout = sys.stderr = handle
    previous_hook = sys.excepthook

    def hook(exc_type, exc, tb):
        # a full disk or a read-only folder: one line naming the path and the fix, in this log and in
        # Snakemake's own output (the original stderr); the traceback still goes to the log
        if report_uncaught(exc_type, exc, tb, handle):
            traceback.print_exception(exc_type, exc, tb, file=handle)
            return
        previous_hook(exc_type, exc, tb)

    sys.excepthook = hook

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=handle, flush=True)

    return log


def announce_device(device: torch.device, log: Callable[[str], None], threads: int | None = None) -> None:
    """Say where a GPU rule runs, loudly when it falls back to the CPU."""
    import torch  # here, not at module level: plot and TeX jobs log too, and importing torch costs ~3 s a job

    if threads:
        torch.set_num_threads(threads)
    if device.type == "cpu":
        log(
            "GPU rule running on CPU (device: cpu, or no CUDA device available); "
            f"torch threads = {torch.get_num_threads()}"
        )
    else:
        from effdl.provenance import device_name

        log(f"running on {device_name(device)}")


def write_benchmark(path: str | Path) -> None:
    """Write a Snakemake-style benchmark TSV (s, h:m:s, max_rss, cpu_time) for this process so far.

    For rules that Snakemake caches between workflows, which may not have a `benchmark:` directive: the
    file is one of their outputs, so a cache hit brings along the time the original job took. The wall
    time counts from the process start (interpreter and imports included, as Snakemake's own).
    """
    import resource

    try:
        import psutil  # comes with Snakemake, which runs every job that calls this

        started = psutil.Process().create_time()
    except ImportError:
        started = _IMPORTED
    seconds = max(0.0, time.time() - started)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    hours, rest = divmod(int(seconds), 3600)
    row = [
        f"{seconds:.4f}",
        f"{hours}:{rest // 60:02d}:{rest % 60:02d}",
        f"{usage.ru_maxrss / 1024:.2f}",
        f"{usage.ru_utime + usage.ru_stime:.2f}",
    ]
    write_text("s\th:m:s\tmax_rss\tcpu_time\n" + "\t".join(row) + "\n", path)


def check_device(name: str) -> None:
    """At job start, before any GPU slot is claimed: RuntimeError naming config key `device` and the fix when
    torch cannot use that device on this host ('auto' always works)."""
    import torch

    fix = "Fix: use --config device=cpu (or device=auto), or run this job on a machine with that device."
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"config key 'device' is {name!r}, but torch finds no usable CUDA device here. {fix}")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise RuntimeError(f"config key 'device' is {name!r}, but this host has {count} CUDA device(s). {fix}")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"config key 'device' is {name!r}, but MPS is not available here. {fix}")
