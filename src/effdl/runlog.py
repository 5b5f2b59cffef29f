"""Job logging for workflow scripts: send stdout/stderr to the rule's log file and return a log function."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def open_log(path: str | Path) -> Callable[[str], None]:
    """Redirect this process's stdout and stderr to `path` (line-buffered) and return a timestamped logger."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a", buffering=1)
    sys.stdout = sys.stderr = handle

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
