"""One trainer per run, and no trainer outliving its Snakemake: a lock file in the run's directory, parent-death stop.

`RunLock(run_dir)` holds an exclusive `flock` on `<run_dir>/trainer.lock` for the life of the process and
writes its PID, host and start time there. The kernel drops the lock when the process dies (even on
SIGKILL), so a lock left by a dead trainer is taken over; a live holder makes a second trainer refuse with
`RunLockedError` naming its PID. Where the file system has no `flock` (some network file systems), the PID
in the file is checked instead (on the same host). `stop_with_parent()` makes the kernel send SIGTERM to this
process when its parent (the Snakemake process that started the job) dies, so a killed Snakemake leaves
no trainer behind (Linux `prctl(PR_SET_PDEATHSIG)`; elsewhere a thread that watches the parent PID).
The lock file is opened with O_NOFOLLOW: a symlink in its place is refused, never written through.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from effdl.safefiles import open_nofollow, read_text_nofollow

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None

LOCK_NAME = "trainer.lock"


class RunLockedError(RuntimeError):
    """Another live process is training this run."""


def pid_alive(pid: int) -> bool:
    """True when a process with this PID exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_holder(path: str | Path) -> dict:
    """{'pid', 'host', 'since'} from a lock file ({} when it is missing or unreadable)."""
    try:
        pid, host, since = read_text_nofollow(path).split()[:3]
        return {"pid": int(pid), "host": host, "since": since}
    except (OSError, ValueError):
        return {}


class RunLock:
    """Exclusive lock on one run's directory for this process; use as a context manager or call acquire()."""

    def __init__(self, run_dir: str | Path, log: Callable[[str], None] = print):
        self.path = Path(run_dir) / LOCK_NAME
        self.log = log
        self.handle = None

    def _refuse(self, holder: dict) -> RunLockedError:
        who = f"PID {holder.get('pid', '?')} on {holder.get('host', '?')} (since {holder.get('since', '?')})"
        return RunLockedError(
            f"run directory {self.path.parent} is locked by a trainer that is still running: {who}, lock file "
            f"{self.path}. Two trainers on one run would overwrite each other's checkpoint and outputs. Fix: "
            f"wait for it to finish, or stop it (kill {holder.get('pid', '<pid>')}, or scancel its SLURM job), "
            "then run snakemake again."
        )

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # never through a symlink: a planted `trainer.lock -> somefile` would have the PID written into somefile
        handle = os.fdopen(open_nofollow(self.path, os.O_RDWR | os.O_CREAT), "r+")
        previous = read_holder(self.path)
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                raise self._refuse(previous) from None
            except OSError as err:  # no flock on this file system: fall back to the PID in the file
                if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                    raise
                if (
                    previous
                    and previous["pid"] != os.getpid()
                    and (previous["host"] != socket.gethostname() or pid_alive(previous["pid"]))
                ):
                    handle.close()
                    raise self._refuse(previous) from None
        if previous and previous.get("pid") != os.getpid():
            self.log(
                f"took over the lock {self.path} of PID {previous['pid']} on {previous['host']}, which no longer runs"
            )
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {socket.gethostname()} {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
        handle.flush()
        self.handle = handle
        return self

    def release(self) -> None:
        """Remove the lock file (while still holding it) and drop the lock."""
        if self.handle is None:
            return
        with contextlib.suppress(FileNotFoundError):
            if read_holder(self.path).get("pid") == os.getpid():
                self.path.unlink()
        self.handle.close()
        self.handle = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def stop_with_parent(sig: int = signal.SIGTERM, poll_s: float = 1.0) -> int:
    """Have `sig` delivered to this process when its parent dies; returns the parent PID watched.

    If the parent is already gone (it died before this call), the signal is sent at once.
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        if libc.prctl(pr_set_pdeathsig, int(sig), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    else:

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(poll_s)
            os.kill(os.getpid(), sig)

        threading.Thread(target=watch, name="stop-with-parent", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the kernel was told to watch it
        os.kill(os.getpid(), sig)
    return parent
