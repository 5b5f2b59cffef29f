"""`effdl status` (alias `python -m effdl.status`) on a running workflow, the start-up plan, and gpu-check.sh's dry run.

The status tests work in a copy of the workflow under tmp_path (as tests/workflow/test_resume.py does): the real
common/data/train rules and scripts, two small registered runs (the seed's MNIST MLP on a packed synthetic
MNIST-shaped data set), so that a DAG runs for ~20 s on one CPU core while the status command is polled.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from helpers import BIN, REPO, job_counts, snakemake
from test_resume import copy_workflow, smk_args

import effdl
from effdl.plan.registry import PRUNE_MODES

SRC = str(Path(effdl.__file__).resolve().parents[1])
# the slow run's epochs take ~0.1 s on an idle 2-core machine, and each status poll starts a Python process:
# enough epochs that a poll sees it running (12 were over between two polls on a fast, idle machine)
RUNS = {"slow": 60, "quick": 2}
SLOW = RUNS["slow"]
STATUS_RULES = "\n".join(
    f"""
register_runs(
    "status",
    {{
        "{name}": make_spec(
            dataset="mnist",
            model={{"name": "mnist_mlp", "hidden": 64}},
            train={{"optimizer": "sgd", "lr": 0.05, "epochs": {epochs}, "batch_size": 32, "eval_batch_size": 500,
                   "precision": "fp32", "channels_last": False, "compile": False}},
            seed=43,
        )
    }},
)
"""
    for name, epochs in RUNS.items()
)
TARGETS = [f"results/runs/status/{name}/summary.csv" for name in RUNS]


def status_workflow(tmp_path: Path) -> Path:
    """The test copy, with the test's runs registered before the Snakefile plans the work."""
    workdir = copy_workflow(tmp_path, extra_rules=STATUS_RULES)
    snakefile = (workdir / "Snakefile").read_text().replace('\n\ninclude: "test_runs.smk"\n', "\n")
    marker = "# The planned training work"
    assert marker in snakefile
    (workdir / "Snakefile").write_text(snakefile.replace(marker, 'include: "test_runs.smk"\n\n\n' + marker))
    return workdir


