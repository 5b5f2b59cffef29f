"""Checks while the DAG is built that warn or stop before expensive work: the `--cache` option and its folder,
a working directory outside the repository, files dated in the future. Torch-free; the messages name the path
and the fix (docs/recovery.md lists every check and when it runs)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

RULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FUTURE_SLACK_S = 60.0  # clocks of a shared file system's hosts differ by seconds, not minutes


def cache_option_problem(rules: Iterable[str] | None) -> str | None:
    """`--cache` takes rule names; a file given there (`--cache results/data/mnist.pt`) would silently be taken
    as a rule name and the whole default target would run."""
    if not rules:
        return None
    paths = [r for r in rules if not RULE_NAME.match(r)]
    if not paths:
        return None
    return (
        f"--cache takes rule names, and {', '.join(repr(p) for p in paths)} is not one: Snakemake would take it as "
        "a rule name and run the whole default target. Fix: give the targets after `--`, e.g. "
        f"`snakemake --cache -- {paths[0]}` (--cache alone caches every cacheable rule: prepare_data, train_model)."
    )


def outside_repository(workdir: str | Path, repo: str | Path) -> str | None:
    """A warning when the working directory (`--directory`) lies outside the repository: provenance reads
    the git commit from the working directory, so every row would record git_commit 'unknown'."""
    workdir, repo = Path(workdir).resolve(), Path(repo).resolve()
    if workdir.is_relative_to(repo):
        return None
    return (
        f"the working directory {workdir} is outside the repository {repo}: results made here record "
        "git_commit 'unknown' (or another checkout's commit), so the paper cannot name the code that made them. "
        "Fix: use a folder inside the repository, e.g. --directory variants/<name>."
    )


def future_files(paths: Iterable[str | Path], now: float | None = None) -> list[tuple[Path, float]]:
    """(path, mtime) of the files dated more than a minute in the future: Snakemake sees everything made from
    them as older than its input and reruns it on every invocation."""
    now = time.time() if now is None else now
    found = []
    for path in paths:
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            continue
        if mtime > now + FUTURE_SLACK_S:
            found.append((Path(path), mtime))
    return found


def future_warning(found: list[tuple[Path, float]]) -> str | None:
    """One warning naming the files dated in the future and the fix."""
    if not found:
        return None
    shown = ", ".join(f"{p} ({time.strftime('%Y-%m-%d %H:%M', time.localtime(t))})" for p, t in found[:5])
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    return (
        f"{len(found)} file(s) have a modification time in the future: {shown}{more}. Snakemake treats every "
        "output made from them as out of date, so it reruns those jobs on every run. Fix: check the clock, then "
        "`touch` these files (sets their time to now)."
    )


def tree_files(*roots: str | Path, suffixes: tuple[str, ...] | None = None) -> list[Path]:
    """The files under `roots` (all, or those ending in `suffixes`), skipping hidden folders such as .snakemake."""
    found = []
    for root in map(Path, roots):
        if root.is_file():
            found.append(root)
            continue
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found += [Path(folder, f) for f in files if suffixes is None or f.endswith(suffixes)]
    return found
