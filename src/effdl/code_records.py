"""Which finished outputs a code change puts out of date: the store of what each code fingerprint covered, the
fingerprints Snakemake recorded for its outputs, and the start-up banner's lines naming the changed modules.

Torch-free; effdl.fingerprint computes the fingerprints, the workflow (workflow/rules/common.smk) keeps and reads
them here while it builds the DAG.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

# The workflow keeps, per fingerprint, what it covered: .snakemake/effdl/code/<fingerprint>.json holds
# {"entries": {"script": ..., "modules": [...]}, "digests": {name: digest}}. Snakemake's own record of a
# finished job holds its params (so its fingerprint); the two together say what changed since.


def store_record(store: str | Path, fingerprint_value: str, entries: Mapping, digests: Mapping[str, str]) -> None:
    """Keep what fingerprint `fingerprint_value` covered (written once; atomic, so parallel DAG builds agree)."""
    path = Path(store) / f"{fingerprint_value}.json"
    if path.exists():
        return
    try:  # an explanation only: a read-only working directory must not stop the DAG build
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"entries": dict(entries), "digests": dict(digests)}, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        pass


def prune_store(store: str | Path, keep: Iterable[str], older_than_s: float = 7 * 86400) -> None:
    """Remove kept fingerprints that no output's record names any more and that are older than a week (a
    fingerprint of a job still running is young, so it stays until the job records it)."""
    keep, cutoff = set(keep), time.time() - older_than_s
    for path in Path(store).glob("*.json"):
        try:
            if path.stem not in keep and path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass


def read_record(store: str | Path, fingerprint_value: str) -> dict | None:
    """What a fingerprint covered, or None when it was never stored (or is unreadable)."""
    try:
        return json.loads((Path(store) / f"{fingerprint_value}.json").read_text())
    except (OSError, ValueError):
        return None


def changed_modules(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """Names whose digest differs between two {name: digest} maps (added and removed ones included)."""
    return sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))


# The value of a job's `code` param: recognisable among the params Snakemake records for an output.
PARAM_PREFIX = "effdl-code:"
_RECORDED = f"'{PARAM_PREFIX}"


def param_value(fingerprint_value: str) -> str:
    """The `code` param of a job: the prefix marks it in Snakemake's records, the digest is the cache key."""
    return PARAM_PREFIX + fingerprint_value


def snakemake_records(snakemake_dir: str | Path = ".snakemake"):
    """(output path, record) of every output Snakemake's file backend has a record of (.snakemake/metadata:
    one JSON file per output, named by the urlsafe base64 of its path, split into '@'-prefixed directories
    when long). Unreadable records are skipped; the database backend keeps none here."""
    root = Path(snakemake_dir) / "metadata"
    for folder, _, names in os.walk(root):
        prefix = "".join(part[1:] for part in Path(folder).relative_to(root).parts)
        for name in names:
            try:
                path = base64.urlsafe_b64decode(prefix + name).decode()
                record = json.loads((Path(folder) / name).read_text())
            except (OSError, ValueError):
                continue
            if isinstance(record, dict):
                yield path, record


def recorded_fingerprint(record: Mapping) -> str | None:
    """The code fingerprint among a Snakemake record's params (stored as reprs), or None."""
    for param in record.get("params") or []:
        if isinstance(param, str) and param.startswith(_RECORDED) and param.endswith("'"):
            return param[len(_RECORDED) : -1]
    return None


@dataclass
class CodeChanges:
    """Out-of-date jobs by changed module ({module: {rule: jobs}}), jobs recorded without a fingerprint."""

    by_module: dict[str, dict[str, int]]
    unfingerprinted: dict[str, int]
    recorded: set[str] = field(default_factory=set)  # the fingerprints the wanted outputs' records name

    def lines(self, max_modules: int = 5, max_rules: int = 3) -> list[str]:
        """A few lines for the start-up banner: one per changed module, most jobs first."""
        out = []
        ranked = sorted(self.by_module.items(), key=lambda item: (-sum(item[1].values()), item[0]))
        for module, rules in ranked[:max_modules]:
            out.append(f"  code changed: {module} → {_jobs_text(rules, max_rules)} out of date")
        if len(ranked) > max_modules:
            out.append(f"  ... and {len(ranked) - max_modules} more changed modules")
        if self.unfingerprinted:
            jobs = _jobs_text(self.unfingerprinted, max_rules)
            out.append(f"  {jobs} built before code fingerprints existed: out of date once")
        return out


def _jobs_text(rules: Mapping[str, int], max_rules: int) -> str:
    ranked = sorted(rules.items(), key=lambda item: (-item[1], item[0]))
    text = ", ".join(f"{n} {rule}" for rule, n in ranked[:max_rules])
    rest = sum(n for _, n in ranked[max_rules:])
    total = sum(rules.values())
    return f"{text}{f' and {rest} other' if rest else ''} job{'s' if total != 1 else ''}"


def code_changes(records, store: str | Path, current, fingerprinted_rules=(), wanted=None) -> CodeChanges:
    """Which modules changed since the recorded outputs were built, and how many jobs each puts out of date.

    records: (output path, Snakemake record) pairs; store: where the workflow kept what each fingerprint
    covered; current(entries) -> {name: digest} now; fingerprinted_rules: rules whose jobs carry a `code` param
    now (their records without one re-run once); wanted(rule, path): whether an output still belongs to the
    workflow (default: it exists). A job is counted once: its outputs share their log files (every rule here
    declares a log named after its wildcards).
    """
    wanted = wanted or (lambda rule, path: os.path.exists(path))
    by_module: dict[str, dict[str, set]] = {}
    unfingerprinted: dict[str, set] = {}
    now_of: dict[str, list[str] | None] = {}
    for path, record in records:
        rule = record.get("rule")
        if not rule or record.get("incomplete") or not wanted(rule, path):
            continue
        job = tuple(record.get("log") or [path])
        value = recorded_fingerprint(record)
        if value is None:
            if rule in fingerprinted_rules:
                unfingerprinted.setdefault(rule, set()).add(job)
            continue
        if value not in now_of:
            kept = read_record(store, value)
            now_of[value] = (
                changed_modules(kept["digests"], current(kept["entries"]))
                if kept and "entries" in kept and "digests" in kept
                else None
            )
        for module in now_of[value] or []:
            by_module.setdefault(module, {}).setdefault(rule, set()).add(job)
    return CodeChanges(
        {module: _counts(rules) for module, rules in by_module.items()}, _counts(unfingerprinted), set(now_of)
    )


def _counts(jobs_by_rule: Mapping[str, set]) -> dict[str, int]:
    return {rule: len(jobs) for rule, jobs in jobs_by_rule.items()}
