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

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", repo_dir, *args], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "--short=12", "HEAD") + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else platform.processor(), else 'unknown'."""
    import platform

    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def accelerator_stack() -> dict[str, str]:
    """CUDA and cuDNN versions of this torch build ('none' on a CPU-only build)."""
    import torch

    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"cuda_version": str(torch.version.cuda or "none"), "cudnn_version": str(cudnn or "none")}


def device_name(device: torch.device | str) -> str:
    """A human-readable device name: 'cuda:1 NVIDIA H200' (ordinal and model) on CUDA, 'cpu' otherwise."""
    import torch  # lazily: report jobs import this module for git_commit and must start fast

    device = torch.device(device)
    if device.type == "cuda":
        index = torch.cuda.current_device() if device.index is None else device.index
        return f"cuda:{index} {torch.cuda.get_device_name(index)}"
    return device.type


# Provenance columns that hold hexadecimal digests: text, never numbers (a config hash such as '123456e78901'
# reads as a float, and one with a large exponent as inf)
DIGEST_COLUMNS = ("git_commit", "config_hash", "data_sha256")


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
        "cpu_model": cpu_model(),
        **accelerator_stack(),
    }
