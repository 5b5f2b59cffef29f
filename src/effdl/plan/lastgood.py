"""Finished outputs that survive a failed rebuild: an independent copy per job, restored when the same job is asked for.

Snakemake deletes a job's outputs before it re-runs the job, so a rebuild that fails (a changed setting that
only the job rejects, a lost GPU, a bug) would lose a finished result. After a successful job, `save` copies
its outputs into a `.last-good` folder (a copy-on-write clone where the file system has one, a plain copy
otherwise; never a hard link, so a write to either file never changes the other) with `key.json`, the job's
description (the run spec, the data source), and `sha256.json`, each output's checksum and file status as
produced. When a rebuild of that job fails, `mark_failed` records it there. While the next run builds its DAG,
`restore` copies the outputs back if they are all missing, the last attempt failed, the job asked for is the
same as the saved one (e.g. the setting was changed back) and every kept file still has its checksum (a
damaged copy is not restored, with a warning naming it), so it is not recomputed;
Snakemake's records of the kept outputs are copied along (`keep_job_records`, while they are in place) and
put back (`restore_job_records`), so a restored output carries the record of the job that made it.
Torch-free: workflow/rules/common.smk calls `restore` while Snakemake builds the DAG.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import shutil
import time
from pathlib import Path

KEY_FILE = "key.json"
FAILED_FILE = "failed.json"
SUMS_FILE = "sha256.json"


def canonical(key: object) -> str:
    """The JSON text two equal keys share (sorted keys, tuples as lists)."""
    return json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)


FICLONE = 0x40049409  # Linux ioctl: share the blocks copy-on-write (btrfs, XFS, bcachefs); refused elsewhere


def _reflink(src: Path, dst: Path) -> bool:
    """Clone src into the new file dst copy-on-write where the file system can; False when it cannot."""
    try:
        import fcntl
    except ImportError:
        return False
    try:
        with open(src, "rb") as source, open(dst, "wb") as target:
            fcntl.ioctl(target.fileno(), FICLONE, source.fileno())
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            dst.unlink()
        return False
    shutil.copystat(src, dst)
    return True


def _copy(src: Path, dst: Path) -> None:
    """An independent copy (never a hard link: `cp` over one file must not change the other)."""
    with contextlib.suppress(FileNotFoundError):
        dst.unlink()
    if not _reflink(src, dst):
        shutil.copy2(src, dst)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fingerprint(path: Path) -> list[int]:
    """Size and modification time: whether a live output is still the file that was kept (cheap)."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


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
    sums = {}
    for path in outputs:
        _copy(path, fresh / path.name)
        sums[path.name] = {"sha256": _sha256(path), "status": _fingerprint(path)}
    if {name: _sha256(fresh / name) for name in sums} != {name: entry["sha256"] for name, entry in sums.items()}:
        raise OSError(f"the copy of {outputs} in {fresh} differs from the original (a write during the copy?)")
    (fresh / SUMS_FILE).write_text(json.dumps(sums, sort_keys=True) + "\n")
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


def damaged(store: str | Path, names) -> list[Path]:
    """The kept files among `names` that are missing or no longer have the sha256 recorded by `save`."""
    store = Path(store)
    try:
        sums = json.loads((store / SUMS_FILE).read_text())
    except (OSError, ValueError):
        return [store / SUMS_FILE]
    bad = []
    for name in names:
        try:
            if _sha256(store / name) != sums[name]["sha256"]:
                bad.append(store / name)
        except (OSError, KeyError, TypeError):
            bad.append(store / name)
    return bad


def restore(outputs, key: object, store: str | Path, warn=print) -> bool:
    """Copy the kept outputs back when all `outputs` are missing, the last rebuild failed, `key` matches and
    every kept file has its recorded sha256 (else `warn` names the damaged file and nothing is restored)."""
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
    bad = damaged(store, [p.name for p in outputs])
    if bad:
        warn(
            f"WARNING: not restoring the kept copy in {store}: {', '.join(map(str, bad))} does not match the sha256 "
            "written when it was produced; the job runs again."
        )
        return False
    for src, dst in zip(kept, outputs):
        dst.parent.mkdir(parents=True, exist_ok=True)
        _copy(src, dst)
    (store / FAILED_FILE).unlink()
    return True


def _record_name(path) -> str:
    """Snakemake's file backend names an output's record by the base64 of its path (.snakemake/metadata/<name>)."""
    return base64.b64encode(str(path).encode()).decode()


def _same_as_kept(outputs: list[Path], store: Path) -> bool:
    """Whether the live outputs are the kept ones: by size and mtime as last seen, else (Snakemake touches a
    job's outputs after it ends) by sha256, remembering the new size and mtime so the next check is cheap."""
    sums = json.loads((store / SUMS_FILE).read_text())
    changed = False
    for path in outputs:
        entry = sums[path.name]
        status = _fingerprint(path)
        if status == entry["status"]:
            continue
        if status[0] != entry["status"][0] or _sha256(path) != entry["sha256"]:
            return False
        entry["status"], changed = status, True
    if changed:
        (store / SUMS_FILE).write_text(json.dumps(sums, sort_keys=True) + "\n")
    return True


def keep_job_records(outputs, store: str | Path, snakemake_dir: str | Path = ".snakemake") -> None:
    """While the outputs kept in `store` are still in place (the same files), copy Snakemake's records of them
    into `store`/records, so that a restore can give them back the record of the job that made them."""
    store, records = Path(store), Path(snakemake_dir) / "metadata"
    outputs = [Path(p) for p in outputs]
    try:
        if not _same_as_kept(outputs, store):
            return
    except (OSError, ValueError, KeyError, TypeError):
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


def build_keeping(outputs, store: str | Path, build, log=print):
    """Run `build()` (which writes `outputs`); afterwards keep a copy of them in `store`. When it fails, the
    previous outputs (which Snakemake deleted before the job) are still in `store`: say so, then re-raise."""
    try:
        result = build()
    except Exception as err:
        if mark_failed(store, f"{type(err).__name__}: {err}"):
            kept = ", ".join(str(Path(store) / Path(p).name) for p in outputs)
            log(f"this rebuild failed; the previous version is kept as {kept}")
        raise
    save(outputs, {"outputs": [Path(p).name for p in outputs]}, store)
    return result
