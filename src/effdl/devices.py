"""GPU slot claims: each torch job holds one (device, slot) lock for its lifetime, so N jobs on N GPUs never share one.

Torch-free. A slot is an exclusive `fcntl.flock` on `<lock_dir>/<host>-gpu<id>-slot<s>.lock`; the kernel drops
it when the holding process exits or is killed (SIGKILL included), so a crashed job never leaves a GPU
claimed. `gpu_jobs_per_device` slots per device let several small jobs share one large GPU. Slots are
filled slot 0 of every device first, then slot 1, ..., so jobs spread over the GPUs before they share one.

Inside a SLURM job the locks are scoped to the job (SLURM already gives each job its own GPUs).
Devices are the ones this process can see: `CUDA_VISIBLE_DEVICES` (indices, GPU-UUIDs or MIG ids, as SLURM
and users set it) or, when unset, 0..count-1. The returned index is the position in that list, i.e. the
`cuda:<index>` torch uses; lock names use the physical id and the host name, so jobs on different hosts of
a shared file system never contend, and two studies on one host share the host's GPUs fairly.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LOCK_DIR = ".snakemake/gpu-slots"


def visible_device_ids(count: int, env: Mapping[str, str] | None = None) -> list[str]:
    """The ids of the `count` devices this process can use: CUDA_VISIBLE_DEVICES' entries, else '0'..'count-1'."""
    env = os.environ if env is None else env
    raw = env.get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        return [str(i) for i in range(count)]
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    return ids[:count]


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


class LocksUnsupported(OSError):
    """The lock directory's file system refuses flock."""


@dataclass
class DeviceClaim:
    """One held (device, slot): `index` is the torch ordinal (cuda:<index>), `device_id` the physical id."""

    index: int
    device_id: str
    slot: int
    path: Path
    fd: int | None

    @property
    def torch_name(self) -> str:
        return f"cuda:{self.index}"

    def describe(self) -> str:
        return f"cuda:{self.index} (visible id {self.device_id}, slot {self.slot + 1})"

    def release(self) -> None:
        """Give the slot back (also happens automatically when the process ends)."""
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def lock_scope(env: Mapping[str, str] | None = None) -> str:
    """Which jobs compete for the same slots: those on this host, or, inside a SLURM job, only this job's
    processes (SLURM gives each job its own GPUs and renumbers them from 0, so jobs must not contend)."""
    env = os.environ if env is None else env
    job = env.get("SLURM_JOB_ID")
    return socket.gethostname() + (f"-slurm{job}" if job else "")


def slot_paths(device_ids: list[str], slots: int, lock_dir: str | Path, host: str | None = None) -> list[tuple]:
    """(index, device_id, slot, lock path) in claim order: slot 0 of every device, then slot 1, ..."""
    host = _safe(host or lock_scope())
    lock_dir = Path(lock_dir)
    return [
        (index, dev, slot, lock_dir / f"{host}-gpu{_safe(dev)}-slot{slot}.lock")
        for slot in range(slots)
        for index, dev in enumerate(device_ids)
    ]


def try_claim(device_ids: list[str], slots: int, lock_dir: str | Path, host: str | None = None) -> DeviceClaim | None:
    """Take the first free slot (non-blocking), or None when every slot of every device is held."""
    Path(lock_dir).mkdir(parents=True, exist_ok=True)
    for index, dev, slot, path in slot_paths(device_ids, slots, lock_dir, host):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        except OSError as err:  # a file system without flock (some NFS/Lustre mounts): ENOLCK, EOPNOTSUPP
            os.close(fd)
            raise LocksUnsupported(f"{lock_dir} does not support file locks ({err})") from err
        os.ftruncate(fd, 0)  # who holds it, for people looking at the lock directory
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}\n".encode())
        return DeviceClaim(index, dev, slot, path, fd)
    return None


def claim_device(
    count: int,
    slots: int = 1,
    lock_dir: str | Path = DEFAULT_LOCK_DIR,
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
    poll_s: float = 1.0,
    log: Callable[[str], None] | None = None,
    host: str | None = None,
) -> DeviceClaim:
    """Claim one slot of one of the `count` visible devices, waiting while all are held.

    `--resources gpu=K` with K = devices x slots keeps Snakemake from starting more jobs than there are
    slots, so a wait only happens when something else holds slots (another study on the same host, or
    a larger K); the job then waits rather than piling onto a busy GPU. Raises ValueError for
    slots < 1 or no visible device, TimeoutError after `timeout_s` (None = wait forever).
    """
    if slots < 1:
        raise ValueError(f"gpu_jobs_per_device must be >= 1, got {slots}. Fix: set gpu_jobs_per_device: 1 (or more)")
    ids = visible_device_ids(count, env)
    if not ids:
        raise ValueError(
            "no GPU is visible to this job (CUDA_VISIBLE_DEVICES is empty or no device was found). "
            "Fix: run with device: cpu, or make a GPU visible"
        )
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    announced = False
    while True:
        try:
            claim = try_claim(ids, slots, lock_dir, host)
        except LocksUnsupported as err:
            if log is not None:
                log(f"WARNING: {err}; using cuda:0 unclaimed (under SLURM each job gets its own GPU anyway)")
            return DeviceClaim(0, ids[0], 0, Path(lock_dir), None)
        if claim is not None:
            return claim
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"all {len(ids)} x {slots} GPU slots under {lock_dir} stayed held for {timeout_s} s")
        if log is not None and not announced:
            log(f"all {len(ids)} GPU(s) x {slots} slot(s) are held by other jobs (locks in {lock_dir}); waiting")
            announced = True
        time.sleep(poll_s)
