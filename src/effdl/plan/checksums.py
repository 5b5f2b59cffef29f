"""Checksums of reusable outputs: written by the job that produces them, verified before anything reuses them.

Cached rules (`cache: True`, reused by another clone through `snakemake --cache`) write `sha256.json` as one of
their outputs: for each other output (by its output name) the file name and sha256. Snakemake moves every
output of such a job into $SNAKEMAKE_OUTPUT_CACHE as `<hash>_<output name><suffix>`, so the sums travel with
the entry as `<hash>_sums.json`. `verify_cache` runs while the DAG is built (before Snakemake looks entries up):
an entry whose files no longer match their sums (edited, truncated, zeroed) is moved aside and so becomes a
miss, with a warning naming the file; `protect_cache` takes world-write permission off the entries this user
owns (Snakemake creates them 0666). Verified entries are remembered by their file status (size, times, inode)
in a memo, so a file is hashed again only after it changed. Torch-free.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path

SUMS_NAME = "sums"  # the output name of the checksum file in cached rules (cache entry <hash>_sums.json)
CORRUPT_SUFFIX = ".corrupt"


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_sums(sums_path: str | os.PathLike, outputs: Mapping[str, str | os.PathLike]) -> dict:
    """Write {output name: {name, sha256}} of the just-written `outputs` to `sums_path` (atomically)."""
    files = {role: {"name": Path(path).name, "sha256": file_sha256(path)} for role, path in outputs.items()}
    record = {"files": files, "written": time.strftime("%Y-%m-%dT%H:%M:%S")}
    sums_path = Path(sums_path)
    tmp = sums_path.with_name(f".{sums_path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, sums_path)
    return record


def mismatches(sums_path: str | os.PathLike, locate: Callable[[str, dict], Path]) -> list[str]:
    """The files listed in `sums_path` that are missing or differ from their sha256 (`locate(role, entry)` gives
    each file's path); an unreadable sums file counts as a mismatch of itself."""
    try:
        files = json.loads(Path(sums_path).read_text())["files"]
        entries = {role: (locate(role, entry), entry["sha256"]) for role, entry in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return [str(sums_path)]
    bad = []
    for path, expected in entries.values():
        try:
            if file_sha256(path) != expected:
                bad.append(str(path))
        except OSError:
            bad.append(str(path))
    return bad


def _status(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _cache_file(sums_path: Path, role: str, entry: dict) -> Path:
    """<hash>_<role><suffix> beside <hash>_sums.json (Snakemake's names for named outputs)."""
    prefix = sums_path.name[: -len(f"_{SUMS_NAME}.json")]
    return sums_path.with_name(f"{prefix}_{role}{Path(entry['name']).suffix}")


def verify_cache(
    cache_dir: str | os.PathLike, memo_path: str | os.PathLike, warn: Callable[[str], None] = print
) -> list[str]:
    """Check every entry of the between-workflow cache that carries sums; move a damaged entry's files aside
    (`<file>.corrupt`, so the entry is a miss and its job runs again) and warn naming the file. Returns the
    damaged files."""
    cache_dir, memo_path = Path(cache_dir), Path(memo_path)
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    fresh, damaged = {}, []
    for sums in sorted(cache_dir.glob(f"*_{SUMS_NAME}.json")):
        prefix = sums.name[: -len(f"_{SUMS_NAME}.json")]
        members = sorted(p for p in cache_dir.glob(f"{prefix}_*") if not p.name.endswith(CORRUPT_SUFFIX))
        try:
            status = {p.name: _status(p) for p in members}
        except OSError:
            continue
        if memo.get(prefix) == status:
            fresh[prefix] = status
            continue
        bad = mismatches(sums, lambda role, entry, s=sums: _cache_file(s, role, entry))
        if not bad:
            fresh[prefix] = status
            continue
        damaged += bad
        for path in members:
            with contextlib.suppress(OSError):
                path.rename(path.with_name(path.name + CORRUPT_SUFFIX))
        warn(
            f"WARNING: the cached file {', '.join(bad)} does not match the sha256 written when it was produced "
            f"({sums}); the entry is set aside as *{CORRUPT_SUFFIX} and counts as a miss: its job runs again."
        )
    with contextlib.suppress(OSError):
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        memo_path.write_text(json.dumps(fresh))
    return damaged


def protect_cache(cache_dir: str | os.PathLike) -> int:
    """Take world-write permission off the cache entries this user owns; returns how many changed."""
    changed = 0
    uid = os.getuid() if hasattr(os, "getuid") else None
    for path in Path(cache_dir).iterdir():
        with contextlib.suppress(OSError):
            st = path.lstat()
            if stat.S_ISREG(st.st_mode) and st.st_mode & stat.S_IWOTH and (uid is None or st.st_uid == uid):
                os.chmod(path, stat.S_IMODE(st.st_mode) & ~stat.S_IWOTH)
                changed += 1
    return changed


def cache_problem(cache_dir: str | os.PathLike | None) -> str | None:
    """Why the between-workflow cache cannot take new entries (missing, not a folder, not writable), or None."""
    if not cache_dir:
        return (
            "snakemake --cache is on but $SNAKEMAKE_OUTPUT_CACHE is not set, so nothing is cached. Fix: "
            "export SNAKEMAKE_OUTPUT_CACHE=/path/to/a/writable/folder, or leave out --cache."
        )
    path = Path(cache_dir)
    if not path.is_dir():
        return f"$SNAKEMAKE_OUTPUT_CACHE={path} is not a folder. Fix: mkdir -p {path}, or point it at one."
    if not os.access(path, os.W_OK | os.X_OK):
        return (
            f"$SNAKEMAKE_OUTPUT_CACHE={path} is not writable by this user, so the first finished data set or "
            f"training run would fail to be stored. Fix: chmod u+w {path} (or use a folder you can write), or "
            "leave out --cache."
        )
    return None
