"""Each part's results as one tidy table (setting, metric, mean, interval, n, unit, provenance), and the one formatter.

A result row summarises one metric of one setting over its independent units (trained models, seeds): the mean,
the Student-t 95 % interval clipped to what the metric can take (`low`, `high`; `half_width` unclipped), `n`,
the unit, and where the numbers come from (`source`, the runs' `devices` and `git_commits`). A part's rows are
computed once, written to results/metrics/results_<topic>.csv by the part's TeX rule, and everything that prints
them (the part's table and macros, the claims table, the notebook through those tables) turns a row into text
with `format_result`: "mean ± half-width" (the paper's convention, stated once in its methods), "mean [low, high]"
where the interval is clipped, the mean alone for one unit.

Torch-free (pandas and scipy only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from effdl.report.stats import ACCURACY_RANGE, t_interval

COLUMNS = ["part", "experiment", "setting", "metric", "mean", "low", "high", "half_width", "n", "unit"]
PROVENANCE_COLUMNS = ["source", "devices", "git_commits"]
# How each unit is printed after a number: in TeX (the paper's tables) and as plain text (the claims, the notebook).
UNITS_TEX = {"%": r"\%", "points": "points", "s": "s", "": ""}
PM_TEX = r"$\pm$"
NO_BOUNDS = (-math.inf, math.inf)
TIME_RANGE = (0.0, math.inf)


def summarise(
    values: Sequence[float],
    *,
    metric: str,
    unit: str,
    bounds: tuple[float, float] = NO_BOUNDS,
    **labels,
) -> dict:
    """One result row: mean, 95 % t-interval clipped to `bounds`, unclipped half-width and n of the finite
    `values` (one per independent unit), with `metric`, `unit` and any labels (part, experiment, setting, ...)."""
    interval = t_interval(list(values))
    half = interval.half_width
    low, high = (interval.mean, interval.mean) if math.isnan(half) else (interval.mean - half, interval.mean + half)
    return {
        **labels,
        "metric": metric,
        "mean": interval.mean,
        "low": max(bounds[0], low) if interval.n else float("nan"),
        "high": min(bounds[1], high) if interval.n else float("nan"),
        "half_width": half,
        "n": interval.n,
        "unit": unit,
    }


def interval_row(
    mean: float, half_width: float, n: int, *, metric: str, unit: str, bounds: tuple[float, float] = NO_BOUNDS, **labels
) -> dict:
    """A result row from a mean and an unclipped 95 % t half-width computed elsewhere (NaN for one unit)."""
    half = float("nan") if half_width is None or pd.isna(half_width) else float(half_width)
    low, high = (mean, mean) if math.isnan(half) else (max(bounds[0], mean - half), min(bounds[1], mean + half))
    return {
        **labels,
        "metric": metric,
        "mean": mean,
        "low": low,
        "high": high,
        "half_width": half,
        "n": n,
        "unit": unit,
    }


def provenance(runs: pd.DataFrame, source: str) -> dict:
    """The provenance columns of rows computed from `runs` (a summary.csv's rows): its CSV, devices, commits."""

    def joined(column: str) -> str:
        return ", ".join(sorted(runs[column].astype(str).unique())) if column in runs else ""

    return {"source": source, "devices": joined("device"), "git_commits": joined("git_commit")}


def format_result(row: Mapping, digits: int = 2, *, tex: bool = True, unit: bool = False, n: bool = False) -> str:
    """The one way a result is printed: 'mean ± half-width' ('$\\pm$' in TeX), 'mean [low, high]' when the interval
    is clipped to the metric's range, the mean alone for one unit, 'n/a' for none; `unit` appends the row's unit,
    `n` its count ('(n=3)')."""
    count = int(row["n"])
    if count == 0 or pd.isna(row["mean"]):
        return "n/a"
    mean, half = float(row["mean"]), float(row["half_width"])
    text = f"{mean:.{digits}f}"
    if not math.isnan(half):
        low, high = float(row["low"]), float(row["high"])
        # clipped when either end moved inward; compared at the printed precision plus float noise
        tolerance = 1e-9 * max(1.0, abs(mean), half)
        if low > mean - half + tolerance or high < mean + half - tolerance:
            text += f" [{low:.{digits}f}, {high:.{digits}f}]"
        else:
            text += f" {PM_TEX if tex else '±'} {half:.{digits}f}"
    if unit and row["unit"]:
        text += f" {UNITS_TEX.get(row['unit'], row['unit']) if tex else row['unit']}"
    if n:
        text += f" (n={count})"
    return text


def format_values(
    values: Sequence[float],
    digits: int = 2,
    *,
    bounds: tuple[float, float] = ACCURACY_RANGE,
    unit: str = "",
    tex: bool = True,
    n: bool = False,
) -> str:
    """format_result of the summary of `values` (for callers holding raw values, not a results table)."""
    row = summarise(values, metric="", unit=unit, bounds=bounds)
    return format_result(row, digits, tex=tex, unit=bool(unit), n=n)


def format_mean_half_width(
    mean: float, half_width: float, digits: int = 2, bounds: tuple[float, float] | None = ACCURACY_RANGE
) -> str:
    """format_result of a mean and an unclipped half-width computed elsewhere (NaN: one unit)."""
    half = float("nan") if half_width is None or pd.isna(half_width) else float(half_width)
    row = interval_row(mean, half, 1 if math.isnan(half) else 2, metric="", unit="", bounds=bounds or NO_BOUNDS)
    return format_result(row, digits)


def lookup(results: pd.DataFrame, **match) -> pd.Series:
    """The one row of `results` whose columns equal `match` (KeyError naming the match when there is none)."""
    selected = results
    for column, value in match.items():
        selected = selected[selected[column] == value]
    if len(selected) != 1:
        raise KeyError(f"{len(selected)} result rows match {match}")
    return selected.iloc[0]


def results_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows in the tidy table's column order (labels first, provenance last)."""
    frame = pd.DataFrame(rows)
    first = [c for c in COLUMNS if c in frame]
    last = [c for c in PROVENANCE_COLUMNS if c in frame]
    return frame[first + [c for c in frame if c not in first + last] + last]


# ---- Part 1 (schedules): the learning-rate sweep and the scheduler comparison


def part1_results(sweep: pd.DataFrame, sched: pd.DataFrame) -> pd.DataFrame:
    """Part 1's tidy results: final test accuracy (%) and training time per run (s) for each learning rate of the
    sweep (setting 'lr 0.1') and each scheduler (setting its registry name), over the seeds."""
    rows = []
    sources = {"lr_sweep": "part1_lr_sweep/summary.csv", "schedulers": "part1_schedulers/summary.csv"}
    for experiment, frame, by in (("lr_sweep", sweep, "lr"), ("schedulers", sched, "scheduler")):
        for key, group in frame.groupby(by, sort=True):
            labels = {
                "part": "1.1" if experiment == "lr_sweep" else "1.2",
                "experiment": experiment,
                "setting": f"lr {key:g}" if by == "lr" else str(key),
            }
            origin = provenance(group, sources[experiment])
            rows.append(
                summarise(group["final_test_acc"], metric="final_test_acc", unit="%", bounds=ACCURACY_RANGE, **labels)
                | origin
            )
            rows.append(
                summarise(group["total_time_s"], metric="total_time_s", unit="s", bounds=TIME_RANGE, **labels) | origin
            )
    return results_frame(rows)


# ---- Part 4 (finetune): ResNet-18 fine-tuning, and the LoRA rank control


def part4_results(
    summary: pd.DataFrame,
    epochs: pd.DataFrame,
    ranks: pd.DataFrame | None = None,
    ranks_epochs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Part 4's tidy results per model (setting: its variant name, or 'net_freeze_lora r=1' for the rank control):
    test accuracy before fine-tuning and after it (%), and the mean time of an epoch per run (s), over seeds."""
    rows = []
    runs_of = [("finetune", summary, epochs, "variant", "part4_finetune")]
    if ranks is not None and not ranks.empty:
        runs_of.append(("lora_ranks", ranks, ranks_epochs, "lora_r", "part4_lora_ranks"))
    for experiment, runs, run_epochs, by, folder in runs_of:
        for key, group in runs.groupby(by, sort=True):
            setting = str(key) if by == "variant" else f"net_freeze_lora r={int(key)}"
            labels = {"part": "4", "experiment": experiment, "setting": setting}
            origin = provenance(group, f"{folder}/summary.csv")
            of_runs = run_epochs[run_epochs["run"].isin(group["run"])]
            before = of_runs[of_runs["epoch"] == 0]["test_acc"]
            seconds = of_runs[of_runs["epoch"] >= 1].groupby("run")["epoch_time_s"].mean()
            rows += [
                summarise(before, metric="pre_finetune_acc", unit="%", bounds=ACCURACY_RANGE, **labels) | origin,
                summarise(group["final_test_acc"], metric="final_test_acc", unit="%", bounds=ACCURACY_RANGE, **labels)
                | origin,
                summarise(seconds, metric="epoch_time_s", unit="s", bounds=TIME_RANGE, **labels) | origin,
            ]
    return results_frame(rows)


# ---- Part 5 (transformer): the toy reversal task


def part5_results(toy: pd.DataFrame) -> pd.DataFrame:
    """Part 5's tidy results: the toy transformer's greedy token and sequence accuracy, teacher-forced token
    accuracy (%) and training time (s), over its seeds."""
    labels = {"part": "5", "experiment": "toy_transformer", "setting": "digit reversal"}
    origin = provenance(toy, "transformer_toy/seed*/summary.csv")
    rows = [
        summarise(toy[metric], metric=metric, unit="%", bounds=ACCURACY_RANGE, **labels) | origin
        for metric in ("greedy_token_acc", "greedy_seq_acc", "tf_token_acc")
    ]
    rows.append(summarise(toy["train_time_s"], metric="train_time_s", unit="s", bounds=TIME_RANGE, **labels) | origin)
    return results_frame(rows)


# ---- Part 6 (dwconv): DWConvNet trained as the ConvNet was


def part6_results(summary: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
    """Part 6's tidy results: DWConvNet's final and best test accuracy, final training error (%, 100 - the last
    epoch's training accuracy) and training time (s), over its seeds."""
    labels = {"part": "6.2", "experiment": "dwconv", "setting": "dwconvnet"}
    origin = provenance(summary, "part6_dwconv/summary.csv")
    last = epochs[epochs["epoch"] == epochs.groupby("run")["epoch"].transform("max")]
    rows = [
        summarise(summary["final_test_acc"], metric="final_test_acc", unit="%", bounds=ACCURACY_RANGE, **labels),
        summarise(summary["best_test_acc"], metric="best_test_acc", unit="%", bounds=ACCURACY_RANGE, **labels),
        summarise(100.0 - last["train_acc"], metric="final_train_error", unit="%", bounds=ACCURACY_RANGE, **labels),
        summarise(summary["total_time_s"], metric="total_time_s", unit="s", bounds=TIME_RANGE, **labels),
    ]
    return results_frame([row | origin for row in rows])


# ---- Part 2 (quant): post-training quantization


def quant_setting(granularity: str, rounding: str, bits) -> str:
    """A PTQ variant as a results setting: 'fp32', or 'tensor nearest 8-bit'."""
    return "fp32" if rounding == "fp32" else f"{granularity} {rounding} {int(bits)}-bit"


def part2_results(summary: pd.DataFrame) -> pd.DataFrame:
    """Part 2's tidy results from the PTQ summary (effdl.report.part2.summarize_ptq: one row per variant, its
    interval over trained models): test accuracy (%) per net (`experiment`) and variant (`setting`)."""
    rows = []
    for v in summary.itertuples():
        labels = {"part": "2", "experiment": v.net, "setting": quant_setting(v.granularity, v.rounding, v.bits)}
        origin = {
            "source": "quantization.csv",
            "devices": getattr(v, "device", ""),
            "git_commits": getattr(v, "git_commit", ""),
        }
        row = interval_row(
            v.acc_mean, v.acc_ci, int(v.checkpoints), metric="test_acc", unit="%", bounds=ACCURACY_RANGE, **labels
        )
        rows.append(row | origin)
    return results_frame(rows)


# ---- Part 3 (prune): gradual pruning


def part3_results(pruned: pd.DataFrame, baseline: pd.DataFrame, sanity: pd.DataFrame) -> pd.DataFrame:
    """Part 3's tidy results: final test accuracy (%) over seeds of the sanity run (3.2), the dense ConvNet
    baseline and each gradual pruning mode (3.3, 3.4)."""
    rows = [
        summarise(
            sanity["final_test_acc"],
            part="3.2",
            experiment="sanity",
            setting="sparse_convnet",
            metric="final_test_acc",
            unit="%",
            bounds=ACCURACY_RANGE,
        )
        | provenance(sanity, "part3_sanity/summary.csv"),
        summarise(
            baseline["final_test_acc"],
            part="3.3",
            experiment="pruning",
            setting="baseline",
            metric="final_test_acc",
            unit="%",
            bounds=ACCURACY_RANGE,
        )
        | provenance(baseline, "part1_schedulers/summary.csv"),
    ]
    for mode in sorted(pruned["mode"].unique()):
        runs = pruned[pruned["mode"] == mode]
        rows.append(
            summarise(
                runs["final_test_acc"],
                part="3.3" if mode == "structured" else "3.4",
                experiment="pruning",
                setting=mode,
                metric="final_test_acc",
                unit="%",
                bounds=ACCURACY_RANGE,
            )
            | provenance(runs, "part3_pruning/summary.csv")
        )
    return results_frame(rows)
