"""Where a finished run's wall time went: each job's interval from its benchmark file, grouped into stages.

Snakemake's benchmark files give each job's seconds (`s`) and the file is written when the job ends, so a job
ran over [mtime - s, mtime]. On a machine running several jobs at once, each second of wall time is split
evenly among the jobs running in it; a stage's "wall" is the sum of its jobs' shares, so the stages add up to
the time any job ran (the rest, "between jobs", is Snakemake's own: DAG building and job start-up gaps).
Read the folder where the run wrote it: copying the files changes their mtimes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

# stage -> rule names (a trailing * matches a prefix); every rule of workflow/rules has exactly one stage
# (tests/test_report_stages.py). Per-epoch test evaluation runs inside the training jobs.
STAGES = {
    "data": ("prepare_data", "download_*"),
    "training (with each epoch's test)": ("train_model", "train_toy_transformer"),
    "PTQ evaluation": ("quantize_model_*", "pack_quantized_model", "aggregate_quant"),
    "pruning sweeps and timing": (
        "oneshot_prune_sweep",
        "benchmark_pruned_models",
        "export_slim_model",
        "tabulate_pruning_sparsity",
        "benchmark_frontier_models",
        "benchmark_dwconv",
        "time_dwconv_epochs",
        "count_matmuls",
        "count_dwconv_params",
    ),
    "paper, figures and hand-in": (
        "aggregate_runs",
        "plot_*",
        "tex_*",
        "frontier_table",
        "seed_tests",
        "build_paper",
        "notebook",
        "submission_zip",
        "effdl_wheel",
        "report_*",
    ),
}
BETWEEN_JOBS = "between jobs (DAG building, job start-up gaps)"


def stage_of(rule: str) -> str | None:
    """The stage a rule belongs to, or None for a rule no stage lists."""
    for stage, patterns in STAGES.items():
        for pattern in patterns:
            if rule == pattern or (pattern.endswith("*") and rule.startswith(pattern[:-1])):
                return stage
    return None


def job_intervals(benchmarks_dir: str | Path) -> pd.DataFrame:
    """One row per benchmark file: rule, stage, start and end (epoch seconds), seconds."""
    rows = []
    root = Path(benchmarks_dir)
    for tsv in sorted(root.rglob("*.tsv")):
        parts = tsv.relative_to(root).parts
        rule = parts[0] if len(parts) > 1 else tsv.stem
        seconds = float(pd.read_csv(tsv, sep="\t")["s"].iloc[-1])
        end = tsv.stat().st_mtime
        rows.append(
            {"rule": rule, "stage": stage_of(rule) or "other", "start": end - seconds, "end": end, "s": seconds}
        )
    return pd.DataFrame(rows, columns=["rule", "stage", "start", "end", "s"])


def stage_breakdown(jobs: pd.DataFrame, wall_s: float | None = None) -> pd.DataFrame:
    """Per stage: jobs, the sum of their seconds, their share of the wall time (concurrent seconds split evenly)
    and that share in percent of `wall_s` (default: first job start to last job end); a last row for the time
    no job ran when `wall_s` exceeds the jobs' span, and a total row."""
    columns = ["stage", "jobs", "job seconds", "wall seconds", "wall %"]
    if jobs.empty:
        return pd.DataFrame(columns=columns)
    edges = sorted(set(jobs["start"]) | set(jobs["end"]))
    share = dict.fromkeys(jobs["stage"].unique(), 0.0)
    covered = 0.0
    for left, right in zip(edges, edges[1:]):
        running = jobs[(jobs["start"] < right) & (jobs["end"] > left)]
        if running.empty:
            continue
        covered += right - left
        for stage in running["stage"]:
            share[stage] += (right - left) / len(running)
    span = jobs["end"].max() - jobs["start"].min()
    wall = span if wall_s is None else float(wall_s)
    rows = []
    for stage in [*STAGES, "other"]:
        if stage in share:
            of_stage = jobs[jobs["stage"] == stage]
            rows.append([stage, len(of_stage), of_stage["s"].sum(), share[stage]])
    if wall - covered > 0.5:
        rows.append([BETWEEN_JOBS, 0, 0.0, wall - covered])
    rows.append(["total", len(jobs), jobs["s"].sum(), wall])
    table = pd.DataFrame(rows, columns=columns[:-1])
    table["wall %"] = 100.0 * table["wall seconds"] / wall
    return table


def minutes(seconds: float) -> str:
    """`seconds` as '1 h 02 min' or '12.5 min'."""
    if seconds >= 3600:
        hours, rest = divmod(round(seconds / 60), 60)
        return f"{hours} h {rest:02d} min"
    return f"{seconds / 60:.1f} min"


def breakdown_markdown(table: pd.DataFrame) -> str:
    """The breakdown as a GitHub Markdown table (minutes)."""
    lines = ["| stage | jobs | sum of job times | share of wall time | % |", "| --- | ---: | ---: | ---: | ---: |"]
    for row in table.itertuples(index=False):
        name = f"**{row[0]}**" if row[0] == "total" else row[0]
        lines.append(f"| {name} | {row[1]} | {minutes(row[2])} | {minutes(row[3])} | {row[4]:.0f} |")
    return "\n".join(lines) + "\n"
