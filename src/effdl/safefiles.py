"""Lock and state files opened without following symlinks and replaced atomically (torch-free).

A run's `trainer.lock` and `progress.json` live in a results folder that other people, or a careless `ln -s`,
can touch: opening them with O_NOFOLLOW means a symlink planted there is refused (naming the file and the fix)
instead of the write landing in the file it points to, and state files are written to a fresh temp file
(O_EXCL) and renamed over the old one, so a reader never sees half a record.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class SymlinkRefusedError(OSError):
    """A lock or state file is a symbolic link; following it would write into another file."""


def _refuse(path: Path) -> SymlinkRefusedError:
    target = os.readlink(path) if path.is_symlink() else "?"
    return SymlinkRefusedError(
        errno.ELOOP,
        f"{path} is a symbolic link (to {target}); effdl never writes its lock and state files through a link, which "
        f"would overwrite the file it points to. Fix: delete the link (rm {path}) and run again.",
    )


def open_nofollow(path: str | os.PathLike, flags: int, mode: int = 0o644) -> int:
    """os.open with O_NOFOLLOW (and O_CLOEXEC); a symlink at `path` raises SymlinkRefusedError naming it."""
    path = Path(path)
    try:
        return os.open(path, flags | NOFOLLOW | CLOEXEC, mode)
    except OSError as err:
        if err.errno == errno.ELOOP or (err.errno == errno.EMLINK and path.is_symlink()):
            raise _refuse(path) from None
        raise


def read_text_nofollow(path: str | os.PathLike) -> str:
    """The text of `path`, refusing a symlink."""
    with os.fdopen(open_nofollow(path, os.O_RDONLY), "r") as handle:
        return handle.read()


def replace_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to a fresh temp file beside `path` (O_EXCL: never through a link) and rename it onto `path`.

    The rename replaces whatever is at `path`, a symlink included, without touching the file a link points to.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()  # a leftover of this PID's earlier, killed process (or a planted link): never follow it
    fd = open_nofollow(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:  # also SIGTERM's SystemExit mid-write: leave no temp file behind
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
