"""The paper's provenance appendix: config, commit, seeds, devices, versions, data hashes, weights, rule wall times."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from effdl.plan.config import config_hash
from effdl.provenance import git_commit
from effdl.report.answers import precision_text
from effdl.report.deviations import network_tested_text
from effdl.report.environment import cpu_model, package_versions, scrub_paths
from effdl.report.stages import job_intervals
from effdl.report.stats import ALPHA, CONFIDENCE, SEEDS_SHOWN_MAX
from effdl.report.texgen import escape, fmt
from effdl.report.words import CHANCE_MARGIN, FLAT_POINTS, SPIKE_FACTOR


def breakable(tex: str) -> str:
    """Let TeX break a long typewriter token (a target path) after each '/' and '_' instead of overrunning the
    column: `snakemake results/submission/CS2420_PSet2_<names>.zip` is one word to TeX."""
    return tex.replace("/", "/\\allowbreak{}").replace("\\_", "\\_\\allowbreak{}")


def _values(frame: pd.DataFrame, column: str) -> str:
    if column not in frame:
        return "n/a"
    return ", ".join(str(v) for v in sorted(frame[column].dropna().astype(str).unique()))


def _gpu_models(summaries: pd.DataFrame) -> str:
    devices = sorted({str(d) for d in summaries.get("device", pd.Series(dtype=str)).dropna()})
    gpus = [d.split(":", 1)[1] for d in devices if d.startswith("cuda:")]
    return ", ".join(gpus) if gpus else "none (every run on the CPU)"


def provenance_macros(
    summaries: pd.DataFrame,
    config: dict,
    label: str,
    configfiles: list[str],
    snakemake_version: str,
    repo_dir: str = ".",
    *,
    versions: dict[str, str] | None = None,
    command: str | None = None,
) -> dict[str, str]:
    """Macros for the title page and the appendix, all read from the runs' rows and the live config.

    `versions` are the report-building process's package versions (environment.package_versions()).
    """
    weights = _values(summaries, "weights") if "weights" in summaries else "no pretrained weights used"
    versions = versions or package_versions()
    if "cpu_model" in summaries and summaries["cpu_model"].notna().any():
        cpu = _values(summaries, "cpu_model")
    else:
        cpu = f"{cpu_model()} (the paper build's machine; the runs did not record theirs)"
    macros = {
        "StudyLabel": escape(label),
        "StudyIsSmoke": "1" if "smoke" in label.lower() else "0",
        "ConfigFiles": escape(", ".join(scrub_paths(str(f), repo_dir) for f in configfiles)),
        "CommandLine": breakable(escape(command or "not recorded").replace("-", "-{}")),  # no -- ligature
        "ConfigHash": config_hash(config),
        "GitCommit": escape(git_commit(repo_dir)),
        "RunCommits": escape(_values(summaries, "git_commit")),
        "StudySeeds": escape(", ".join(str(s) for s in config["seeds"])),
        "StudyDevices": escape(_values(summaries, "device")),
        "StudyPrecisions": escape(precision_text(summaries)),
        "StudyTestNetwork": escape(network_tested_text(summaries)),
        "CpuModel": escape(cpu),
        "GpuModel": escape(_gpu_models(summaries)),
        "CudaVersion": escape(_values(summaries, "cuda_version") if "cuda_version" in summaries else "not recorded"),
        "CudnnVersion": escape(_values(summaries, "cudnn_version") if "cudnn_version" in summaries else "not recorded"),
        "TorchVersion": escape(_values(summaries, "torch_version")),
        "TorchvisionVersion": escape(_values(summaries, "torchvision_version")),
        "SnakemakeVersion": escape(snakemake_version),
        "WeightsStatus": escape(weights),
        "NumRuns": str(len(summaries)),
        "StatsAlpha": f"{ALPHA:g}",
        "StatsConfidence": f"{100 * CONFIDENCE:g}",
        "StatsFlatPoints": f"{FLAT_POINTS:g}",
        "StatsSpikeFactor": f"{SPIKE_FACTOR:g}",
        "StatsChanceMargin": f"{CHANCE_MARGIN:g}",
    }
    for name in ("python", "numpy", "pandas", "scipy", "matplotlib", "seaborn"):
        macros[name.capitalize() + "Version"] = escape(versions.get(name, "not installed"))
    macros.update(spread_macros(summaries))
    return macros


PART_WORDS = {"part1": "One", "part2": "Two", "part3": "Three", "part4": "Four", "part6": "Six"}


def spread_text(seeds: int) -> str:
    """What a figure draws around its mean, as its caption says it: each seed at n <= SEEDS_SHOWN_MAX (the figures
    draw no t-band there, plotting.py), else the t-interval band."""
    if seeds > SEEDS_SHOWN_MAX:
        return f"mean and {100 * CONFIDENCE:g}\\% t-interval over {seeds} seeds"
    return f"mean (thick) and each of the {seeds} seeds (thin)" if seeds > 1 else "one seed"


def spread_macros(summaries: pd.DataFrame) -> dict[str, str]:
    """\\SpreadPartOne ... per part: the captions' words for the spread its figures draw, from its seed count."""
    out = {}
    for part, word in PART_WORDS.items():
        rows = summaries[summaries["part"] == part] if "part" in summaries else summaries.iloc[0:0]
        out[f"SpreadPart{word}"] = spread_text(int(rows["seed"].nunique()) if len(rows) else 0)
    return out


def data_sources_table(summaries: pd.DataFrame) -> pd.DataFrame:
    """One row per data source used: data set, source, sha256, train/test images."""
    cols = ["dataset", "data_source", "data_sha256", "n_train", "n_test"]
    table = summaries[cols].drop_duplicates().sort_values(cols[:2])
    return pd.DataFrame(
        {
            "data set": table["dataset"].map(escape),
            "source": table["data_source"].map(lambda s: f"\\path{{{s}}}"),
            "sha256": table["data_sha256"].map(lambda s: f"\\texttt{{\\scriptsize {s}}}"),
            "train": table["n_train"].map(lambda v: fmt(int(v))),
            "test": table["n_test"].map(lambda v: fmt(int(v))),
        }
    )


# The rules that write the appendix and the PDF, the submission's wheel, notebook and zip (built from the PDF's
# inputs and the PDF), run after the runtime table is written, so it cannot time them; nor the report's
# PNGs and landing page (workflow/rules/dashboard.smk), which may run after it.
UNTIMED_RULES = (
    "tex_provenance",
    "build_paper",
    "effdl_wheel",
    "notebook",
    "submission_zip",
    "report_png",
    "report_description",
)


def rule_runtimes(benchmarks_dir: str | Path) -> pd.DataFrame:
    """Wall time per rule from Snakemake benchmark files (results/benchmarks/<rule>/...tsv), plain-text cells."""
    frame = job_intervals(benchmarks_dir)
    if frame.empty:
        return pd.DataFrame(columns=["rule", "jobs", "total (s)", "max (s)"])
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
