"""The wall-time breakdown of a finished run (effdl.report.stages): intervals from benchmark files, shares."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pytest

from effdl.plan.quant_variants import quantize_rule
from effdl.report.stages import BETWEEN_JOBS, STAGES, breakdown_markdown, job_intervals, stage_breakdown, stage_of

REPO = Path(__file__).resolve().parents[1]


def workflow_rules() -> set[str]:
    names = set()
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        names |= set(re.findall(r"^\s*rule (\w+):", smk.read_text(), re.M))
    return (names - {"all"}) | {quantize_rule("convnet"), quantize_rule("mnist_mlp")}


def test_every_rule_of_the_workflow_has_exactly_one_stage():
    for rule in workflow_rules():
        stages = [
            s
            for s, patterns in STAGES.items()
            if any(p == rule or (p.endswith("*") and rule.startswith(p[:-1])) for p in patterns)
        ]
        assert len(stages) == 1, (rule, stages)
    assert stage_of("a_rule_nobody_classified") is None


def jobs(*rows) -> pd.DataFrame:
    return pd.DataFrame([{"rule": r, "stage": stage_of(r), "start": a, "end": b, "s": b - a} for r, a, b in rows])


def test_concurrent_seconds_are_split_and_the_stages_add_up_to_the_wall_time():
    # train 0-100 alone for 50 s, beside a PTQ job 50-70 (20 s shared), a figure 120-130 after a 20 s gap
    table = stage_breakdown(
        jobs(("train_model", 0, 100), ("quantize_model_convnet", 50, 70), ("plot_pruning", 120, 130))
    )
    wall = table.set_index("stage")["wall seconds"]
    assert wall["training (with each epoch's test)"] == pytest.approx(80 + 10)
    assert wall["PTQ evaluation"] == pytest.approx(10)
    assert wall["paper, figures and hand-in"] == pytest.approx(10)
    assert wall[BETWEEN_JOBS] == pytest.approx(20)
    assert wall["total"] == pytest.approx(130)
    assert table.set_index("stage")["job seconds"]["total"] == pytest.approx(130)
    assert table[table["stage"] != "total"]["wall seconds"].sum() == pytest.approx(130)
    assert "| **total** | 3 |" in breakdown_markdown(table)


def test_a_longer_measured_wall_time_shows_as_time_between_jobs():
    table = stage_breakdown(jobs(("train_model", 0, 100)), wall_s=160)
    assert table.set_index("stage")["wall seconds"][BETWEEN_JOBS] == pytest.approx(60)
    assert table.set_index("stage")["wall %"]["training (with each epoch's test)"] == pytest.approx(62.5)


def test_job_intervals_end_at_the_benchmark_files_mtime(tmp_path):
    tsv = tmp_path / "train_model" / "part1" / "run.tsv"
    tsv.parent.mkdir(parents=True)
    tsv.write_text("s\th:m:s\n42.0\t0:00:42\n")
    os.utime(tsv, (1000.0, 1000.0))
    row = job_intervals(tmp_path).iloc[0]
    assert (row["rule"], row["start"], row["end"]) == ("train_model", 958.0, 1000.0)
