"""Nothing finished is lost to a failing job, one trainer per run, and Snakemake-level config mistakes read well.

Each test works in a copy of the workflow (test_resume.copy_workflow) with the reliability run shortened to
two epochs. A finished run must survive: a device change (not a re-run trigger), a device this host lacks
(refused before any job starts), a changed setting that fails inside the job (kept in .last-good/, back once
the setting is changed back) and one the DAG build can already refuse (from results/data/<name>.meta.json).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import BIN, snakemake
from test_resume import JOB_LOG, OVERLAY, RUN_DIR, RUN_RULES, TARGET, copy_workflow, run_snakemake, synthetic_mnist

from effdl.data import write_meta
from effdl.plan import preflight

OUTPUTS = ("iters.csv", "epochs.csv", "summary.csv", "model.pt")
SHORT_RULES = RUN_RULES.replace('"epochs": 10', '"epochs": 2').replace('"milestones": [5]', '"milestones": [1]')
TWO_CHANNEL_MEAN = OVERLAY.replace("mean: [0.1307]", "mean: [0.1307, 0.1307]").replace(
    "std: [0.3081]", "std: [0.3081, 0.3081]"
)


def outputs(workdir: Path) -> dict[str, bytes]:
    return {name: (workdir / RUN_DIR / name).read_bytes() for name in OUTPUTS if (workdir / RUN_DIR / name).exists()}


def output_of(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


@pytest.fixture
def finished(tmp_path) -> Path:
    """A workflow copy with the short run trained to the end."""
    workdir = copy_workflow(tmp_path, extra_rules=SHORT_RULES)
    result = run_snakemake(workdir, TARGET)
    assert result.returncode == 0, output_of(result)[-3000:]
    assert len(outputs(workdir)) == 4
    return workdir


def test_a_finished_run_survives_every_failing_change(finished):
    workdir, before = finished, outputs(finished)
    log_lines = len((workdir / JOB_LOG).read_text().splitlines())

    # 1. the device is not a re-run trigger: it does not change what a run means
    result = run_snakemake(workdir, TARGET, "-n", "--config", "device=auto")
    assert result.returncode == 0 and "Nothing to be done" in output_of(result), output_of(result)[-3000:]

    # 2. a device this host does not have is refused after the DAG build, before any job deletes anything
    if preflight.host_device_problem("cuda"):
        result = run_snakemake(workdir, TARGET, "--forcerun", "train_model", "--config", "device=cuda")
        assert result.returncode != 0
        assert "config key 'device' is 'cuda', but this host has no NVIDIA driver" in output_of(result)
        assert outputs(workdir) == before, "a refused device deleted the finished run"

    # 3. a changed setting that only the job can reject (no data summary yet): the job fails, the run is kept
    (workdir / "two_channel.yaml").write_text(TWO_CHANNEL_MEAN)
    args = ["--cores", "1", "--resources", "gpu=1", "--configfile", "two_channel.yaml"]
    failed = subprocess.run(
        [str(BIN / "snakemake"), TARGET, *args], cwd=workdir, capture_output=True, text=True, timeout=180
    )
    assert failed.returncode != 0, output_of(failed)[-3000:]
    log = (workdir / JOB_LOG).read_text()
    assert "datasets.mnist.mean has 2 value(s)" in log and "Fix:" in log, log[-3000:]
    assert "previous finished outputs are kept in" in log
    assert outputs(workdir) == {}, "Snakemake removes a failed job's outputs"
    kept = {name: (workdir / RUN_DIR / ".last-good" / name).read_bytes() for name in OUTPUTS}
    assert kept == before

    # 4. the setting changed back: the finished run comes back as it was, nothing is trained again
    result = run_snakemake(workdir, TARGET)
    assert result.returncode == 0, output_of(result)[-3000:]
    assert "restored the finished run" in output_of(result) and "Nothing to be done" in output_of(result)
    assert outputs(workdir) == before
    assert "run reliability/mlp:" not in "\n".join((workdir / JOB_LOG).read_text().splitlines()[log_lines:])

    # ... and it carries the record of the job that made it: a changed setting still re-runs it
    dry = subprocess.run(
        [str(BIN / "snakemake"), TARGET, "-n", *args], cwd=workdir, capture_output=True, text=True, timeout=180
    )
    assert "Params have changed since last execution" in output_of(dry), output_of(dry)[-3000:]

    # 5. with the data set's summary written (as prepare_data does), the same mistake stops the DAG build
    packed = synthetic_mnist()
    write_meta(
        packed,
        workdir / "results/data/mnist.pt",
        {
            "source": "imagefolder",
            "root": "data/torchvision",
            "path": "source/mnist-placeholder.tar.gz",
            "subset": None,
        },
    )
    early = subprocess.run(
        [str(BIN / "snakemake"), TARGET, *args], cwd=workdir, capture_output=True, text=True, timeout=180
    )
    assert early.returncode != 0
    assert "run reliability/mlp: data set 'mnist' (results/data/mnist.pt) has 1x28x28 images" in output_of(early)
    assert outputs(workdir) == before, "a mistake caught at DAG build deleted the finished run"


def test_a_second_trainer_on_a_run_refuses_naming_the_first(tmp_path):
    workdir = copy_workflow(tmp_path, extra_rules=SHORT_RULES)
    hold = textwrap.dedent("""
        import sys, time
        from effdl.runlock import RunLock
        lock = RunLock(sys.argv[1]).acquire()  # keep the reference: a dropped lock closes its file
        print("locked", flush=True)
        time.sleep(120)
    """)
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(workdir / RUN_DIR)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = run_snakemake(workdir, TARGET)
        assert result.returncode != 0
        log = (workdir / JOB_LOG).read_text()
        assert f"is locked by a trainer that is still running: PID {holder.pid}" in log, log[-3000:]
        assert not (workdir / RUN_DIR / "checkpoint.pt").exists(), "the refused trainer trained"
    finally:
        holder.kill()
        holder.wait()


def test_snakemake_level_config_mistakes(tmp_path):
    workdir = copy_workflow(tmp_path, extra_rules=SHORT_RULES)
    # --config strings inside lists are given the schema's types
    result = run_snakemake(workdir, TARGET, "-n", "--config", "seeds=[43,44]")
    assert result.returncode == 0, output_of(result)[-3000:]

    # the base config is found beside the Snakefile when snakemake runs from another directory
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    overlay = elsewhere / "overlay.yaml"
    overlay.write_text(OVERLAY.replace("source/", f"{workdir}/source/"))
    result = subprocess.run(
        [
            str(BIN / "snakemake"),
            "-s",
            str(workdir / "Snakefile"),
            TARGET,
            "-n",
            "--cores",
            "1",
            "--configfile",
            str(overlay),
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, output_of(result)[-3000:]
    assert "missing a required key" not in output_of(result)

    # a YAML syntax error in the base config names the file and the line
    base = workdir / "config" / "config.yaml"
    text = base.read_text().replace("seeds: [43, 44, 45]", "seeds: [43, 44, 45")
    broken = tmp_path / "broken"
    shutil.copytree(workdir, broken, ignore=shutil.ignore_patterns("results", ".snakemake"))
    (broken / "config" / "config.yaml").write_text(text)
    result = run_snakemake(broken, TARGET, "-n")
    assert result.returncode != 0
    # YAML reports where it noticed the unclosed bracket: the next line that is not part of the list
    pattern = rf"config file {re.escape(str(broken))}/config/config\.yaml, line \d+, column \d+: YAML syntax error: "
    assert re.search(pattern + r"expected ',' or '\]'", output_of(result)), output_of(result)[-2000:]


def test_too_few_classes_for_the_data_set_stop_the_dag_build():
    """finetune.num_classes: 3 used to fail at epoch 0 (`Target 3 is out of bounds`) after deleting the runs."""
    result = snakemake("-n", "--cores", "1", "--config", "finetune={num_classes: 3}")
    assert result.returncode != 0
    assert "data set 'cinic10' (datasets.cinic10) has 10 classes but model 'resnet18' predicts 3 " in output_of(result)
    assert "Fix: set finetune.num_classes to at least 10" in output_of(result)
    assert "Building DAG of jobs" not in output_of(result) or "Job stats" not in output_of(result)
