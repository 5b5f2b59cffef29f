"""Training progress, torch-free: elapsed/ETA text for epoch lines and a small JSON sidecar next to checkpoint.pt.

The engine rewrites `progress.json` (atomically) after every epoch and a heartbeat thread touches it while the
job lives, so `python -m effdl.status` can tell running, stopped and finished runs apart from the files alone
(also on a SLURM login node, through the shared file system) without importing torch.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

from effdl.safefiles import read_text_nofollow, replace_text

PROGRESS_FILE = "progress.json"
HEARTBEAT_S = 30.0  # a running job touches its sidecar this often; status calls it stopped after 4 missed beats


def progress_path(checkpoint_path: str | Path) -> Path:
    """The sidecar of a run's resume checkpoint: <run dir>/progress.json."""
    return Path(checkpoint_path).with_name(PROGRESS_FILE)


def format_duration(seconds: float | None) -> str:
    """'42s', '3m05s', '2h07m', '3d04h' (None or NaN -> '?')."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def eta_seconds(done: int, total: int, epoch_times: list[float]) -> float | None:
    """Remaining seconds: the mean of this process's epoch times so far x the epochs left (None before one)."""
    if not epoch_times:
        return None
    return (total - done) * sum(epoch_times) / len(epoch_times)


def timing_text(done: int, total: int, elapsed_s: float, epoch_times: list[float]) -> str:
    """'elapsed 1m02s, ETA 4m10s' for an epoch log line."""
    return f"elapsed {format_duration(elapsed_s)}, ETA {format_duration(eta_seconds(done, total, epoch_times))}"


def write_progress(path: str | Path, **fields) -> None:
    """Atomically replace the sidecar with `fields` plus the writer's pid, host and wall-clock time."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {**fields, "pid": os.getpid(), "host": socket.gethostname(), "updated": time.time()}
    replace_text(path, json.dumps(record, sort_keys=True, default=str))  # temp file + rename, never via a link


def read_progress(path: str | Path) -> dict | None:
    """The sidecar's record, or None when missing, unreadable or not a record (a reader may race a writer's
    rename; progress_problem says what is wrong with a file that is there)."""
    try:
        record = json.loads(read_text_nofollow(path))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def progress_problem(path: str | Path) -> str | None:
    """Why the sidecar at `path` holds no usable record (a symlink, bad JSON, a JSON list...), None when fine
    or missing: one line for `effdl status` instead of a traceback."""
    path = Path(path)
    fix = f"it is rewritten by the run's next epoch; or delete it (rm {path})"
    if path.is_symlink():
        return f"{path} is a symbolic link, not a progress record: {fix}"
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        return f"{path} is not readable JSON ({type(err).__name__}): {fix}"
    if not isinstance(record, dict):
        return f"{path} holds a JSON {type(record).__name__}, not a progress record (an object): {fix}"
    return None


def start_heartbeat(path: str | Path, interval_s: float = HEARTBEAT_S) -> threading.Event:
    """Touch `path` every `interval_s` from a daemon thread (stops with the process); set the event to stop it."""
    stop = threading.Event()

    def beat():
        while not stop.wait(interval_s):
            try:
                os.utime(path, follow_symlinks=False)
            except OSError:
                pass  # not written yet, or removed: the next epoch writes it

    threading.Thread(target=beat, name="effdl-progress-heartbeat", daemon=True).start()
    return stop
