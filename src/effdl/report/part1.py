"""Part 1's paper numbers: best learning rate, scheduler comparison and run times, derived from the CSVs."""

from __future__ import annotations

import pandas as pd

from effdl.report.plotting import training_curves_figure
from effdl.report.summaries import best_setting, compare_settings, mean_pm_std, over_seeds
from effdl.report.texgen import escape, fmt, macro_name


def _lr_label(lr: float) -> str:
    return f"{lr:g}"


def part1_macros(
    sweep: pd.DataFrame,
    sched: pd.DataFrame,
    sweep_epochs: pd.DataFrame,
    sched_epochs: pd.DataFrame,
) -> dict[str, str]:
    """Macros named \\Pone... for every number and choice the Part 1 text quotes, all read from the runs' CSVs."""
    configured_lr = float(sched["lr"].iloc[0])  # Part 1.2's configured rate: every scheduler run uses it
    m: dict[str, str] = {}
    m["PoneSeeds"] = str(sweep["seed"].nunique())
    m["PoneBatchSize"] = str(int(sweep["batch_size"].iloc[0]))
    m["PoneParams"] = fmt(int(sweep["params_total"].iloc[0]))
    m["PoneSweepEpochs"] = str(int(sweep["epochs_planned"].max()))
    m["PoneSchedEpochs"] = str(int(sched["epochs_planned"].max()))
    m["PoneTrainImages"] = fmt(int(sweep["n_train"].iloc[0]))
    m["PoneTestImages"] = fmt(int(sweep["n_test"].iloc[0]))
    m["PoneDevice"] = escape(", ".join(sorted(sweep["device"].unique())))
    m["PoneDataSource"] = ", ".join(f"\\path{{{s}}}" for s in sorted(sweep["data_source"].unique()))
    stats = over_seeds(sweep, ["lr"], "final_test_acc")
    for row in stats.itertuples():
        m[macro_name("Pone", "acc", "lr", _lr_label(row.lr))] = mean_pm_std(row.mean, row.std)
        diverged = int(sweep.loc[sweep["lr"] == row.lr, "diverged"].sum())
        m[macro_name("Pone", "diverged", "lr", _lr_label(row.lr))] = str(diverged)
    m["PoneSweepTrends"] = "; ".join(
        _sweep_trend(lr, sweep_epochs[sweep_epochs["lr"] == lr], sweep[sweep["lr"] == lr]) for lr in stats["lr"]
    )
    best = best_setting(sweep, "lr")
    m["PoneBestLr"] = _lr_label(best)
    m["PoneConfiguredLr"] = _lr_label(configured_lr)
    others = [lr for lr in stats["lr"] if lr != best]
    words = [compare_settings(sweep, "lr", best, lr) for lr in others]
    m["PoneBestLrMargin"] = escape("; ".join(f"{_phrase(w)} lr {_lr_label(lr)}" for w, lr in zip(words, others)))
    m["PoneLrCheck"] = (
        "the same learning rate the sweep picked"
        if abs(best - configured_lr) < 1e-12
        else f"not the sweep's winner ({_lr_label(best)}); the configured value was kept"
    )
    sched_stats = over_seeds(sched, ["scheduler"], "final_test_acc").set_index("scheduler")
    time_stats = over_seeds(sched, ["scheduler"], "total_time_s").set_index("scheduler")
    for name in sched_stats.index:
        m[macro_name("Pone", "acc", name)] = mean_pm_std(sched_stats.loc[name, "mean"], sched_stats.loc[name, "std"])
        m[macro_name("Pone", "time", name)] = fmt(float(time_stats.loc[name, "mean"]), 0)
    if {"multistep", "cosine_annealing"} <= set(sched_stats.index):
        m["PoneSchedCompare"] = escape(compare_settings(sched, "scheduler", "multistep", "cosine_annealing"))
    m["PoneMultistepJump"] = fmt(_first_drop_jump(sched_epochs), 2)
    for name in sched_stats.index:
        m[macro_name("Pone", "late gain", name)] = fmt(_late_gain(sched_epochs[sched_epochs["scheduler"] == name]), 2)
    m["PoneTotalTime"] = fmt(float(pd.concat([sweep, sched])["total_time_s"].sum()), 0)
    return m


