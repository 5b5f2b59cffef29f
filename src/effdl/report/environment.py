"""The provenance appendix's machine and software facts, torch-free: package versions, CPU model, command line,
the resolved config as a listing, and path scrubbing so that no absolute path of the machine reaches the paper."""

from __future__ import annotations

import platform
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import yaml

from effdl.provenance import cpu_model

__all__ = ["command_line", "config_listing", "cpu_model", "listing_tex", "package_versions", "scrub_paths"]

PACKAGES = ("numpy", "pandas", "scipy", "matplotlib", "seaborn", "snakemake")


def package_versions(packages=PACKAGES) -> dict[str, str]:
    """{'python': '3.11.9', 'numpy': '2.4.6', ...} for the process that builds the report."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def scrub_paths(text: str, repo_dir: str | Path, home: str | Path | None = None) -> str:
    """Replace the repository's absolute path by '.' and the home directory by '~' (longest first)."""
    repo = str(Path(repo_dir).resolve())
    home = str(home if home is not None else Path.home())
    text = text.replace(repo + "/", "").replace(repo, ".")
    if home and home != "/":
        text = text.replace(home, "~")
    return text


def command_line(argv: list[str] | None, repo_dir: str | Path) -> str:
    """The snakemake command line that built the paper, program name without its directory, paths scrubbed."""
    if not argv:
        return "not recorded"
    words = [Path(argv[0]).name, *argv[1:]]
    return scrub_paths(" ".join(words), repo_dir)


def config_listing(config: dict, repo_dir: str | Path) -> str:
    """The resolved config as YAML (keys in the config's order), absolute paths scrubbed."""
    text = yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=None, width=88)
    return scrub_paths(text, repo_dir)


def listing_tex(text: str) -> str:
    """A verbatim block in \\scriptsize for a generated listing (no line may contain the end marker)."""
    if re.search(r"\\end\{verbatim\}", text):
        raise ValueError("a listing may not contain \\end{verbatim}")
    return "{\\scriptsize\n\\begin{verbatim}\n" + text.rstrip("\n") + "\n\\end{verbatim}\n}\n"


def _plain(value):
    """Snakemake's config is a dict of dicts and lists, but may hold its own mapping types: make them plain."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def interpreter() -> str:
    return f"Python {platform.python_version()} ({sys.implementation.name})"
