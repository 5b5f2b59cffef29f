"""Part 3's controls beyond the problem set: BatchNorm re-estimation at each pruning event, the unpruned SparseConvNet
on the pruning schedule, and structured against unstructured paired within a seed. Torch-free (report rules)."""

from __future__ import annotations

import pandas as pd

from effdl.plan.prune import PRUNE_MODES
from effdl.report import stats
from effdl.report.claims import pruning_modes
from effdl.report.texgen import escape, fmt, signed

BN_COLUMNS = {
    "test_acc_before_prune": "before",
    "test_acc": "after, stale BN",
    "test_acc_bn_reestimated": "after, BN re-estimated",
}


def has_bn_control(pruned_epochs: pd.DataFrame) -> bool:
    """True when the pruning runs measured each event with re-estimated BatchNorm statistics."""
    return "test_acc_bn_reestimated" in pruned_epochs and pruned_epochs["test_acc_bn_reestimated"].notna().any()


def event_rows(pruned_epochs: pd.DataFrame) -> pd.DataFrame:
    """The pruning events' rows (one per run and event) that carry the BatchNorm control's columns."""
    events = pruned_epochs[pruned_epochs["prune_event"].astype(str) == "True"]
    return events.dropna(subset=["test_acc_before_prune", "test_acc_bn_reestimated"])


def bn_control_table(pruned_epochs: pd.DataFrame) -> pd.DataFrame:
    """Per mode and event: test accuracy before it, right after it (the notebook's number) and after BatchNorm
    re-estimation, each as mean and 95 % t-interval over seeds (TeX cells)."""
    if not has_bn_control(pruned_epochs):
        return pd.DataFrame(columns=["Mode", "After epoch", *BN_COLUMNS.values()])
    rows = []
    for (mode, epoch), group in event_rows(pruned_epochs).groupby(["mode", "epoch"], sort=True):
        row = {"Mode": escape(mode), "After epoch": str(int(epoch))}
        row.update({label: stats.mean_ci(group[column]) for column, label in BN_COLUMNS.items()})
        rows.append(row)
    order = {mode: i for i, mode in enumerate(PRUNE_MODES)}
    table = pd.DataFrame(rows)
    return table.sort_values(["Mode", "After epoch"], key=lambda c: c.map(order) if c.name == "Mode" else c.astype(int))


def bn_control_macros(m: dict, pruned_epochs: pd.DataFrame, bn_batches: int) -> None:
    """How much of each mode's drop at an event BatchNorm re-estimation recovers, over all events and runs."""
    m["PthreeCtlBnBatches"] = str(int(bn_batches))
    if not has_bn_control(pruned_epochs):
        m["PthreeCtlBnSentence"] = "The BatchNorm control was not run."
        return
    events = event_rows(pruned_epochs)
    parts = []
    for mode in PRUNE_MODES:
        mine = events[events["mode"] == mode]
        if mine.empty:
            continue
        drop = (mine["test_acc"] - mine["test_acc_before_prune"]).mean()
        regained = (mine["test_acc_bn_reestimated"] - mine["test_acc"]).mean()
        share = regained / -drop if drop < 0 else float("nan")
        recovered = ""
        if drop < 0 and regained > 0:  # how much of the dip stale statistics explain
            recovered = f", {fmt(100 * share, 0)}\\% of the drop" if share <= 1 else ", more than the drop"
        parts.append(
            f"{mode} events changed test accuracy by {signed(drop, 1)} points on average, and re-estimating "
            f"BatchNorm changed the pruned network's by another {signed(regained, 1, plus=True)}{recovered}"
        )
    m["PthreeCtlBnSentence"] = capitalised("; ".join(parts) + ".")


def capitalised(text: str) -> str:
    """The sentence with its first letter capitalised (the mode names start it)."""
    return text[:1].upper() + text[1:]


def unpruned_macros(m: dict, pruned: pd.DataFrame, unpruned: pd.DataFrame, baseline: pd.DataFrame) -> None:
    """The unpruned SparseConvNet on the pruning schedule against the pruned runs (paired on the seed: same start)
    and against the dense ConvNet baseline (Welch: another architecture and initialisation)."""
    if unpruned.empty:
        m["PthreeCtlUnprunedSentence"] = "The unpruned SparseConvNet control was not run."
        return
    control = unpruned.set_index("seed")["final_test_acc"]
    versus_baseline = stats.compare(control.tolist(), baseline["final_test_acc"].tolist())
    parts = [
        f"it is {stats.relation(versus_baseline.word)} the dense ConvNet's "
        f"{stats.mean_ci(baseline['final_test_acc'])}\\% ({stats.p_text(versus_baseline)})"
    ]
    for mode in PRUNE_MODES:
        runs = pruned[pruned["mode"] == mode].set_index("seed")["final_test_acc"]
        versus = stats.compare_units(runs.to_dict(), control.to_dict())
        parts.append(
            f"{mode} pruning ends {stats.relation(versus.word)} it "
            f"({signed(versus.diff, 1)} points; {stats.p_text(versus)})"
        )
    m["PthreeCtlUnprunedSentence"] = (
        f"Trained on the same schedule without pruning, SparseConvNet ends at {stats.mean_ci(control)}\\%: "
        + "; ".join(parts)
        + "."
    )


def paired_mode_macros(m: dict, pruned: pd.DataFrame) -> None:
    """Structured minus unstructured final accuracy per seed (the trained pair as unit) and its 90 % interval."""
    structured, unstructured, paired = pruning_modes(pruned)
    if not paired or len(structured) < 1:
        m["PthreeCtlPairedSentence"] = "The two modes do not share seeds, so they are not compared per seed."
        return
    seeds = sorted(pruned.loc[pruned["mode"] == PRUNE_MODES[0], "seed"].unique())
    per_seed = ", ".join(f"{signed(s - u, 1)} (seed {seed})" for seed, s, u in zip(seeds, structured, unstructured))
    diff = stats.difference(structured, unstructured, paired=True)
    verdict = stats.compare(structured, unstructured, paired=True)
    interval = (
        f"mean {signed(diff.diff, 2)} points, 90\\% CI [{signed(diff.low, 2)}, {signed(diff.high, 2)}]"
        if diff is not None
        else "one seed, no interval"
    )
    m["PthreeCtlPairedSentence"] = (
        f"Per seed (same initial weights and batches), structured minus unstructured final accuracy is "
        f"{per_seed}: {interval} ({stats.p_text(verdict)})."
    )


def control_macros(
    *, pruned: pd.DataFrame, pruned_epochs: pd.DataFrame, unpruned: pd.DataFrame, baseline: pd.DataFrame, bn_batches
) -> dict:
    """Every Part 3 control macro (name -> TeX)."""
    m: dict[str, str] = {}
    bn_control_macros(m, pruned_epochs, bn_batches)
    unpruned_macros(m, pruned, unpruned, baseline)
    paired_mode_macros(m, pruned)
    return m
