"""Summaries over seeds of run-level CSVs: mean/std/n per setting, the best setting, comparison words."""

from __future__ import annotations

import pandas as pd

from effdl.report.texgen import compare


def over_seeds(summary: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean, std (NaN for one seed), min, max and seed count of `value` per setting."""
    grouped = summary.groupby(by, sort=True)[value]
    out = grouped.agg(["mean", "std", "min", "max", "count"]).reset_index()
    return out.rename(columns={"count": "seeds"})


def best_setting(summary: pd.DataFrame, by: str, value: str = "final_test_acc"):
    """The `by` value whose mean `value` over seeds is highest (diverged runs count with their accuracy)."""
    means = summary.groupby(by)[value].mean()
    return means.idxmax()


def compare_settings(summary: pd.DataFrame, by: str, a, b, value: str = "final_test_acc") -> str:
    """'higher' / 'lower' / 'within noise': setting a against setting b, judged against the seeds' spread."""
    values_a = summary.loc[summary[by] == a, value].tolist()
    values_b = summary.loc[summary[by] == b, value].tolist()
    return compare(values_a, values_b)


def mean_pm_std(mean: float, std: float, digits: int = 2) -> str:
    """'91.20 $\\pm$ 0.31' (or just the mean for a single seed)."""
    if pd.isna(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} $\\pm$ {std:.{digits}f}"
