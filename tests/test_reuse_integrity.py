"""Reuse only what is intact (issue 28): checksummed cache entries and .last-good copies, and the DAG-build guards.

Bad case 2 (a tampered cache entry reused silently, 0666 cache files, a .last-good sharing the inode) and the
partial cases `cp` over a finished model.pt, a read-only cache folder, `--cache <target>`, `--directory`
outside the repository and a file dated in the future. The cache tests build entries the way Snakemake names
them (`<hash>_<output name><suffix>`); tests/workflow/test_cache.py does it through real `snakemake --cache`.
"""

from __future__ import annotations

import os
import stat
import time

from effdl.plan import lastgood
from effdl.plan.checksums import (
    cache_problem,
    file_sha256,
    mismatches,
    protect_cache,
    verify_cache,
    write_sums,
)
from effdl.plan.guards import cache_option_problem, future_files, future_warning, outside_repository


def cached_entry(cache, prefix="abc123"):
    """A finished job's outputs moved into the cache the way Snakemake does (sums written by the job)."""
    work = cache.parent / "work"
    work.mkdir(exist_ok=True)
    outputs = {"summary": work / "summary.csv", "model": work / "model.pt"}
    outputs["summary"].write_text("run,test_acc\nr,90.0\n")
    outputs["model"].write_bytes(os.urandom(256))
    write_sums(work / "checksums.json", outputs)
    cache.mkdir(exist_ok=True)
    names = {"summary": ".csv", "model": ".pt"}
    for role, path in outputs.items():
        os.replace(path, cache / f"{prefix}_{role}{names[role]}")
        os.chmod(cache / f"{prefix}_{role}{names[role]}", 0o666)
    os.replace(work / "checksums.json", cache / f"{prefix}_sums.json")
    os.chmod(cache / f"{prefix}_sums.json", 0o666)
    return cache / f"{prefix}_summary.csv", cache / f"{prefix}_model.pt"


def test_an_intact_cache_entry_is_kept_and_a_tampered_one_becomes_a_miss(tmp_path):
    cache, memo = tmp_path / "cache", tmp_path / "memo.json"
    summary, model = cached_entry(cache)
    warnings = []
    assert verify_cache(cache, memo, warn=warnings.append) == [] and not warnings
    assert summary.exists() and model.exists()
    summary.write_text(summary.read_text().replace("90.0", "99.99"))  # issue 28: 90.0 -> 99.99
    damaged = verify_cache(cache, memo, warn=warnings.append)
    assert damaged == [str(summary)]
    assert f"WARNING: the cached file {summary} does not match the sha256" in warnings[0]
    assert "counts as a miss" in warnings[0]
    assert not summary.exists() and not model.exists(), "the whole entry must be a miss"
    assert (cache / "abc123_summary.csv.corrupt").exists()


def test_a_zeroed_cached_model_is_a_miss_even_with_its_old_timestamp(tmp_path):
    cache, memo = tmp_path / "cache", tmp_path / "memo.json"
    _, model = cached_entry(cache)
    verify_cache(cache, memo, warn=lambda _: None)  # remembered as verified
    st = model.stat()
    model.write_bytes(b"\0" * st.st_size)
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime: the ctime still changed
    warnings = []
    assert verify_cache(cache, memo, warn=warnings.append) == [str(model)]
    assert str(model) in warnings[0]


def test_cache_entries_lose_world_write_permission(tmp_path):
    cache = tmp_path / "cache"
    cached_entry(cache)
    assert protect_cache(cache) == 3
    for path in cache.iterdir():
        assert not path.stat().st_mode & stat.S_IWOTH, path


