"""Finished outputs that survive a failed rebuild: a hard-linked copy per job, restored when the same job is asked for.

Snakemake deletes a job's outputs before it re-runs the job, so a rebuild that fails (a changed setting that
only the job rejects, a lost GPU, a bug) would lose a finished result. After a successful job, `save` hard-links
its outputs into a `.last-good` folder (no extra disk space) with `key.json`, the job's description (the run
spec, the data source). When a rebuild of that job fails, `mark_failed` records it there. While the next
run builds its DAG, `restore` links the outputs back if they are all missing, the last attempt failed, and the
job asked for is the same as the saved one (e.g. the setting was changed back), so it is not recomputed;
Snakemake's records of the kept outputs are copied along (`keep_job_records`, while they are in place) and
put back (`restore_job_records`), so a restored output carries the record of the job that made it.
Torch-free: workflow/rules/common.smk calls `restore` while Snakemake builds the DAG.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import time
from pathlib import Path

KEY_FILE = "key.json"
FAILED_FILE = "failed.json"


def canonical(key: object) -> str:
    """The JSON text two equal keys share (sorted keys, tuples as lists)."""
    return json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)


def _link(src: Path, dst: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:  # no hard links here (another file system, some network file systems): copy
        shutil.copy2(src, dst)


def save(outputs, key: object, store: str | Path) -> None:
    """Keep `outputs` (just written, complete) in `store` under their file names, with `key`; replaces any earlier."""
    store = Path(store)
    outputs = [Path(p) for p in outputs]
    names = [p.name for p in outputs]
    if len(set(names)) != len(names):
        raise ValueError(f"outputs kept in one .last-good folder need distinct file names: {names}")
    fresh = store.with_name(store.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    for path in outputs:
        _link(path, fresh / path.name)
    (fresh / KEY_FILE).write_text(canonical(key) + "\n")
    shutil.rmtree(store, ignore_errors=True)
    fresh.rename(store)


def mark_failed(store: str | Path, error: str) -> bool:
    """Record that a rebuild of the kept job failed (its outputs are gone); False when nothing is kept."""
    store = Path(store)
    if not (store / KEY_FILE).is_file():
        return False
    (store / FAILED_FILE).write_text(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "error": error[:2000]}))
    return True


def restore(outputs, key: object, store: str | Path) -> bool:
    """Link the kept outputs back when all `outputs` are missing, the last rebuild failed and `key` matches."""
    store = Path(store)
    outputs = [Path(p) for p in outputs]
    if any(p.exists() for p in outputs) or not (store / FAILED_FILE).is_file():
        return False
    try:
        if (store / KEY_FILE).read_text().strip() != canonical(key):
            return False
    except OSError:
        return False
    kept = [store / p.name for p in outputs]
    if not all(k.is_file() for k in kept):
        return False
    for src, dst in zip(kept, outputs):
        dst.parent.mkdir(parents=True, exist_ok=True)
        _link(src, dst)
    (store / FAILED_FILE).unlink()
    return True


def _record_name(path) -> str:
    """Snakemake's file backend names an output's record by the base64 of its path (.snakemake/metadata/<name>)."""
    return base64.b64encode(str(path).encode()).decode()


def keep_job_records(outputs, store: str | Path, snakemake_dir: str | Path = ".snakemake") -> None:
    """While the outputs kept in `store` are still in place (the same files), copy Snakemake's records of them
    into `store`/records, so that a restore can give them back the record of the job that made them."""
    store, records = Path(store), Path(snakemake_dir) / "metadata"
    outputs = [Path(p) for p in outputs]
    try:
        if not all(os.path.samefile(p, store / p.name) for p in outputs):
            return
    except OSError:
        return
    (store / "records").mkdir(exist_ok=True)
    for path in outputs:
        record, kept = records / _record_name(path), store / "records" / path.name
        with contextlib.suppress(OSError):
            data = record.read_bytes()
            if not kept.is_file() or kept.read_bytes() != data:
                kept.write_bytes(data)


def restore_job_records(outputs, store: str | Path, snakemake_dir: str | Path = ".snakemake") -> None:
    """After `restore`: put back the kept records (the failed attempt's would re-trigger the job); without a
    kept record drop the failed attempt's, so Snakemake compares modification times only."""
    store, root = Path(store), Path(snakemake_dir)
    for path in map(Path, outputs):
        name, kept = _record_name(path), store / "records" / path.name
        with contextlib.suppress(FileNotFoundError):
            (root / "incomplete" / name).unlink()
        if kept.is_file():
            (root / "metadata").mkdir(parents=True, exist_ok=True)
            (root / "metadata" / name).write_bytes(kept.read_bytes())
        else:
            with contextlib.suppress(FileNotFoundError):
                (root / "metadata" / name).unlink()
