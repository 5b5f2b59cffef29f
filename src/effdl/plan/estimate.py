"""`effdl plan`: the training work and time of the requested targets, from the one estimator the workflow prints.

It runs `snakemake -n` for the targets (default: the whole study) with the given options; the workflow builds the
DAG and hands back the text of effdl.plan.work.plan_text for the train_model jobs that DAG holds, the same lines
the start-up banner prints, with rates from `effdl bench` (results/bench/) and the runs that finished here. Nothing
is written: the run list that `effdl status` reads (.snakemake/effdl/plan.json) stays the one of the last real run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# The workflow (workflow/rules/common.smk) writes the plan text here instead of announcing it, when this is set.
PLAN_TEXT_ENV = "EFFDL_PLAN_TEXT"


def snakemake_executable() -> str:
    """The snakemake beside this Python (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "snakemake"
    return str(beside) if beside.exists() else (shutil.which("snakemake") or "snakemake")


def parser(prog: str = "effdl plan") -> argparse.ArgumentParser:
    from effdl.cli import add_configfile

    out = argparse.ArgumentParser(prog=prog, description="The training work and time of the requested targets.")
    out.add_argument("targets", nargs="*", help="Snakemake targets, e.g. results/figs/lr_sweep.pdf (default: all)")
    add_configfile(out)
    out.add_argument("--directory", "-d", help="the variant's working directory, as given to snakemake")
    out.add_argument("--config", "-C", nargs="+", default=[], metavar="KEY=VALUE", help="as snakemake --config")
    out.add_argument("--snakefile", "-s", help="the Snakefile (default: ./Snakefile)")
    return out


def snakemake_command(args: argparse.Namespace) -> list[str]:
    """The dry run that plans the targets: targets first, so `--configfile A B` cannot swallow them."""
    command = [snakemake_executable(), *args.targets, "-n", "--nolock", "--quiet", "all"]
    if args.snakefile:
        command += ["--snakefile", args.snakefile]
    if args.directory:
        command += ["--directory", args.directory]
    if args.configfile:
        command += ["--configfile", *args.configfile]
    if args.config:
        command += ["--config", *args.config]
    return command


def plan(args: argparse.Namespace) -> tuple[int, str]:
    """(exit status, text): the plan text, or what Snakemake said when it could not build the DAG."""
    with tempfile.TemporaryDirectory() as tmp:
        text_path = Path(tmp) / "plan.txt"
        env = {**os.environ, PLAN_TEXT_ENV: str(text_path)}
        result = subprocess.run(snakemake_command(args), capture_output=True, text=True, env=env)
        if result.returncode != 0 or not text_path.exists():
            said = (result.stderr + result.stdout).strip().splitlines()
            return 1, "snakemake could not plan these targets:\n" + "\n".join(said[-20:])
        return 0, text_path.read_text().rstrip("\n")


def main(argv: list[str] | None = None, prog: str = "effdl plan") -> int:
    args = parser(prog).parse_args(argv)
    code, text = plan(args)
    print(text, file=sys.stdout if code == 0 else sys.stderr)
    return code


if __name__ == "__main__":
    from effdl.cli import main as cli_main

    sys.exit(cli_main(["plan", *sys.argv[1:]]))
