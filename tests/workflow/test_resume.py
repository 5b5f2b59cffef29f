"""Preemption and resume: kill a real train_model job (SIGTERM, SIGKILL), re-run it, compare with an uninterrupted run.

Each test works in its own copy of the workflow under tmp_path (never the repository's results/). The copy
keeps the real common/data/train rules, scripts, schemas, config and workflow profile, and registers one
small run through the real `register_runs`/`make_spec`: the seed's MNIST MLP with SGD + momentum, a
MultiStep schedule and augmentation, on a packed synthetic MNIST-shaped data set, so that an epoch takes
about a second and the resume state (model, optimizer, scheduler, augmentation generator) all matters.
The part rule files are left out so that the test does not depend on the other parts' configuration.
`--cores 1` gives the job one torch thread, so repeated runs are bit-identical on the CPU.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers import BIN, REPO

from effdl.io import load_checkpoint, save_checkpoint
from effdl.runlock import LOCK_NAME, pid_alive, read_holder

RUN_DIR = Path("results/runs/reliability/mlp")
TARGET = str(RUN_DIR / "epochs.csv")
OUTPUTS = ("iters.csv", "epochs.csv", "summary.csv", "model.pt")
JOB_LOG = Path("results/logs/train_model/reliability/mlp.log")
EPOCHS = 10
TIMING = ["epoch_time_s", "total_time_s"]
KEPT_RULE_FILES = ("common.smk", "data.smk", "train.smk")

RUN_RULES = f"""
register_runs(
    "reliability",
    {{
        "mlp": make_spec(
            dataset="mnist",
            model={{"name": "mnist_mlp", "hidden": 64}},
            train={{"optimizer": "sgd", "lr": 0.05, "epochs": {EPOCHS}, "scheduler": "multistep",
                   "milestones": [5], "gamma": 0.1, "batch_size": 32, "eval_batch_size": 500,
                   "augment": True, "precision": "fp32", "channels_last": False, "compile": False}},
            seed=43,
            labels={{"experiment": "resume"}},
        )
    }},
)
"""
# Relative paths only, so every copy has the same config (and config_hash provenance column).
OVERLAY = """device: cpu
seeds: [43]
datasets:
  mnist:
    source: imagefolder
    path: source/mnist-placeholder.tar.gz
    subset: null
    mean: [0.1307]
    std: [0.3081]
"""


def synthetic_mnist(n_train: int = 2000, n_test: int = 500) -> dict:
    """A packed MNIST-shaped data set (1x28x28 uint8) whose labels are learnable from brightness."""
    generator = torch.Generator().manual_seed(0)

    def split(n):
        labels = torch.arange(n) % 10
        images = torch.randint(0, 60, (n, 1, 28, 28), generator=generator, dtype=torch.uint8)
        return {"images": images + (labels * 19).to(torch.uint8)[:, None, None, None], "labels": labels}

    return {
        "train": split(n_train),
        "test": split(n_test),
        "classes": [str(i) for i in range(10)],
        "source": "synthetic",
        "sha256": "0" * 64,
        "name": "mnist",
        "subset": None,
    }


def copy_workflow(dest: Path, extra_rules: str = RUN_RULES, data: dict | None = None) -> Path:
    """A runnable copy of the workflow in `dest` with the test's run registered and its data already packed."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "workflow", dest / "workflow")
    shutil.copytree(REPO / "config", dest / "config")
    lines = (REPO / "Snakefile").read_text().splitlines()
    kept = [
        line for line in lines if not line.startswith("include:") or line.split("/")[-1].rstrip('"') in KEPT_RULE_FILES
    ]
    (dest / "Snakefile").write_text("\n".join(kept) + '\n\ninclude: "test_runs.smk"\n')
    (dest / "test_runs.smk").write_text(extra_rules)
    (dest / "overlay.yaml").write_text(OVERLAY)
    # prepare_data's declared input: an old placeholder, so the packed file below counts as up to date
    placeholder = dest / "source" / "mnist-placeholder.tar.gz"
    placeholder.parent.mkdir()
    with tarfile.open(placeholder, "w:gz"):  # an empty but readable archive (an empty file is refused early)
        pass
    os.utime(placeholder, (time.time() - 3600, time.time() - 3600))
    save_checkpoint(data or synthetic_mnist(), dest / "results" / "data" / "mnist.pt")
    # prepare_data's other output (it writes its own benchmark file, being cacheable between workflows)
    benchmark = dest / "results" / "benchmarks" / "prepare_data" / "mnist.tsv"
    benchmark.parent.mkdir(parents=True)
    benchmark.write_text("s\n0.0\n")
    return dest


def smk_args(*args: str) -> list[str]:
    return [str(BIN / "snakemake"), *args, "--cores", "1", "--resources", "gpu=1", "--configfile", "overlay.yaml"]


