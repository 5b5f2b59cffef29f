"""Resource errors in one line: disk full, read-only folders and missing permissions name the path and the fix.

A full disk used to surface as "enforce fail at inline_container.cc" (a checkpoint save), "Reference
undefined" (the paper) or a raw traceback; `ResourceError` says instead what ran out, where, and what to do.
`atomic_write` (effdl.io) and the zip and paper builders raise it, and `report_uncaught` (installed by
effdl.runlog.open_log) prints its message both to the rule's log and to Snakemake's own output. Torch-free.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from pathlib import Path

# errno -> (what happened, the fix, with {folder} for the folder that holds the path)
RESOURCE_ERRNOS = {
    errno.ENOSPC: ("no space left on the device", "free space on the disk that holds {folder} (df -h {folder})"),
    errno.EDQUOT: ("disk quota exceeded", "free space within your quota on {folder} (quota -s), or ask for more"),
    errno.EROFS: ("the file system is read-only", "run where {folder} is writable (--directory <writable folder>)"),
    errno.EACCES: ("permission denied", "make {folder} writable for this user (chmod u+w {folder}) or run elsewhere"),
    errno.EPERM: ("operation not permitted", "make {folder} writable for this user (chmod u+w {folder})"),
}
# How torch and TeX report the same thing in text (torch.save wraps the OSError into a RuntimeError).
TEXT_SIGNS = {
    errno.ENOSPC: re.compile(r"No space left on device|Errno 28\b|ENOSPC", re.IGNORECASE),
    errno.EDQUOT: re.compile(r"Disk quota exceeded|Errno 122\b", re.IGNORECASE),
    errno.EROFS: re.compile(r"Read-only file system|Errno 30\b", re.IGNORECASE),
}


class ResourceError(OSError):
    """A write failed for lack of a resource (space, quota, permission); str() is one line naming path and fix."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


def resource_errno(err: BaseException | None) -> int | None:
    """The resource errno behind `err` (itself, its cause/context chain, or a torch message quoting it)."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in RESOURCE_ERRNOS:
            return err.errno
        for code, sign in TEXT_SIGNS.items():
            if sign.search(str(err)):
                return code
        err = err.__cause__ or err.__context__
    return None


def describe(code: int, path: str | os.PathLike, doing: str = "writing") -> str:
    """'<path>: no space left on the device while writing it. Fix: free space on ...'"""
    path = Path(path)
    folder = path.parent if path.suffix or not path.is_dir() else path
    what, fix = RESOURCE_ERRNOS[code]
    return f"{path}: {what} while {doing} it. Fix: {fix.format(folder=folder or '.')}, then run snakemake again."


def as_resource_error(err: BaseException, path: str | os.PathLike, doing: str = "writing") -> ResourceError | None:
    """A ResourceError naming `path` when `err` comes from a lack of space, quota or permission, else None."""
    code = resource_errno(err)
    if code is None:
        return None
    return ResourceError(code, describe(code, path, doing), str(path))


def folder_problem(folder: str | os.PathLike) -> str | None:
    """One line when `folder` (existing) cannot take new files for this user, else None."""
    folder = Path(folder)
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        return describe(errno.EACCES, folder, "creating files in")
    return None


def report_uncaught(exc_type, exc, tb, log_handle=None) -> bool:
    """For sys.excepthook: print a resource error's one line to the log and to the original stderr (Snakemake's
    output), True when it was one (the traceback is then left out of Snakemake's output)."""
    if not isinstance(exc, ResourceError):
        path = getattr(exc, "filename", None)
        converted = as_resource_error(exc, path) if path else None
        if converted is None:
            return False
        exc = converted
    line = f"ERROR: {exc}"
    for stream in (log_handle, sys.__stderr__):
        if stream is not None:
            try:
                print(line, file=stream, flush=True)
            except (OSError, ValueError):  # the log itself may sit on the full disk
                pass
    return True
