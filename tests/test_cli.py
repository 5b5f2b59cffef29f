"""The `effdl` command: each subcommand answers, --help imports no torch, a closed pipe is no traceback."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from test_showcase import finished_run, pdftoppm  # noqa: F401 (fixtures)

from effdl import cli
from effdl.plan import work

REPO = Path(__file__).resolve().parents[1]
SRC = str(REPO / "src")


def python(code: str, *, stdin_pipe_to: str | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter (this worktree's src first); optionally piped into a shell command."""
    env_prefix = f"PYTHONPATH={SRC}"
    command = f"{env_prefix} {sys.executable} -c {shlex.quote(code)}"
    if stdin_pipe_to:
        command += f" | {stdin_pipe_to}"
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_the_script_is_declared():
    assert 'effdl = "effdl.cli:main"' in (REPO / "pyproject.toml").read_text()


@pytest.mark.parametrize("command", ["", *cli.COMMANDS])
def test_help_of_every_command_imports_no_torch(command):
    argv = [command, "--help"] if command else ["--help"]
    result = python(
        f"import sys\nfrom effdl.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'\nprint('NO-TORCH')"
    )
    assert result.returncode == 0 and "NO-TORCH" in result.stdout, result.stderr[-2000:]
    assert "usage: effdl" in result.stdout
    if command:
        assert f"usage: effdl {command}" in result.stdout  # the subcommand's own parser, not the top one


def test_an_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["nonsense"])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err


def many_runs_plan(tmp_path, n: int = 400):
    spec = {"part": "p", "dataset": "cifar10", "model": {"name": "convnet"}, "train": {"epochs": 2}}
    runs = {f"p/run{i}": {**spec, "run": f"run{i}"} for i in range(n)}
    planned = work.planned_runs(runs, {"cifar10": {"subset": None}}, str(tmp_path / "results"))
    path = tmp_path / "plan.json"
    work.write_plan(path, planned, {"x": 1})
    return path


def test_status_piped_into_head_ends_without_a_traceback(tmp_path):
    plan = many_runs_plan(tmp_path)
    code = f"import sys; from effdl.cli import main; sys.exit(main(['status', '--plan', {str(plan)!r}, "
    code += f"'--results', {str(tmp_path / 'results')!r}]))"
    result = python(code, stdin_pipe_to="head -n 2")
    assert result.stdout.count("\n") == 2
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr, result.stderr


def test_old_module_entry_points_are_aliases(tmp_path):
    plan = many_runs_plan(tmp_path, n=3)
    result = subprocess.run(
        [sys.executable, "-m", "effdl.status", "--plan", str(plan), "--results", str(tmp_path / "results")],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 0 and "3 runs: " in result.stdout, result.stderr


def test_check_reads_overlays_as_snakemake_does_and_reports_each_problem(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text("device: cpu\nseeds: [43, 44]\n")
    assert cli.main(["check", "--repo", str(REPO), "--configfile", str(good)]) == 0
    assert "check out" in capsys.readouterr().out
    bad_yaml, bad_type = tmp_path / "bad.yaml", tmp_path / "type.yaml"
    bad_yaml.write_text("a: [1\n")
    bad_type.write_text("seeds: fourty-three\n")
    assert cli.main(["check", "--repo", str(REPO), "--configfile", str(bad_yaml)]) == 1
    assert f"config file {bad_yaml}, line 2" in capsys.readouterr().err
    assert cli.main(["check", "--repo", str(REPO), "--configfile", str(good), str(bad_type)]) == 1
    assert "seeds" in capsys.readouterr().err
    missing = tmp_path / "missing.yaml"
    missing.write_text("datasets:\n  mnist:\n    source: imagefolder\n    path: no/such/dir\n")
    assert cli.main(["check", "--repo", str(REPO), "--configfile", str(missing)]) == 1
    assert "datasets.mnist.path = 'no/such/dir' does not exist" in capsys.readouterr().err


def test_showcase_writes_only_where_told_and_names_what_it_replaces(finished_run, tmp_path, pdftoppm, capsys):  # noqa: F811
    with pytest.raises(SystemExit):
        cli.main(["showcase", str(finished_run)])  # no --out: nothing is written anywhere
    assert "--out" in capsys.readouterr().err
    out = tmp_path / "show"
    assert cli.main(["showcase", str(finished_run), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "replaces" not in said and f"wrote {out / 'claims.md'}" in said
    figures = ["frontier.png", "lr_sweep.png", "pruning.png", "quantization.png"]
    assert sorted(p.name for p in out.iterdir()) == ["claims.md", *figures]
    assert cli.main(["showcase", str(finished_run), "--out", str(out)]) == 0
    assert f"replaces {out / 'lr_sweep.png'}" in capsys.readouterr().out


def test_bench_help_describes_the_tool_not_its_internals(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--help"])
    text = capsys.readouterr().out
    assert "throughput" in text and "results/bench" in text and "--quick" in text


def test_bench_runs_the_batch_one_and_overhead_benches_only_when_asked(monkeypatch):
    """`effdl bench --small-batch --overhead` hands its output folder (and threads) to the two extra benches."""
    import argparse

    from effdl.bench import __main__ as bench_main
    from effdl.bench import overhead, small_batch

    calls = []
    monkeypatch.setattr(small_batch, "main", lambda argv: calls.append(("small_batch", argv)) or 0)
    monkeypatch.setattr(overhead, "main", lambda argv: calls.append(("overhead", argv)) or 0)
    args = cli.bench_parser().parse_args(["--out", "o", "--threads", "1", "--small-batch", "--overhead"])
    assert bench_main.run_extra_benches(args) == 0
    assert calls == [("small_batch", ["--out", "o", "--threads", "1"]), ("overhead", ["--out", "o"])]
    calls.clear()
    neither = argparse.Namespace(**{**vars(args), "small_batch": False, "overhead": False})
    assert bench_main.run_extra_benches(neither) == 0
    assert calls == []


def test_cost_in_hours_and_minutes():
    assert work.hours_minutes(27) == "27 s" and work.hours_minutes(12 * 60 + 10) == "12 min"
    assert work.hours_minutes(45 * 3600 + 31 * 60) == "45 h 31 min" and work.hours_minutes(3 * 86400) == "72 h 00 min"
