"""Part 3's report: the paper's macros (sanity check, schedule, accuracy, one-shot sweep, inference cost), the
benchmark table and the part's three figures, computed from its tidy CSVs. Torch-free, so its rules start fast."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from effdl.plan.prune import PRUNE_MODES
from effdl.report.plotting import ci_lineplot, set_style, training_curves_figure
from effdl.report.summaries import mean_pm_std
from effdl.report.texgen import compare, escape, fmt, macro_name, signed

BENCH_LABELS = {
    "dense": "dense ConvNet (Part 1.2)",
    "structured_masked": "structured, masked",
    "structured_slim": "structured, slim export",
    "unstructured_masked": "unstructured, masked",
}


def acc(values: pd.Series) -> str:
    return mean_pm_std(values.mean(), values.std())


def word_list(items) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def event_changes(epochs: pd.DataFrame) -> pd.DataFrame:
    """Per run and pruning event: test-accuracy change into the event epoch (dip) and over the next epoch (recovery)."""
    rows = []
    for (mode, _run), group in epochs[epochs["epoch"] >= 1].sort_values("epoch").groupby(["mode", "run"]):
        accs = group.set_index("epoch")["test_acc"]
        for epoch in group.loc[group["prune_event"].astype(str) == "True", "epoch"]:
            before, after = accs.get(epoch - 1), accs.get(epoch + 1)
            rows.append(
                {
                    "mode": mode,
                    "epoch": epoch,
                    "dip": accs[epoch] - before if before is not None else None,
                    "recovery": after - accs[epoch] if after is not None else None,
                }
            )
    return pd.DataFrame(rows, columns=["mode", "epoch", "dip", "recovery"]).astype({"dip": float, "recovery": float})


def schedule_macros(m, pruned, sparsity, percentage, prune_after):
    m["PthreeEpochs"] = str(int(pruned["epochs_planned"].max()))
    m["PthreePrunePercent"] = fmt(100 * percentage, 0)
    m["PthreePruneAfter"] = word_list(prune_after)
    m["PthreeEvents"] = str(len(prune_after))
    final = sparsity[sparsity["event"] == sparsity["event"].max()]
    m["PthreeFinalSparsityMin"], m["PthreeFinalSparsityMax"] = (
        fmt(100 * final["sparsity"].agg(f), 1) for f in ("min", "max")
    )
    # The notebook rounds per event: round(p * N) filters each time, for each layer's N output channels.
    out_channels = sparsity.drop_duplicates("layer")["out_channels"].astype(int)
    naive = [len(prune_after) * round(percentage * cout) / cout for cout in out_channels]
    m["PthreeNaiveSparsityMin"], m["PthreeNaiveSparsityMax"] = fmt(100 * min(naive), 1), fmt(100 * max(naive), 1)


def accuracy_macros(m, pruned, pruned_epochs, baseline):
    m["PthreeSeeds"] = str(pruned["seed"].nunique())
    m["PthreeDevice"] = escape(", ".join(sorted(pruned["device"].unique())))
    m["PthreeAccBaseline"] = acc(baseline["final_test_acc"])
    changes = event_changes(pruned_epochs)
    for mode in PRUNE_MODES:
        runs = pruned[pruned["mode"] == mode]
        m[macro_name("Pthree", "acc", mode)] = acc(runs["final_test_acc"])
        m[macro_name("Pthree", "gap", mode)] = signed(baseline["final_test_acc"].mean() - runs["final_test_acc"].mean())
        versus = compare(runs["final_test_acc"], baseline["final_test_acc"])
        m[macro_name("Pthree", mode, "vs baseline")] = escape(versus)
        mine = changes[changes["mode"] == mode]
        per_event = mine.groupby("epoch")["dip"].mean().dropna()  # an event after epoch 1 has no "before"
        m[macro_name("Pthree", "dips", mode)] = (
            word_list(f"{signed(v, 1)} (epoch {e})" for e, v in per_event.items()) if len(per_event) else "n/a"
        )
        m[macro_name("Pthree", "recovery", mode)] = signed(mine["recovery"].mean(), 1)
    final = {mode: pruned.loc[pruned["mode"] == mode, "final_test_acc"] for mode in PRUNE_MODES}
    m["PthreeStructuredVsUnstructured"] = escape(compare(final["structured"], final["unstructured"]))


def sanity_macros(m, sanity, reference):
    m["PthreeSanityEpochs"] = str(int(sanity["epochs_planned"].max()))
    m["PthreeSanityLr"] = f"{sanity['lr'].iloc[0]:g}"
    m["PthreeSanityAcc"] = acc(sanity["final_test_acc"])
    if reference.empty:
        m["PthreeSanityRefAcc"], m["PthreeSanityCompare"] = "n/a", "not comparable (no Part 1.1 run at this lr)"
    else:
        m["PthreeSanityRefAcc"] = acc(reference["final_test_acc"])
        m["PthreeSanityCompare"] = escape(compare(sanity["final_test_acc"], reference["final_test_acc"]))


def oneshot_macros(m, oneshot, pruned_epochs):
    final_sparsity = pruned_epochs.sort_values("epoch").groupby("run").tail(1)["sparsity"].mean()
    nearest = oneshot.loc[(oneshot["target_sparsity"] - final_sparsity).abs().idxmin(), "target_sparsity"]
    m["PthreeOneshotSparsity"] = fmt(100 * nearest, 0)
    dense = oneshot[oneshot["target_sparsity"] == 0]["test_acc"].mean()
    for mode in PRUNE_MODES:
        rows = oneshot[oneshot["mode"] == mode]
        m[macro_name("Pthree", "oneshot", mode)] = acc(rows.loc[rows["target_sparsity"] == nearest, "test_acc"])
        means = rows.groupby("target_sparsity")["test_acc"].mean()
        safe = means[means >= dense - 1.0].index.max()  # highest sparsity within 1 point of the unpruned model
        m[macro_name("Pthree", "oneshot safe", mode)] = fmt(100 * safe, 0)


def benchmark_macros(m, bench, slim_checks):
    first = bench.drop_duplicates("model").set_index("model")
    m["PthreeBenchDevice"] = escape(", ".join(sorted(bench["device"].unique())))
    m["PthreeBenchRepeats"] = str(int(bench["repeats"].iloc[0]))
    for name in first.index:
        m[macro_name("Pthree", "params", name)] = fmt(int(first.loc[name, "params"]))
        m[macro_name("Pthree", "mb", name)] = fmt(first.loc[name, "state_dict_bytes"] / 1e6)
        m[macro_name("Pthree", "mmacs", name)] = fmt(first.loc[name, "macs"] / 1e6, 1)
    unstructured = first.loc["unstructured_masked"]
    m["PthreeMbCsrInt"] = fmt(unstructured["csr_bytes_int64"] / 1e6)
    m["PthreeMbCsrCompact"] = fmt(unstructured["csr_bytes_compact"] / 1e6)
    m["PthreeMmacsNonzeroUnstructured"] = fmt(unstructured["macs_nonzero"] / 1e6, 1)
    m["PthreeParamsRatio"] = fmt(first.loc["dense", "params"] / first.loc["structured_slim", "params"], 1)
    m["PthreeMacsRatio"] = fmt(first.loc["dense", "macs"] / first.loc["structured_slim", "macs"], 1)
    latency = bench.pivot(index="batch_size", columns="model", values="latency_ms_median").sort_index()
    # the smallest and largest measured batch sizes, named so the text does not depend on the config's values
    for size, batch_size in (("small", latency.index[0]), ("large", latency.index[-1])):
        row = latency.loc[batch_size]
        m[macro_name("Pthree", size, "batch")] = str(int(batch_size))
        for name in row.index:
            m[macro_name("Pthree", "latency", name, size, "batch")] = fmt(row[name], 2)
        m[macro_name("Pthree", "speedup slim", size, "batch")] = fmt(row["dense"] / row["structured_slim"], 1)
        speedup = row["dense"] / row["unstructured_masked"]
        m[macro_name("Pthree", "speedup unstructured", size, "batch")] = fmt(speedup, 1)
    m["PthreeSlimMaxDiff"] = f"{slim_checks['max_abs_diff_float64'].max():.1e}"
    m["PthreeSlimMaxDiffFloat"] = f"{slim_checks['max_abs_diff_float32'].max():.1e}"
    m["PthreeSlimTolerance"] = f"{slim_checks['tolerance'].iloc[0]:.0e}"
    m["PthreeSlimWidths"] = escape(slim_checks["widths"].iloc[0])
    m["PthreeSlimFolded"] = str(int(slim_checks["folded_constant_layers"].max()))
    m["PthreeSlimAccGap"] = fmt((slim_checks["test_acc_masked"] - slim_checks["test_acc_slim"]).abs().max())


def benchmark_table(bench: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for name, group in bench.groupby("model", sort=False):
        first = group.iloc[0]
        row = {
            "model": BENCH_LABELS[name],
            "params": fmt(int(first["params"])),
            "nonzero": fmt(int(first["params_nonzero"])),
            "MMACs": fmt(first["macs"] / 1e6, 1),
            "MB": fmt(first["state_dict_bytes"] / 1e6),
            "acc. (\\%)": fmt(first["test_acc"]),
        }
        for _, bench_row in group.iterrows():
            row[f"ms @ {int(bench_row['batch_size'])}"] = fmt(bench_row["latency_ms_median"], 3)
        rows.append(row)
    return pd.DataFrame(rows)


def part3_macros(
    *,
    sanity: pd.DataFrame,
    sanity_reference: pd.DataFrame,
    pruned: pd.DataFrame,
    pruned_epochs: pd.DataFrame,
    sparsity: pd.DataFrame,
    baseline: pd.DataFrame,
    oneshot: pd.DataFrame,
    bench: pd.DataFrame,
    slim_checks: pd.DataFrame,
) -> dict:
    """Every Part 3 macro (name -> TeX) from the part's tidy CSVs (the schedule's settings are columns of its runs)."""
    percentage = float(pruned["prune_percent"].iloc[0])
    events = pruned_epochs.loc[pruned_epochs["prune_event"].astype(str) == "True", "epoch"]
    prune_after = sorted(int(e) for e in events.unique())
    m: dict[str, str] = {"PthreeParams": fmt(int(sanity["params_total"].iloc[0]))}
    sanity_macros(m, sanity, sanity_reference)
    schedule_macros(m, pruned, sparsity, percentage, prune_after)
    accuracy_macros(m, pruned, pruned_epochs, baseline)
    oneshot_macros(m, oneshot, pruned_epochs)
    benchmark_macros(m, bench, slim_checks)
    return m


SANITY_LABELS = {"sparse_convnet": "SparseConvNet (Part 3.2, unpruned)", "convnet": "ConvNet (Part 1.1)"}
BASELINE = "ConvNet baseline (Part 1.2 MultiStep)"
MODE_LABELS = {"structured": "structured: filter L1 (Part 3.3)", "unstructured": "unstructured: weight |w| (Part 3.4)"}


def sanity_figure(iters: pd.DataFrame, epochs: pd.DataFrame, window: int) -> plt.Figure:
    """Part 3.2: the unpruned SparseConvNet's training curves beside Part 1.1's ConvNet at the same lr."""
    # the same row order in both frames keeps each network's colour the same in both panels
    iters = iters.assign(network=iters["model"].map(SANITY_LABELS)).sort_values("network", kind="stable")
    epochs = epochs.assign(network=epochs["model"].map(SANITY_LABELS)).sort_values("network", kind="stable")
    lr = ", ".join(f"{v:g}" for v in sorted(epochs["lr"].unique()))
    return training_curves_figure(iters, epochs, "network", window, f"Part 3.2: SparseConvNet sanity check (lr {lr})")


def pruning_figure(pruned: pd.DataFrame, baseline: pd.DataFrame) -> plt.Figure:
    """Parts 3.3/3.4: test accuracy of both pruning modes against the dense baseline, and their sparsity per epoch."""
    pruned = pruned.assign(network=pruned["mode"].map(MODE_LABELS))
    epochs = pd.concat([baseline.assign(network=BASELINE), pruned], ignore_index=True)
    epochs = epochs[epochs["epoch"] >= 1]
    events = sorted(pruned.loc[pruned["prune_event"].astype(str) == "True", "epoch"].unique())
    set_style()
    fig, (ax_acc, ax_sparsity) = plt.subplots(1, 2, figsize=(9, 3.4), gridspec_kw={"width_ratios": [2.2, 1]})
    order = [BASELINE, *MODE_LABELS.values()]
    palette = dict(zip(order, sns.color_palette("colorblind", len(order))))
    ci_lineplot(ax_acc, epochs, "epoch", "test_acc", "network", hue_order=order, palette=palette)
    # sparsity is the same for every seed (exact counts), so one line per mode; epoch 0 = before any pruning
    sparsity = pruned[pruned["epoch"] >= 1].groupby(["network", "epoch"], as_index=False)["sparsity"].mean()
    start = pd.DataFrame({"network": list(MODE_LABELS.values()), "epoch": 0, "sparsity": 0.0})
    sparsity = pd.concat([start, sparsity], ignore_index=True)
    for network, line in sparsity.groupby("network"):
        linestyle = "-" if "unstructured" in network else "--"
        ax_sparsity.step(
            line["epoch"], 100 * line["sparsity"], where="post", color=palette[network], linestyle=linestyle
        )
    for ax in (ax_acc, ax_sparsity):
        for epoch in events:
            ax.axvline(epoch, color="0.5", linestyle=":", linewidth=0.8, zorder=0)
    ax_acc.set(xlabel="epoch (pruning events dotted)", ylabel="test accuracy (%)")
    ax_acc.legend(title=None, fontsize=7)
    ax_sparsity.set(xlabel="epoch", ylabel="conv weights pruned (%)", ylim=(-2, 100), xlim=(0, None))
    fig.suptitle("Parts 3.3/3.4: gradual magnitude pruning against the dense ConvNet (CIFAR-10)")
    return fig


def oneshot_figure(oneshot: pd.DataFrame, gradual: pd.DataFrame, baseline: pd.DataFrame) -> plt.Figure:
    """One-shot pruning of the trained ConvNet at each sparsity, against the gradual schedule and the dense model."""
    oneshot = oneshot.assign(sparsity_pct=100 * oneshot["target_sparsity"])
    final = gradual.sort_values("epoch").groupby("run").tail(1)  # each run's last epoch: final sparsity and accuracy
    modes = list(PRUNE_MODES)
    set_style()
    colors = dict(zip(modes, sns.color_palette("colorblind", len(modes))))
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ci_lineplot(ax, oneshot, "sparsity_pct", "test_acc", "mode", hue_order=modes, palette=colors, marker="o")
    for mode, group in final.groupby("mode"):
        ax.errorbar(
            100 * group["sparsity"].mean(),
            group["test_acc"].mean(),
            yerr=group["test_acc"].std(),
            fmt="*",
            markersize=12,
            color=colors[mode],
            markeredgecolor="black",
            capsize=3,
            label=f"{mode}, gradual schedule + retraining",
        )
    ax.axhline(
        baseline["final_test_acc"].mean(), color="0.3", linestyle="--", linewidth=1, label="dense baseline (Part 1.2)"
    )
    ax.set(xlabel="per-layer sparsity (%)", ylabel="test accuracy (%)", ylim=(0, 100))
    handles, labels = ax.get_legend_handles_labels()
    labels = [f"{label}, one-shot (no retraining)" if label in modes else label for label in labels]
    ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle("One-shot magnitude pruning of the trained ConvNet vs gradual pruning")
    return fig
