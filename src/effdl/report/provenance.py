"""The paper's provenance appendix: config, commit, seeds, devices, versions, data hashes, weights, rule wall times."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from effdl.plan.config import config_hash
from effdl.provenance import git_commit
from effdl.report.texgen import escape, fmt


def _values(frame: pd.DataFrame, column: str) -> str:
    if column not in frame:
        return "n/a"
    return ", ".join(str(v) for v in sorted(frame[column].dropna().astype(str).unique()))


def provenance_macros(
    summaries: pd.DataFrame,
    config: dict,
    label: str,
    configfiles: list[str],
    snakemake_version: str,
    repo_dir: str = ".",
) -> dict[str, str]:
    """Macros for the title page and the appendix, all read from the runs' rows and the live config."""
    weights = _values(summaries, "weights") if "weights" in summaries else "no pretrained weights used"
    return {
        "StudyLabel": escape(label),
        "StudyIsSmoke": "1" if "smoke" in label.lower() else "0",
        "ConfigFiles": escape(", ".join(configfiles)),
        "ConfigHash": config_hash(config),
        "GitCommit": escape(git_commit(repo_dir)),
        "RunCommits": escape(_values(summaries, "git_commit")),
        "StudySeeds": escape(", ".join(str(s) for s in config["seeds"])),
        "StudyDevices": escape(_values(summaries, "device")),
        "StudyPrecisions": escape(_values(summaries, "precision")),
        "TorchVersion": escape(_values(summaries, "torch_version")),
        "TorchvisionVersion": escape(_values(summaries, "torchvision_version")),
        "SnakemakeVersion": escape(snakemake_version),
        "WeightsStatus": escape(weights),
        "NumRuns": str(len(summaries)),
    }


def data_sources_table(summaries: pd.DataFrame) -> pd.DataFrame:
    """One row per data source used: data set, source, sha256, train/test images."""
    cols = ["dataset", "data_source", "data_sha256", "n_train", "n_test"]
    table = summaries[cols].drop_duplicates().sort_values(cols[:2])
    return pd.DataFrame(
        {
            "data set": table["dataset"].map(escape),
            "source": table["data_source"].map(lambda s: f"\\path{{{s}}}"),
            "sha256": table["data_sha256"].map(lambda s: f"\\texttt{{{str(s)[:16]}\\ldots}}"),
            "train": table["n_train"].map(lambda v: fmt(int(v))),
            "test": table["n_test"].map(lambda v: fmt(int(v))),
        }
    )


# The two rules that write the appendix and the PDF run after it is written, so it cannot time them.
UNTIMED_RULES = ("tex_provenance", "build_paper")


def rule_runtimes(benchmarks_dir: str | Path) -> pd.DataFrame:
    """Wall time per rule from Snakemake benchmark files (results/benchmarks/<rule>/...tsv), plain-text cells."""
    rows = []
    for tsv in sorted(Path(benchmarks_dir).rglob("*.tsv")):
        parts = tsv.relative_to(benchmarks_dir).parts
        rule = parts[0] if len(parts) > 1 else tsv.stem
        seconds = pd.read_csv(tsv, sep="\t")["s"].iloc[-1]
        rows.append({"rule": rule, "s": float(seconds)})
    if not rows:
        return pd.DataFrame(columns=["rule", "jobs", "total (s)", "max (s)"])
    frame = pd.DataFrame(rows)
    table = frame.groupby("rule")["s"].agg(["count", "sum", "max"]).reset_index()
    table.columns = ["rule", "jobs", "total (s)", "max (s)"]
    total = pd.DataFrame(
        [
            {
                "rule": "whole study (sum of all jobs)",
                "jobs": int(table["jobs"].sum()),
                "total (s)": table["total (s)"].sum(),
                "max (s)": table["max (s)"].max(),
            }
        ]
    )
    return pd.concat([table, total], ignore_index=True)
