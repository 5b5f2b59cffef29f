"""The efficiency frontier's figure plans only its own ancestors (smoke config dry run)."""

from __future__ import annotations

import yaml
from helpers import REPO, job_counts, snakemake

DRY = ("-n", "--nolock", "--cores", "4", "--resources", "gpu=1", "--workflow-profile", "none", "--forceall")


def test_frontier_figure_plans_only_what_it_needs():
    result = snakemake("results/figs/frontier.pdf", *DRY, "--configfile", "config/smoke.yaml")
    assert result.returncode == 0, result.stderr + result.stdout
    counts = job_counts(result.stdout)
    assert counts["frontier_table"] == counts["plot_frontier"] == counts["benchmark_frontier_models"] == 1
    smoke = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    seeds = smoke.get("seeds", base["seeds"])
    dw_seeds = smoke.get("dwconv", {}).get("train", {}).get("seeds", base["dwconv"]["train"]["seeds"])
    # the MultiStep ConvNet per seed (fp32, PTQ and one-shot parent), the MNIST MLP per seed (the PTQ rows are
    # one aggregated CSV), one pruned run per (mode, seed), the DWConvNet: no other training
    assert counts["train_model"] == len(seeds) * (1 + 1 + 2) + len(dw_seeds)
    planned = result.stdout
    for unneeded in ("part1/lr_sweep", "sched_cosine", "part3/sanity", "part4/", "results/paper.pdf"):
        assert unneeded not in planned, unneeded
    for rule in ("tex_frontier", "build_paper", "train_toy_transformer", "plot_quantization", "tex_part3"):
        assert rule not in counts, rule