def _phrase(word: str) -> str:
    """Comparison word -> phrase before a setting: 'higher than', 'lower than', 'within noise of'."""
    head, _, rest = word.partition(" ")
    joined = {"higher": "higher than", "lower": "lower than", "equal": "equal to"}.get(head, "within noise of")
    return f"{joined} {rest}".strip() if head != "within" else "within noise of"


def _sweep_trend(lr: float, epochs: pd.DataFrame, summary: pd.DataFrame) -> str:
    """'lr 0.1: test accuracy 45.1\\% after epoch 1, 70.2\\% at the end' (+ divergence), means over seeds."""
    trained = epochs[epochs["epoch"] >= 1]
    first = trained[trained["epoch"] == trained["epoch"].min()]["test_acc"].mean()
    last = summary["final_test_acc"].mean()
    text = f"lr {_lr_label(lr)}: {first:.1f}\\% after epoch 1, {last:.1f}\\% at the end"
    diverged = int(summary["diverged"].sum())
    if diverged:
        text += f" (diverged in {diverged} of {len(summary)} runs)"
    return text


def _late_gain(epochs: pd.DataFrame) -> float:
    """Mean test-accuracy gain over the last quarter of training (final epoch vs the epoch at 75%)."""
    gains = []
    for _, run in epochs[epochs["epoch"] >= 1].sort_values("epoch").groupby("run"):
        accs = run["test_acc"].to_numpy()
        gains.append(accs[-1] - accs[max(0, int(0.75 * len(accs)) - 1)])
    return float(pd.Series(gains).mean()) if gains else float("nan")


def _first_drop_jump(epochs: pd.DataFrame) -> float:
    """Mean test-accuracy change across the MultiStep run's first lr drop (epoch after vs epoch before)."""
    multi = epochs[epochs["scheduler"] == "multistep"].sort_values("epoch")
    jumps = []
    for _, run in multi.groupby("run"):
        lrs = run["lr"].to_numpy()
        drops = [i for i in range(1, len(lrs)) if lrs[i] < lrs[i - 1]]
        if drops:
            i = drops[0]
            jumps.append(run["test_acc"].iloc[i] - run["test_acc"].iloc[i - 1])
    return float(pd.Series(jumps).mean()) if jumps else float("nan")


def part1_table(sweep: pd.DataFrame, sched: pd.DataFrame) -> pd.DataFrame:
    """One row per setting: experiment, setting, epochs, seeds, final/best accuracy and time (TeX cells)."""
    rows = []
    for label, frame, by in (("1.1 lr sweep", sweep, "lr"), ("1.2 schedulers", sched, "scheduler")):
        for key, group in frame.groupby(by, sort=True):
            setting = f"lr {_lr_label(key)}" if by == "lr" else escape(str(key).replace("_", " "))
            acc = group["final_test_acc"]
            rows.append(
                {
                    "part": label,
                    "setting": setting,
                    "epochs": int(group["epochs_planned"].max()),
                    "seeds": len(group),
                    "final test acc (\\%)": mean_pm_std(acc.mean(), acc.std()),
                    "diverged": int(group["diverged"].sum()),
                    "time per run (s)": fmt(float(group["total_time_s"].mean()), 0),
                }
            )
    return pd.DataFrame(rows)


TITLES = {
    "lr_sweep": "Part 1.1: learning-rate sweep (ConvNet, CIFAR-10)",
    "schedulers": "Part 1.2: MultiStep vs cosine annealing (ConvNet, CIFAR-10)",
}


def part1_figure(iters: pd.DataFrame, epochs: pd.DataFrame, experiment: str, hue: str, window: int):
    """Figures 1.1/1.2: smoothed training loss and test accuracy per `hue` setting (lr or scheduler)."""
    iters, epochs = iters.assign(**{hue: iters[hue].astype(str)}), epochs.assign(**{hue: epochs[hue].astype(str)})
    return training_curves_figure(iters, epochs, hue, window, TITLES[experiment])
