"""Part 1's paper numbers: best learning rate, scheduler comparison and run times, derived from the CSVs."""

from __future__ import annotations

import pandas as pd

from effdl.plan.registry import SCHEDULERS
from effdl.report import answers, words
from effdl.report.names import display, source_kind
from effdl.report.plotting import training_curves_figure
from effdl.report.results import format_result, lookup, part1_results
from effdl.report.summaries import best_setting
from effdl.report.texgen import escape, fmt, macro_name


def _lr_label(lr: float) -> str:
    return f"{lr:g}"


def part1_macros(
    sweep: pd.DataFrame,
    sched: pd.DataFrame,
    sweep_epochs: pd.DataFrame,
    sched_epochs: pd.DataFrame,
    *,
    sweep_iters: pd.DataFrame,
    sched_iters: pd.DataFrame,
    window: int,
    results: pd.DataFrame | None = None,
) -> dict[str, str]:
    """Macros named \\Pone... for every number, choice and trend word the Part 1 text quotes, all from the CSVs;
    numbers with an interval come from Part 1's tidy `results` (effdl.report.results.part1_results)."""
    configured_lr = float(sched["lr"].iloc[0])  # Part 1.2's configured rate: every scheduler run uses it
    m: dict[str, str] = {}
    m["PoneSeedsText"] = words.count(int(sweep["seed"].nunique()), "seed")
    m["PoneBatchSize"] = str(
        int(sweep["batch_size"].iloc[0]) if "batch_size" in sweep else _batch_size(sweep, sweep_iters)
    )
    m["PoneParams"] = fmt(int(sweep["params_total"].iloc[0]))
    m["PoneSweepEpochsText"] = words.count(int(sweep["epochs_planned"].max()), "epoch")
    m["PoneSchedEpochsText"] = words.count(int(sched["epochs_planned"].max()), "epoch")
    m["PoneTrainImages"] = fmt(int(sweep["n_train"].iloc[0]))
    m["PoneTestImages"] = fmt(int(sweep["n_test"].iloc[0]))
    m["PoneDevice"] = escape(", ".join(sorted(sweep["device"].unique())))
    m["PonePrecision"] = escape(answers.precision_text(pd.concat([sweep, sched])))
    m["PoneDataSource"] = escape(", ".join(sorted({source_kind(s) for s in sweep["data_source"].unique()})))
    results = part1_results(sweep, sched) if results is None else results
    m.update(answers.sweep_trends(sweep, sweep_epochs, sweep_iters, window))
    best = best_setting(sweep, "lr")
    m["PoneConfiguredLr"] = _lr_label(configured_lr)
    m["PoneLrCheck"] = (
        "the rate with the highest mean accuracy in the sweep"
        if abs(best - configured_lr) < 1e-12
        else f"the problem set's choice; the sweep's highest mean accuracy was at lr {_lr_label(best)}"
    )
    names = sorted(sched["scheduler"].unique())
    if "multistep" in names:  # Part 6 compares its ConvNet with Part 1.2's MultiStep run
        row = lookup(results, experiment="schedulers", setting="multistep", metric="final_test_acc")
        m["PoneAccMultistep"] = format_result(row)
    # each scheduler's trend, and MultiStep's drops, enter the text through the lists below only
    parts: dict[str, str] = {}
    for name in names:
        runs = sched_epochs[sched_epochs["scheduler"] == name]
        iters = sched_iters[sched_iters["scheduler"] == name]
        parts[macro_name("Pone", "trend", name)] = answers.scheduler_trend(runs, iters, window, name == "multistep")
    if {"multistep", "cosine_annealing"} <= set(names):
        m["PoneSchedCompare"] = answers.scheduler_comparison(sched)
    multistep = sched_epochs[sched_epochs["scheduler"] == "multistep"]
    drops = words.lr_drops(multistep)
    factor = words.lr_drop_factor(multistep)
    parts["PoneMultistepText"] = (
        f"divides the rate by {factor:.3g} {words.epochs_phrase(drops)}"
        if factor and drops
        else "keeps the rate constant (no milestone falls within these epochs)"
    )
    m["PoneDropsCaption"] = (
        f"red dashed lines mark MultiStep's rate drops {words.epochs_phrase(drops)}"
        if drops
        else "MultiStep's rate does not drop within these epochs"
    )
    m.update(scheduler_list_macros(names, parts))
    m["PoneRunTimes"] = answers.run_times(sched)
    return m


def scheduler_order(names) -> list[str]:
    """The compared schedulers in the registry's order (effdl.plan.registry.SCHEDULERS), unknown ones last."""
    known = [name for name in SCHEDULERS if name in set(names)]
    return known + sorted(set(names) - set(known))


