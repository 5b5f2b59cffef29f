"""The start-up plan covers the requested targets only, and `effdl plan` prints the same numbers."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml
from helpers import REPO, snakemake

TARGET = "results/figs/lr_sweep.pdf"


def plan_block(text: str) -> list[str]:
    """The start-up plan's lines: its header and the indented lines under it."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Planned training work"))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        block.append(line)
    return block


def test_one_figure_plans_only_its_runs_and_effdl_plan_agrees(tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    sweep = config["schedules"]["lr_sweep"]
    expected_runs = len(sweep["lrs"]) * len(config["seeds"])
    banner = snakemake(TARGET, "-n", "--nolock", "--directory", str(tmp_path), timeout=180)
    assert banner.returncode == 0, banner.stderr[-3000:]
    block = plan_block(banner.stderr + banner.stdout)
    families = [line.split()[0] for line in block[1:] if "runs (" in line]
    assert families == ["convnet", "total"], block  # no ResNet-18, DWConvNet, ... of the whole config
    assert f"{expected_runs} runs (0 done)" in block[1] and f"{sweep['epochs'] * expected_runs} epochs" in block[1]
    assert not any("time not measured" in line for line in block[1:-1]), "no row repeats the missing rate"
    assert all(len(line) <= 200 for line in block)

    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    plan = subprocess.run(
        [sys.executable, "-m", "effdl.cli", "plan", TARGET, "--directory", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=180,
    )
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert plan_block(plan.stdout) == block
