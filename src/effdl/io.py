"""Atomic file writes and checked checkpoint loading, so no declared output is ever half-written."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from effdl.plan.checksums import file_sha256 as sha256_file  # noqa: F401 (one home; re-exported)
from effdl.resources import as_resource_error

if TYPE_CHECKING:
    import torch


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupt or of the wrong kind."""


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[Any]:
    """Open a temporary file beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:  # a read-only or full folder: say so in one line (effdl.resources)
        raise as_resource_error(err, path) or err from err
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual permissions
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        # disk full mid-write (torch.save reports it as "enforce fail at inline_container.cc"): one line instead
        resource = as_resource_error(err, path) if isinstance(err, Exception) else None
        if resource is not None:
            raise resource from err
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Delete temp files that atomic_write left beside `path` when its process was killed (SIGKILL)."""
    path = Path(path)
    stale = sorted(path.parent.glob(f".{glob.escape(path.name)}.*.tmp")) if path.parent.is_dir() else []
    for tmp in stale:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return stale


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a DataFrame as CSV atomically (no index column)."""
    with atomic_write(path) as handle:
        df.to_csv(handle, index=False)


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write a text file atomically."""
    with atomic_write(path) as handle:
        handle.write(text)


def save_checkpoint(obj: Any, path: str | os.PathLike) -> None:
    """torch.save `obj` atomically (temp file + rename)."""
    import torch  # lazily, as in load_checkpoint: CSV/TeX-only jobs use this module and must start fast

    with atomic_write(path, "wb") as handle:
        torch.save(obj, handle)


def _reason(err: Exception) -> str:
    """One readable line from torch's (long, multi-paragraph, ANSI-coloured) load error."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation", 1)[0]
    text = " ".join(text.split()).split(". ")[0]  # the first sentence says what is wrong
    return f"{type(err).__name__}: {text[:200]}" if text else type(err).__name__


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu", *, mmap: bool = False) -> Any:
    """Load a checkpoint with weights_only=True; raise CheckpointError naming the file and the fix.

    `mmap`: map the tensors' storage from the file instead of reading it (torch.load(mmap=True)): a packed data set
    of hundreds of MB opens in milliseconds and pages in as it is used. Safe because every writer here replaces
    files by rename (atomic_write), never in place, so a mapped file's contents never change under a reader.
    """
    import torch  # lazily: importing torch costs ~3 s, and most jobs using this module write only CSV/TeX

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} does not exist. Fix: build it first (snakemake {path}) or check the path."
        )
    if mmap:
        try:
            return torch.load(path, map_location=map_location, weights_only=True, mmap=True)
        except Exception:  # a legacy (non-zip) file cannot be mapped: read it whole, with the errors below
            pass
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for truncated/corrupt zip archives
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if refused:
            raise CheckpointError(
                f"checkpoint {path} holds a Python object ({refused.group(1)}) that loading with weights_only=True "
                "refuses, because unpickling arbitrary classes can run code; effdl checkpoints hold only tensors "
                f"and plain containers. Fix: re-create it with the rule that produces it (`rm {path}` and re-run "
                "snakemake); load it with weights_only=False only if you trust its source."
            ) from err
        raise CheckpointError(
            f"checkpoint {path} is corrupt, truncated or not a torch checkpoint ({_reason(err)}). "
            f"Fix: delete it and re-run the rule that produces it (snakemake --forcerun on its rule, "
            f"or just `rm {path}` and re-run snakemake)."
        ) from err