def schedulers_phrase(names) -> str:
    """'MultiStep versus cosine annealing' for two, 'MultiStep, cosine annealing and OneCycleLR' for more."""
    shown = [display(name) for name in scheduler_order(names)]
    return words.join_words(shown, "versus" if len(shown) == 2 else "and")


def scheduler_list_macros(names, m: dict[str, str]) -> dict[str, str]:
    """Part 1.2's lists, following the configured schedulers: their names (\\PoneSchedulersText), how many
    (\\PoneSchedulersAll), what each does to the rate (\\PoneSchedulersHow) and each one's trend
    (\\PoneSchedTrends); `m` holds the MultiStep macros and the per-scheduler trend macros."""
    order = scheduler_order(names)
    out = {"PoneSchedulersText": escape(schedulers_phrase(order))}
    small = {3: "three", 4: "four", 5: "five", 6: "six"}
    out["PoneSchedulersAll"] = {1: "The scheduler", 2: "Both schedulers"}.get(
        len(order), f"All {small.get(len(order), len(order))} schedulers"
    )
    how = []
    for name in order:
        if name == "multistep":
            how.append(f"{escape(display(name))} {m['PoneMultistepText']}")
        else:
            entry = SCHEDULERS.get(name)
            how.append(escape(f"{display(name)} {entry.how if entry is not None and entry.how else 'sets the rate'}"))
    # commas between the clauses (MultiStep's clause holds its own 'and'); 'and' before the last of three or more
    out["PoneSchedulersHow"] = (
        ", ".join(how[:-1]) + (", and " if len(how) > 2 else ", ") + how[-1] if len(how) > 1 else how[0]
    )
    trends = []
    for name in order:
        label = escape(display(name))
        trends.append(f"{label[:1].upper()}{label[1:]}: {m.get(macro_name('Pone', 'trend', name), 'n/a')}")
    out["PoneSchedTrends"] = ". ".join(trends)
    return out


def _batch_size(summary: pd.DataFrame, iters: pd.DataFrame) -> int:
    """For runs written before the batch_size column: the smallest batch giving the measured iterations per epoch."""
    per_epoch = int(iters[iters["epoch_float"] < 1].groupby("run").size().max())
    return -(-int(summary["n_train"].iloc[0]) // per_epoch)


def part1_table(sweep: pd.DataFrame, sched: pd.DataFrame, results: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per setting: experiment, setting, epochs, seeds, final accuracy and time per run (TeX cells; the
    numbers from Part 1's tidy `results`, printed by its one formatter)."""
    results = part1_results(sweep, sched) if results is None else results
    rows = []
    for label, experiment, frame, by in (
        ("1.1 lr sweep", "lr_sweep", sweep, "lr"),
        ("1.2 schedulers", "schedulers", sched, "scheduler"),
    ):
        for key, group in frame.groupby(by, sort=True):
            setting = f"lr {_lr_label(key)}" if by == "lr" else str(key)
            cell = {"experiment": experiment, "setting": setting}
            rows.append(
                {
                    "part": label,
                    "setting": setting if by == "lr" else escape(display(key)),
                    "epochs": int(group["epochs_planned"].max()),
                    "seeds": len(group),
                    "final test acc (\\%)": format_result(lookup(results, metric="final_test_acc", **cell)),
                    "diverged": int(group["diverged"].sum()),
                    "time per run (s)": format_result(lookup(results, metric="total_time_s", **cell), 1),
                }
            )
    return pd.DataFrame(rows)


TITLES = {
    "lr_sweep": "Part 1.1: learning-rate sweep (ConvNet, CIFAR-10)",
    "schedulers": "Part 1.2: {schedulers} (ConvNet, CIFAR-10)",  # the schedulers the CSV holds
}


def part1_figure(iters: pd.DataFrame, epochs: pd.DataFrame, experiment: str, hue: str, window: int):
    """Figures 1.1/1.2: smoothed training loss and test accuracy per `hue` setting (lr or scheduler); MultiStep's
    rate drops, read from the lr column, are marked (the constant-rate sweep has none)."""
    drops = words.lr_drops(epochs[epochs["scheduler"] == "multistep"]) if experiment == "schedulers" else []
    iters, epochs = iters.assign(**{hue: iters[hue].astype(str)}), epochs.assign(**{hue: epochs[hue].astype(str)})
    title = TITLES[experiment]
    if experiment == "schedulers":
        title = title.format(schedulers=schedulers_phrase(epochs["scheduler"].unique()).replace(" versus ", " vs "))
    return training_curves_figure(iters, epochs, hue, window, title, events=drops)
