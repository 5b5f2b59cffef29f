"""Summaries over seeds of run-level CSVs: mean, 95% t-interval and n per setting, the best setting, comparisons."""

from __future__ import annotations

import pandas as pd

from effdl.report.stats import format_interval, mean_ci, t_interval
from effdl.report.texgen import compare


def over_seeds(summary: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean, std, 95% t half-width `ci` (NaN for one seed), min, max and seed count of `value` per setting."""
    grouped = summary.groupby(by, sort=True)[value]
    out = grouped.agg(["mean", "std", "min", "max", "count"]).reset_index()
    out["ci"] = [t_interval(group).half_width for _, group in grouped]
    return out.rename(columns={"count": "seeds"})


def best_setting(summary: pd.DataFrame, by: str, value: str = "final_test_acc"):
    """The `by` value whose mean `value` over seeds is highest (diverged runs count with their accuracy)."""
    means = summary.groupby(by)[value].mean()
    return means.idxmax()


def compare_settings(summary: pd.DataFrame, by: str, a, b, value: str = "final_test_acc", paired: bool = False) -> str:
    """'higher' / 'lower' / 'within noise' / 'untested': setting a against b by Welch's (or the paired) t-test.

    Paired comparisons pair the two settings' rows by seed.
    """
    rows_a = summary.loc[summary[by] == a].sort_values("seed") if paired else summary.loc[summary[by] == a]
    rows_b = summary.loc[summary[by] == b].sort_values("seed") if paired else summary.loc[summary[by] == b]
    if paired:
        seeds = sorted(set(rows_a["seed"]) & set(rows_b["seed"]))
        rows_a, rows_b = rows_a[rows_a["seed"].isin(seeds)], rows_b[rows_b["seed"].isin(seeds)]
    return compare(rows_a[value].tolist(), rows_b[value].tolist(), paired=paired)


def mean_pm(mean: float, half_width: float, digits: int = 2, bounds: tuple[float, float] | None = (0.0, 100.0)) -> str:
    """'91.20 $\\pm$ 0.31' from a mean and a 95% t half-width (just the mean for a single seed); a percentage
    by default, clipped to [0, 100] as stats.format_interval prints it."""
    return format_interval(mean, float("nan") if pd.isna(half_width) else half_width, digits, bounds)


__all__ = ["best_setting", "compare_settings", "mean_ci", "mean_pm", "over_seeds"]
