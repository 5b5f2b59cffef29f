"""Provenance columns carried by every CSV row: seed, device, versions, git commit, config hash, data."""

from __future__ import annotations

import functools
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from effdl.plan.config import config_hash

if TYPE_CHECKING:
    import torch


@functools.cache
def git_commit(repo_dir: str = ".") -> str:
    """The checkout's commit (with '-dirty' when tracked files changed), or 'unknown' outside git."""
    try:
        commit = subprocess.run(
            ["git", "-C", repo_dir, "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", repo_dir, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def device_name(device: torch.device | str) -> str:
    """A human-readable device name: the GPU model on CUDA, 'cpu' otherwise."""
    import torch  # lazily: report jobs import this module for git_commit and must start fast

    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def provenance(
    device: torch.device | str,
    seed: int | None,
    config: dict,
    data_meta: dict | None = None,
    repo_dir: str | Path = ".",
) -> dict:
    """The provenance columns for one job's rows."""
    import torch

    data_meta = data_meta or {}
    return {
        "seed": seed,
        "device": device_name(device),
        "torch_version": str(torch.__version__),
        "torchvision_version": _version("torchvision"),
        "git_commit": git_commit(str(repo_dir)),
        "config_hash": config_hash(config),
        "data_source": data_meta.get("source", ""),
        "data_sha256": data_meta.get("sha256", ""),
    }
