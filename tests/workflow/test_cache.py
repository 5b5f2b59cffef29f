"""Between-workflow cache: a second clone builds a figure from the first clone's training runs, and misses on change.

Two copies of the repository share one SNAKEMAKE_OUTPUT_CACHE and build results/figs/lr_sweep.pdf on a tiny
overlay of the smoke config (one lr, one seed, one epoch, 200 images). Each copy runs its own library
(PYTHONPATH=<copy>/src), as a separate clone with its own editable install would.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import copy_repo, snakemake

TARGET = "results/figs/lr_sweep.pdf"
RUN = "results/runs/part1/lr_sweep_lr0.1_seed43"


def overlay(path: Path, lr: float) -> Path:
    """Part 1.1 with one lr, one seed, one epoch on 200 CIFAR-10 images (of each clone's .test/ copy)."""
    data = {"cifar10": {"subset": {"train_per_class": 20, "test_per_class": 10, "seed": 0}}}
    settings = {
        "seeds": [43],
        "datasets": data,
        "schedules": {"smoothing_window": 2, "lr_sweep": {"lrs": [lr], "epochs": 1}},
    }
    path.write_text(yaml.safe_dump(settings))
    return path


def run(clone: Path, cache: Path, lr: float, *options: str, timeout: int = 600) -> str:
    """snakemake --cache in `clone` on the tiny overlay; returns its output (stdout + stderr)."""
    env = {**os.environ, "SNAKEMAKE_OUTPUT_CACHE": str(cache), "PYTHONPATH": str(clone / "src")}
    settings = overlay(clone / f"overlay_lr{lr}.yaml", lr)
    args = ["--cores", "2", "--cache", "--configfile", "config/smoke.yaml", str(settings), *options, "--", TARGET]
    result = snakemake(*args, cwd=clone, env=env, timeout=timeout)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-5000:]
    return out


@pytest.fixture(scope="module")
def clones(tmp_path_factory):
    """Clone A builds the figure (and fills the cache); clone B then builds it too, from the cache."""
    root = tmp_path_factory.mktemp("cache")
    cache = root / "cache"
    cache.mkdir()
    a, b = copy_repo(root / "a"), copy_repo(root / "b")
    out_a = run(a, cache, 0.1)
    out_b = run(b, cache, 0.1)
    return a, b, cache, out_a, out_b


@pytest.mark.slow
def test_first_clone_trains_and_fills_the_cache(clones):
    a, _, cache, out_a, _ = clones
    assert (a / TARGET).exists()
    assert (a / "results/logs/train_model/part1/lr_sweep_lr0.1_seed43.log").exists(), "clone A did not train"
    assert f"Moving output file {RUN}/model.pt to cache" in out_a
    assert (a / RUN / "model.pt").is_symlink() and (a / RUN / "model.pt").resolve().parent == cache.resolve()


@pytest.mark.slow
def test_second_clone_builds_the_figure_without_training(clones):
    a, b, cache, _, out_b = clones
    assert (b / TARGET).exists()
    # the cached jobs' scripts never ran in B: Snakemake creates their log files, the scripts would fill them
    for log in ("train_model/part1/lr_sweep_lr0.1_seed43.log", "prepare_data/cifar10.log"):
        path = b / "results/logs" / log
        assert not path.exists() or path.stat().st_size == 0, f"{log}: {path.read_text()[:500]}"
    assert "Moving output file" not in out_b, "clone B computed something cacheable instead of reusing it"
    for name in ("iters.csv", "epochs.csv", "summary.csv", "model.pt"):
        assert f"Symlinking output file {RUN}/{name} from cache" in out_b
        assert (b / RUN / name).resolve() == (a / RUN / name).resolve()
    # the benchmark travels with the run: the appendix of B shows the time A's training took
    bench = "results/benchmarks/train_model/part1/lr_sweep_lr0.1_seed43.tsv"
    assert pd.read_csv(b / bench, sep="\t")["s"].iloc[-1] > 0
    # the figure's own jobs still ran in B
    assert (b / "results/logs/plot_training_curves/lr_sweep.log").exists()


@pytest.mark.slow
def test_a_changed_lr_misses(clones):
    _, b, cache, _, _ = clones
    out = run(b, cache, 0.05, "-n")
    assert (
        "Output file results/runs/part1/lr_sweep_lr0.05_seed43/iters.csv will be written to global "
        "between-workflow cache" in out
    )


@pytest.mark.slow
def test_changed_library_code_misses_where_it_runs_and_comments_and_report_code_do_not(clones):
    _, b, cache, _, _ = clones
    engine = b / "src" / "effdl" / "engine.py"
    original = engine.read_text()
    try:
        # a comment changes no syntax tree, so no cache key
        engine.write_text(original + "\n# a comment on the training code\n")
        out = run(b, cache, 0.1, "-n", "--forceall")
        assert f"Output file {RUN}/iters.csv will be obtained from global between-workflow cache" in out
        engine.write_text(original + "\n\ndef _a_change_to_the_training_code():\n    return 1\n")
        out = run(b, cache, 0.1, "-n", "--forceall")
        assert f"Output file {RUN}/iters.csv will be written to global between-workflow cache" in out
        # preparing the data does not run the engine: its key stays
        assert "Output file results/data/cifar10.pt will be obtained from global between-workflow cache" in out
    finally:
        engine.write_text(original)
    plotting = b / "src" / "effdl" / "report" / "plotting.py"
    plotting.write_text(plotting.read_text() + "\n\ndef _a_change_to_the_figure_code():\n    return 1\n")
    out = run(b, cache, 0.1, "-n", "--forceall")
    assert f"Output file {RUN}/iters.csv will be obtained from global between-workflow cache" in out
    assert "Output file results/data/cifar10.pt will be obtained from global between-workflow cache" in out
