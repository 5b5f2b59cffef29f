"""The start-up plan covers the requested targets only, and `effdl plan` prints the same numbers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
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


def readme_snakemake_commands() -> list[list[str]]:
    """The argument lists of every `.venv/bin/snakemake` line in README.md's and docs/'s bash blocks."""
    import re
    import shlex

    commands = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for block in re.findall(r"```bash\n(.*?)```", path.read_text(), re.S):
            for line in block.splitlines():
                for command in line.split(" # ", 1)[0].split("&&"):
                    words = shlex.split(command)
                    if words and words[0] == ".venv/bin/snakemake" and words[1:] not in commands:
                        commands.append(words[1:])
    return commands


def data_missing(args: list[str]) -> list[str]:
    """Configured data paths of these config files that do not exist here (no offline copies beside the clone)."""
    from effdl.plan.preflight import config_problems

    files = []
    for arg in args[args.index("--configfile") + 1 :] if "--configfile" in args else []:
        if arg.startswith("-"):
            break
        files.append(arg)
    return [p for p in config_problems(files, REPO) if "does not exist" in p]


def dry_run_args(args: list[str], tmp_path) -> list[str]:
    """The documented command as a dry run that leaves the repository alone: -n, no lock, its own directory."""
    if "--report" in args:
        args = args[: args.index("--report")]
    if "--directory" in args:
        at = args.index("--directory")
        args = args[:at] + args[at + 2 :]
    # the options go first: a documented `--cache -- <target>` ends option parsing at its `--`
    return ["-n", "--nolock", "--directory", str(tmp_path), *args]


def test_the_readme_smoke_command_dry_runs(tmp_path):
    smoke = next(c for c in readme_snakemake_commands() if "config/smoke.yaml" in c and "--report" not in c)
    missing = data_missing(smoke)
    if missing:
        pytest.skip(f"the smoke data are not here: {missing[0]}")
    result = snakemake(*dry_run_args(smoke, tmp_path), timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Planned training work" in result.stderr and "build_paper" in result.stdout


@pytest.mark.slow
def test_every_documented_snakemake_command_dry_runs(tmp_path):
    """Each distinct `.venv/bin/snakemake` command line of README.md and docs/ as a dry run (~5 s each)."""
    for args in readme_snakemake_commands():
        if "--report" in args or "slurm" in " ".join(args) or data_missing(args):
            continue  # the report needs a finished run; SLURM needs sbatch (tests/workflow/test_slurm.py)
        env = {**os.environ, "SNAKEMAKE_OUTPUT_CACHE": str(tmp_path / "cache")}
        (tmp_path / "cache").mkdir(exist_ok=True)
        result = snakemake(*dry_run_args(args, tmp_path / "run"), timeout=300, env=env)
        assert result.returncode == 0, f"{args}:\n{result.stderr[-3000:]}"