def run_snakemake(workdir: Path, *args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(smk_args(*args), cwd=workdir, capture_output=True, text=True, timeout=timeout)


def start_and_kill(workdir: Path, sig: signal.Signals, timeout: float = 180) -> subprocess.Popen:
    """Start snakemake on the run; once its first epoch checkpoint exists, signal the whole process group.

    The group gets the signal, as when SLURM preempts or cancels a job (every process of the job).
    """
    checkpoint = workdir / RUN_DIR / "checkpoint.pt"
    with open(workdir / "first_attempt.out", "w") as out:
        proc = subprocess.Popen(
            smk_args(TARGET), cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + timeout
        while not checkpoint.exists():
            assert proc.poll() is None, (
                "snakemake ended before the first epoch checkpoint:\n"
                + (workdir / "first_attempt.out").read_text()[-3000:]
            )
            assert time.monotonic() < deadline, "no epoch checkpoint within the time limit"
            time.sleep(0.02)
        time.sleep(0.05)  # land inside the next epoch rather than right at its start
        os.killpg(proc.pid, sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    return proc


def assert_no_partial_files(workdir: Path) -> None:
    """No temp files of interrupted writes anywhere, every CSV parses and every .pt loads."""
    results = workdir / "results"
    leftovers = [p for p in results.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers, f"temp files left behind: {leftovers}"
    for csv in results.rglob("*.csv"):
        assert len(pd.read_csv(csv)) > 0, csv
    for pt in results.rglob("*.pt"):
        load_checkpoint(pt)


def checkpoint_epoch(workdir: Path) -> int:
    return int(load_checkpoint(workdir / RUN_DIR / "checkpoint.pt")["epoch"])


def read_outputs(workdir: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(workdir / RUN_DIR / f"{name}.csv") for name in ("iters", "epochs", "summary")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """The same run trained without interruption."""
    workdir = copy_workflow(tmp_path_factory.mktemp("uninterrupted"))
    result = run_snakemake(workdir, TARGET)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return read_outputs(workdir)


def resume_and_compare(workdir: Path, reference: dict, killed_after: int) -> None:
    """Re-run the killed job; it must resume and end with exactly the uninterrupted run's metrics."""
    result = run_snakemake(workdir, TARGET)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = (workdir / JOB_LOG).read_text()
    assert re.search(rf"resumed from \S*checkpoint\.pt after epoch {killed_after}/{EPOCHS}", log), log
    ours = read_outputs(workdir)
    assert ours["summary"].loc[0, "resumed_from_epoch"] == killed_after
    assert ours["summary"].loc[0, "epochs_completed"] == EPOCHS
    for name in ("iters", "epochs"):
        pd.testing.assert_frame_equal(
            ours[name].drop(columns=TIMING, errors="ignore"),
            reference[name].drop(columns=TIMING, errors="ignore"),
            check_exact=True,
        )
    same = [c for c in reference["summary"].columns if c not in TIMING + ["resumed_from_epoch"]]
    pd.testing.assert_frame_equal(ours["summary"][same], reference["summary"][same], check_exact=True)
    assert (reference["summary"]["resumed_from_epoch"] == 0).all()
    assert not (workdir / RUN_DIR / "checkpoint.pt").exists(), "a finished run keeps no resume state"
    assert_no_partial_files(workdir)


def test_sigterm_mid_run_resumes_to_identical_metrics(tmp_path, reference):
    workdir = copy_workflow(tmp_path)
    proc = start_and_kill(workdir, signal.SIGTERM)
    first = (workdir / "first_attempt.out").read_text()
    assert proc.returncode != 0, first
    assert "Error in rule train_model" in first, first[-3000:]
    log = (workdir / JOB_LOG).read_text()
    assert "received SIGTERM" in log and "re-run snakemake to resume" in log, log
    killed_after = checkpoint_epoch(workdir)
    assert 1 <= killed_after < EPOCHS, f"the kill should land mid-run, not after epoch {killed_after}"
    # Snakemake cleaned up the failed job: no declared output, no lock left behind
    assert not any((workdir / RUN_DIR / name).exists() for name in OUTPUTS)
    assert not list((workdir / ".snakemake" / "locks").glob("*"))
    assert_no_partial_files(workdir)
    resume_and_compare(workdir, reference, killed_after)


def test_sigkill_mid_run_resumes_after_unlock(tmp_path, reference):
    workdir = copy_workflow(tmp_path)
    start_and_kill(workdir, signal.SIGKILL)
    killed_after = checkpoint_epoch(workdir)
    assert 1 <= killed_after < EPOCHS, f"the kill should land mid-run, not after epoch {killed_after}"
    assert not any((workdir / RUN_DIR / name).exists() for name in OUTPUTS)
    assert "done in" not in (workdir / JOB_LOG).read_text()
    # a SIGKILLed snakemake leaves its lock: the next run refuses and names the fix
    locked = run_snakemake(workdir, TARGET, timeout=120)
    assert locked.returncode != 0
    assert "--unlock" in locked.stdout + locked.stderr, locked.stdout[-2000:] + locked.stderr[-2000:]
    assert checkpoint_epoch(workdir) == killed_after, "a refused run must not touch the resume state"
    unlock = run_snakemake(workdir, "--unlock", timeout=120)
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    # a SIGKILL that lands inside an atomic write leaves its temp file; the re-run must clear it
    stale = workdir / RUN_DIR / ".checkpoint.pt.k1ll3d.tmp"
    stale.write_bytes(b"half a checkpoint")
    resume_and_compare(workdir, reference, killed_after)
    assert f"removed {stale.relative_to(workdir)}" in (workdir / JOB_LOG).read_text()
    # the SIGKILLed trainer's lock is stale: the re-run took it over, naming the dead PID
    assert re.search(r"took over the lock \S*trainer\.lock of PID \d+", (workdir / JOB_LOG).read_text())


def test_sigkill_of_snakemake_alone_stops_its_trainer_and_the_recovery_trains_once(tmp_path, reference):
    """kill -9 of the snakemake process only (not its group): the trainer must stop by itself, so that the
    README's recovery (--unlock, run again) leaves one trainer on the run, ending with identical metrics."""
    workdir = copy_workflow(tmp_path)
    checkpoint, lock = workdir / RUN_DIR / "checkpoint.pt", workdir / RUN_DIR / LOCK_NAME
    with open(workdir / "first_attempt.out", "w") as out:
        proc = subprocess.Popen(
            smk_args(TARGET), cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180
        while not checkpoint.exists():
            assert proc.poll() is None, (workdir / "first_attempt.out").read_text()[-3000:]
            assert time.monotonic() < deadline, "no epoch checkpoint within the time limit"
            time.sleep(0.02)
        trainer = read_holder(lock)["pid"]
        assert trainer != proc.pid, "the trainer is the job's own process, not snakemake"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while pid_alive(trainer) and "Z" not in _state(trainer):
            assert time.monotonic() < deadline, f"trainer {trainer} outlived its killed snakemake"
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    log = (workdir / JOB_LOG).read_text()
    assert "received SIGTERM" in log, log  # the parent-death signal, handled like a preemption
    assert not lock.exists(), "the stopped trainer released its lock"
    killed_after = checkpoint_epoch(workdir)
    assert 1 <= killed_after < EPOCHS
    assert run_snakemake(workdir, "--unlock", timeout=120).returncode == 0
    resume_and_compare(workdir, reference, killed_after)
    assert "took over the lock" not in (workdir / JOB_LOG).read_text()


def _state(pid: int) -> str:
    """The process state letter from /proc (Z = zombie, already dead); '' when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


class Interrupted(Exception):
    """Stands in for a kill right after an epoch's checkpoint was saved."""


def test_a_resume_on_changed_data_starts_over_with_a_warning(tmp_path):
    """Issue 28, bad case 3: changing datasets.<name>.subset of an interrupted run resumed the old checkpoint on
    the new data. The resume fingerprint now covers the data's sha256: other data start over, the same resume."""
    from effdl.runs import run_training

    spec = {
        "part": "reliability",
        "run": "mlp",
        "dataset": "mnist",
        "seed": 43,
        "model": {"name": "mnist_mlp", "hidden": 16},
        "train": {"lr": 0.05, "epochs": 2, "batch_size": 32, "precision": "fp32", "augment": False},
        "hooks": [],
        "labels": {},
        "mean": [0.1307],
        "std": [0.3081],
    }
    old, new = tmp_path / "old.pt", tmp_path / "new.pt"
    save_checkpoint({**synthetic_mnist(96, 32), "sha256": "a" * 64, "subset": {"train_per_class": 9}}, old)
    save_checkpoint({**synthetic_mnist(64, 32), "sha256": "b" * 64, "subset": {"train_per_class": 6}}, new)
    ckpt = tmp_path / "run" / "checkpoint.pt"

    def stop_after_first_epoch(record):
        if record["epoch"] == 1:
            raise Interrupted

    with pytest.raises(Interrupted):
        run_training(
            spec, old, torch.device("cpu"), checkpoint_path=ckpt, log=lambda _: None, progress=stop_after_first_epoch
        )
    assert load_checkpoint(ckpt)["epoch"] == 1
    messages = []
    _, result, meta = run_training(spec, new, torch.device("cpu"), checkpoint_path=ckpt, log=messages.append)
    assert result.resumed_from_epoch == 0 and meta["sha256"] == "b" * 64
    warning = [m for m in messages if "was trained on other data" in m]
    assert warning and str(ckpt) in warning[0] and "starting from scratch" in warning[0], messages
    # the same run on the same data still resumes
    with pytest.raises(Interrupted):
        run_training(
            spec, old, torch.device("cpu"), checkpoint_path=ckpt, log=lambda _: None, progress=stop_after_first_epoch
        )
    messages = []
    _, result, _ = run_training(spec, old, torch.device("cpu"), checkpoint_path=ckpt, log=messages.append)
    assert result.resumed_from_epoch == 1, messages