def status(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run(
        [sys.executable, "-m", "effdl.status", *args], cwd=workdir, capture_output=True, text=True, timeout=60, env=env
    )


def states(workdir: Path) -> dict[str, dict]:
    result = status(workdir, "--json")
    assert result.returncode in (0, 1), result.stderr
    return {row["key"]: row for row in json.loads(result.stdout)["runs"]}


def test_status_follows_a_running_dag_to_the_end(tmp_path):
    workdir = status_workflow(tmp_path)
    with open(workdir / "snakemake.out", "w") as out:
        proc = subprocess.Popen(
            smk_args(*TARGETS), cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    seen_running = None
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            if (workdir / ".snakemake/effdl/plan.json").exists():
                rows = states(workdir)
                slow = rows["status/slow"]
                if slow["state"] == "running" and slow["epoch"] >= 2 and seen_running is None:
                    text = status(workdir).stdout  # a second read: the run may have finished in between
                    if re.search(r"status/slow\s+running\s", text):
                        seen_running = (slow, text)
            time.sleep(0.3)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    log = (workdir / "snakemake.out").read_text()
    assert proc.returncode == 0, log[-3000:]
    # the start-up plan: both runs, their epochs, no throughput measured in this fresh copy yet
    assert re.search(rf"mnist_mlp\s+2 runs \(0 done\)\s+{sum(RUNS.values())} epochs", log), log[:2000]
    assert seen_running is not None, f"status never showed the {SLOW}-epoch run running"
    row, text = seen_running
    assert 2 <= row["epoch"] < RUNS["slow"] and row["epochs"] == RUNS["slow"]
    assert row["eta_s"] is not None and row["eta_s"] > 0 and row["test_acc"] is not None
    assert row["device"] == "cpu"
    assert re.search(rf"status/slow\s+running\s+\d+/{SLOW}\s+[\d.]+%\s+\S+\s+cpu", text), text
    final = states(workdir)
    assert {k: v["state"] for k, v in final.items()} == {"status/slow": "done", "status/quick": "done"}
    assert final["status/slow"]["epoch"] == SLOW
    done = status(workdir)
    assert done.returncode == 0 and "2 runs: 2 done, 0 running, 0 pending, 0 failed" in done.stdout
    # every epoch line of the job log carries elapsed time and ETA
    job_log = (workdir / "results/logs/train_model/status/slow.log").read_text()
    epoch_lines = [line for line in job_log.splitlines() if "] epoch " in line]
    assert len(epoch_lines) == SLOW and all(re.search(r"elapsed \S+, ETA \S+$", line) for line in epoch_lines)
    # a second start knows this machine's throughput now (the finished runs) and says the work is done
    again = subprocess.run(smk_args("-n", *TARGETS), cwd=workdir, capture_output=True, text=True, timeout=120)
    assert "every training run is done" in again.stderr, again.stderr[-2000:]


def test_status_reports_a_stopped_run_as_failed_and_resumable(tmp_path):
    workdir = status_workflow(tmp_path)
    checkpoint = workdir / "results/runs/status/slow/checkpoint.pt"
    with open(workdir / "snakemake.out", "w") as out:
        proc = subprocess.Popen(
            smk_args(TARGETS[0]), cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180
        while not checkpoint.exists():
            assert proc.poll() is None and time.monotonic() < deadline, (workdir / "snakemake.out").read_text()
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGTERM)  # as SLURM preempts: the job records that it stopped
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    row = states(workdir)["status/slow"]
    assert row["state"] == "failed" and "SystemExit" in row["note"] and "resumes after epoch" in row["note"]
    assert "status/quick" not in states(workdir)  # the plan holds the requested targets' runs only
    assert status(workdir, "--only", "failed").returncode == 1


def test_full_study_plan_is_printed_by_a_dry_run(tmp_path):
    """`snakemake -n` of the full study prints the training work per model family; its totals match the DAG."""
    result = snakemake("-n", "--nolock", "--cores", "4", "--resources", "gpu=1", "--forceall")
    assert result.returncode == 0, result.stderr[-3000:]
    plan = json.loads((REPO / ".snakemake/effdl/plan.json").read_text())["runs"]
    assert job_counts(result.stdout)["train_model"] == len(plan)
    total = re.search(r"total\s+(\d+) runs \(\d+ done\)\s+(\d+) epochs", result.stderr)
    assert total and int(total.group(1)) == len(plan) and int(total.group(2)) == sum(r["epochs"] for r in plan)
    convnet_like = sum(r["epochs"] for r in plan if r["family"] in ("convnet", "sparse_convnet", "dwconvnet"))
    # Part 1: lrs x seeds x sweep epochs + schedulers x seeds x epochs; Part 3: seeds x sanity epochs + pruning modes
    # x seeds x epochs; Part 6: its seeds' runs (the issue's ~1,360 ConvNet epochs at the default config)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    seeds, p1, p3, dw = len(config["seeds"]), config["schedules"], config["prune"], config["dwconv"]["train"]
    expected = (
        len(p1["lr_sweep"]["lrs"]) * seeds * p1["lr_sweep"]["epochs"]
        + len(p1["schedulers"]["names"]) * seeds * p1["schedulers"]["epochs"]
        + seeds * p3["sanity"]["epochs"]
        + len(PRUNE_MODES) * seeds * p3["schedule"]["epochs"]
        + seeds * p3["schedule"]["epochs"] * p3["controls"]["unpruned"]  # the unpruned SparseConvNet control
        + len(dw["seeds"]) * dw["epochs"]
    )
    assert convnet_like == expected
    assert "effdl bench" in result.stderr or "estimated training time left" in result.stderr


def test_gpu_check_dry_run_plans_part1_at_the_seeds_settings():
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHON": sys.executable, "SNAKEMAKE": str(BIN / "snakemake")}
    result = subprocess.run(
        ["bash", "workflow/gpu-check.sh", "--dry-run", "--gpus", "2", "--", "--nolock"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "python -m effdl.bench --device cuda" in result.stdout.replace(sys.executable, "python")
    assert "--resources gpu=8" in result.stdout and "gpu_jobs_per_device=4" in result.stdout
    counts = job_counts(result.stdout)
    assert counts.get("train_model", 0) in (0, 10) or "Nothing to be done" in result.stdout
    assert "10 training runs" in result.stdout
    assert "sched_multistep_seed43" in result.stdout and "lr_sweep_lr1.0_seed45" in result.stdout
