"""DAG-build guards through real snakemake commands (issue 28): `--cache <target>`, an unusable cache folder, a
tampered cache entry, `--directory` outside the repository and an input dated in the future.

Each case runs on a copy of the workflow (test_resume.copy_workflow: the real common/data/train rules and one
small registered run); all but the cache round trip are dry runs.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from test_resume import BIN, RUN_DIR, TARGET, copy_workflow, run_snakemake


def output_of(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def test_cache_given_a_target_is_refused_before_any_job(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    env = {**os.environ, "SNAKEMAKE_OUTPUT_CACHE": str(tmp_path)}
    result = subprocess.run(
        [str(BIN / "snakemake"), "--cache", "results/data/mnist.pt", "--cores", "1", "--configfile", "overlay.yaml"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode != 0
    assert "--cache takes rule names, and 'results/data/mnist.pt' is not one" in output_of(result)
    assert "Select jobs to execute" not in output_of(result)


def test_an_unusable_cache_folder_is_noticed_before_any_job(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    not_a_folder = tmp_path / "cache-file"
    not_a_folder.write_text("")
    env = {**os.environ, "SNAKEMAKE_OUTPUT_CACHE": str(not_a_folder)}
    result = subprocess.run(
        [str(BIN / "snakemake"), "--cache", "--cores", "1", "--configfile", "overlay.yaml", "--", TARGET],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode != 0
    assert f"$SNAKEMAKE_OUTPUT_CACHE={not_a_folder} is not a folder. Fix:" in output_of(result)
    assert "Select jobs to execute" not in output_of(result), "a job started before the cache was checked"


def test_a_tampered_cache_entry_is_a_miss_for_the_next_workflow(tmp_path):
    """Bad case 2 end to end: clone A trains and fills the cache; the cached summary.csv is edited; clone B
    does not take it (a miss, with a warning naming the file) and the cache files are not world-writable."""
    cache = tmp_path / "cache"
    cache.mkdir()
    env = {**os.environ, "SNAKEMAKE_OUTPUT_CACHE": str(cache)}
    a, b = copy_workflow(tmp_path / "a"), copy_workflow(tmp_path / "b")

    def cached_run(workdir: Path, *extra: str) -> str:
        args = [str(BIN / "snakemake"), "--cache", "--cores", "1", "--resources", "gpu=1"]
        args += ["--configfile", "overlay.yaml", *extra, "--", TARGET]
        result = subprocess.run(args, cwd=workdir, capture_output=True, text=True, timeout=300, env=env)
        assert result.returncode == 0, output_of(result)[-4000:]
        return output_of(result)

    out_a = cached_run(a)
    assert f"Moving output file {RUN_DIR}/summary.csv to cache" in out_a
    assert f"Moving output file {RUN_DIR}/checksums.json to cache" in out_a
    entries = [p for p in cache.iterdir() if p.is_file()]
    assert entries and not [p for p in entries if p.stat().st_mode & 0o002], "world-writable cache files"
    summary = (a / RUN_DIR / "summary.csv").resolve()
    summary.chmod(0o644)
    summary.write_text(summary.read_text().replace(",", ",9", 1))
    out_b = cached_run(b, "-n")
    assert f"WARNING: the cached file {summary} does not match the sha256" in out_b
    assert f"Output file {RUN_DIR}/iters.csv will be written to global between-workflow cache" in out_b
    assert "will be obtained from global between-workflow cache" not in out_b


def test_directory_outside_the_repository_warns_that_git_commit_is_unknown(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "overlay.yaml").write_text(
        (workdir / "overlay.yaml").read_text().replace("source/", f"{workdir}/source/")
    )
    result = subprocess.run(
        [str(BIN / "snakemake"), "-s", str(workdir / "Snakefile"), "-n", "--cores", "1"]
        + ["--directory", str(elsewhere), "--configfile", str(elsewhere / "overlay.yaml"), "--", TARGET],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, output_of(result)[-3000:]
    assert f"the working directory {elsewhere} is outside the repository {workdir}" in output_of(result)
    assert "git_commit 'unknown'" in output_of(result)


def test_an_input_dated_in_the_future_is_named(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    placeholder = workdir / "source" / "mnist-placeholder.tar.gz"
    later = time.time() + 7 * 86400
    os.utime(placeholder, (later, later))
    result = run_snakemake(workdir, TARGET, "-n")
    assert result.returncode == 0, output_of(result)[-3000:]
    assert "1 file(s) have a modification time in the future: source/mnist-placeholder.tar.gz" in output_of(result)
    assert "Fix: check the clock, then `touch` these files" in output_of(result)