def test_sums_name_the_missing_or_changed_file(tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("x\n1\n")
    write_sums(tmp_path / "s.json", {"a": a})
    assert mismatches(tmp_path / "s.json", lambda role, entry: tmp_path / entry["name"]) == []
    a.write_text("x\n2\n")
    assert mismatches(tmp_path / "s.json", lambda role, entry: tmp_path / entry["name"]) == [str(a)]
    (tmp_path / "s.json").write_text("[]")
    assert mismatches(tmp_path / "s.json", lambda role, entry: tmp_path / entry["name"]) == [str(tmp_path / "s.json")]


def finished_run(tmp_path):
    outputs = [tmp_path / "run" / name for name in ("summary.csv", "model.pt")]
    outputs[0].parent.mkdir()
    outputs[0].write_text("run,test_acc\nr,90.0\n")
    outputs[1].write_bytes(b"weights" * 100)
    store = tmp_path / "run" / ".last-good"
    lastgood.save(outputs, {"lr": 0.1}, store)
    return outputs, store


def test_last_good_copies_are_independent_of_the_live_files(tmp_path):
    """Partial case: `cp` over a finished model.pt also changed its .last-good copy (a hard link)."""
    outputs, store = finished_run(tmp_path)
    model = outputs[1]
    assert not os.path.samefile(model, store / "model.pt")
    before = file_sha256(store / "model.pt")
    other = tmp_path / "other.pt"
    other.write_bytes(b"something else")
    with open(other, "rb") as src, open(model, "r+b") as dst:  # what `cp other.pt model.pt` does: write in place
        dst.truncate(0)
        dst.write(src.read())
    assert file_sha256(store / "model.pt") == before


def test_a_damaged_last_good_copy_is_not_restored(tmp_path):
    outputs, store = finished_run(tmp_path)
    for path in outputs:
        path.unlink()
    lastgood.mark_failed(store, "RuntimeError: boom")
    (store / "summary.csv").write_text("run,test_acc\nr,99.99\n")
    warnings = []
    assert not lastgood.restore(outputs, {"lr": 0.1}, store, warn=warnings.append)
    assert f"{store / 'summary.csv'} does not match the sha256" in warnings[0]
    assert not any(p.exists() for p in outputs)
    (store / "summary.csv").write_text("run,test_acc\nr,90.0\n")  # intact again: restored
    assert lastgood.restore(outputs, {"lr": 0.1}, store, warn=warnings.append)
    assert outputs[0].read_text() == "run,test_acc\nr,90.0\n"


def test_a_read_only_cache_folder_is_named_with_the_fix(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    assert cache_problem(cache) is None
    cache.chmod(0o555)
    if os.geteuid() == 0:  # root writes into read-only folders: what os.access says for any other user
        monkeypatch.setattr(os, "access", lambda path, mode: False)
    try:
        problem = cache_problem(cache)
    finally:
        cache.chmod(0o755)
    assert f"$SNAKEMAKE_OUTPUT_CACHE={cache} is not writable by this user" in problem and "Fix: chmod u+w" in problem
    assert "is not set" in cache_problem(None)


def test_cache_option_given_a_target_is_refused():
    assert cache_option_problem([]) is None and cache_option_problem(["train_model", "prepare_data"]) is None
    problem = cache_option_problem(["results/data/mnist.pt"])
    assert "--cache takes rule names, and 'results/data/mnist.pt' is not one" in problem
    assert "Fix: give the targets after `--`, e.g. `snakemake --cache -- results/data/mnist.pt`" in problem


def test_a_working_directory_outside_the_repository_warns_about_git_commit(tmp_path):
    repo = tmp_path / "repo"
    (repo / "variants" / "a").mkdir(parents=True)
    assert outside_repository(repo / "variants" / "a", repo) is None
    warning = outside_repository(tmp_path, repo)
    assert f"the working directory {tmp_path} is outside the repository {repo}" in warning
    assert "git_commit 'unknown'" in warning and "Fix: use a folder inside the repository" in warning


def test_a_file_dated_in_the_future_is_named(tmp_path):
    now = time.time()
    fresh, future = tmp_path / "a.py", tmp_path / "data.tar.gz"
    fresh.write_text("x")
    future.write_text("y")
    os.utime(future, (now + 86400, now + 86400))
    found = future_files([fresh, future, tmp_path / "missing"], now=now)
    assert [p for p, _ in found] == [future]
    warning = future_warning(found)
    assert f"1 file(s) have a modification time in the future: {future}" in warning and "Fix:" in warning


def test_job_records_are_kept_for_outputs_that_snakemake_touched_after_the_job(tmp_path):
    outputs, store = finished_run(tmp_path)
    records = tmp_path / ".snakemake" / "metadata"
    records.mkdir(parents=True)
    for path in outputs:
        (records / lastgood._record_name(path)).write_text(f"record of {path.name}")
        os.utime(path, (time.time() + 5, time.time() + 5))  # what Snakemake does to a finished job's outputs
    lastgood.keep_job_records(outputs, store, tmp_path / ".snakemake")
    assert (store / "records" / "model.pt").read_text() == "record of model.pt"
    # a live output with other content is not the kept one: its record is not taken
    (store / "records" / "model.pt").unlink()
    outputs[1].write_bytes(b"other weights" * 50)
    lastgood.keep_job_records(outputs, store, tmp_path / ".snakemake")
    assert not (store / "records" / "model.pt").exists()
