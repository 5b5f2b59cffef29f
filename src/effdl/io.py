"""Atomic file writes and checked checkpoint loading, so no declared output is ever half-written."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import torch


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupt or of the wrong kind."""


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[Any]:
    """Open a temporary file beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    with atomic_write(path, "wb") as handle:
        torch.save(obj, handle)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Load a checkpoint with weights_only=True; raise CheckpointError naming the file and the fix."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} does not exist. Fix: build it first (snakemake {path}) or check the path."
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for truncated/corrupt zip archives
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated ({type(err).__name__}: {str(err).splitlines()[0][:200]}). "
            f"Fix: delete it and re-run the rule that produces it (snakemake --forcerun on its rule, "
            f"or just `rm {path}` and re-run snakemake)."
        ) from err
