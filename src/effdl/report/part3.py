"""Part 3's report: the paper's macros (sanity check, schedule, accuracy, one-shot sweep, inference cost), the
benchmark table and the part's three figures, computed from its tidy CSVs. Torch-free, so its rules start fast."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from effdl.plan.prune import PRUNE_MODES
from effdl.report import answers, words
from effdl.report.claims import pruning_modes
from effdl.report.plotting import (
    ci_lineplot,
    integer_epochs,
    mark_events,
    palette_for,
    set_style,
    training_error_figure,
)
from effdl.report.results import format_result, lookup, part3_results
from effdl.report.stats import ACCURACY_RANGE, SEEDS_SHOWN_MAX, bounded_band
from effdl.report.summaries import mean_ci
from effdl.report.texgen import compare, escape, fmt, macro_name, signed

MODES = PRUNE_MODES
WORD_TEXT = {"untested": "untested (one seed)"}
BENCH_LABELS = {
    "dense": "dense ConvNet (Part 1.2)",
    "structured_masked": "structured, masked",
    "structured_slim": "structured, slim export",
    "unstructured_masked": "unstructured, masked",
}


def acc(values: pd.Series) -> str:
    return mean_ci(values)


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
    m["PthreePrunePercent"] = fmt(100 * percentage, 0)
    m["PthreePruneAfterText"] = words.epochs_phrase(prune_after)
    m["PthreeEpochsText"] = words.count(int(pruned["epochs_planned"].max()), "epoch")
    final = sparsity[sparsity["event"] == sparsity["event"].max()]
    # The notebook rounds per event: round(p * N) filters each time, for each layer's N output channels.
    out_channels = sparsity.drop_duplicates("layer")["out_channels"].astype(int)
    naive = [len(prune_after) * round(percentage * cout) / cout for cout in out_channels]
    low, high = (f"{100 * final['sparsity'].agg(f):.1f}" for f in ("min", "max"))
    m["PthreeFinalSparsityShare"] = f"{low}\\%" if low == high else f"{low}--{high}\\%"
    m["PthreeFinalSparsityRange"] = words.range_phrase(100 * final["sparsity"].min(), 100 * final["sparsity"].max())
    m["PthreeNaiveSparsityRange"] = words.range_phrase(100 * min(naive), 100 * max(naive))


def accuracy_macros(m, pruned, pruned_epochs, baseline, results):
    m["PthreeSeedsText"] = words.count(int(pruned["seed"].nunique()), "seed")
    m["PthreePrecision"] = escape(answers.precision_text(pruned))
    m["PthreeDevice"] = escape(", ".join(sorted(pruned["device"].unique())))
    m["PthreeAccBaseline"] = format_result(lookup(results, experiment="pruning", setting="baseline"))
    changes = event_changes(pruned_epochs)
    for mode in MODES:
        runs = pruned[pruned["mode"] == mode]
        m[macro_name("Pthree", "acc", mode)] = format_result(lookup(results, experiment="pruning", setting=mode))
        m[macro_name("Pthree", "gap", mode)] = signed(baseline["final_test_acc"].mean() - runs["final_test_acc"].mean())
        versus = compare(runs["final_test_acc"], baseline["final_test_acc"])
        m[macro_name("Pthree", mode, "vs baseline")] = escape(WORD_TEXT.get(versus, versus))
        # the text words the events of structured pruning (answer 3.3) and lists the dips of unstructured (3.4)
        if mode == "structured":
            for key, text in answers.pruning_events(pruned_epochs[pruned_epochs["mode"] == mode]).items():
                m[macro_name("Pthree", key, mode)] = text
        if mode == "unstructured":
            per_event = changes[changes["mode"] == mode].groupby("epoch")["dip"].mean().dropna()  # epoch 1: no "before"
            m[macro_name("Pthree", "dips", mode)] = (
                word_list(f"{signed(v, 1)} (epoch {e})" for e, v in per_event.items()) if len(per_event) else "n/a"
            )
    structured, unstructured, paired = pruning_modes(pruned)  # the claims table's pairing (on the seed)
    word = compare(structured, unstructured, paired=paired)
    m["PthreeStructuredVsUnstructured"] = escape(WORD_TEXT.get(word, word))


def sanity_macros(m, sanity, reference, sanity_epochs=None, reference_epochs=None, results=None):
    m["PthreeSanityEpochsText"] = words.count(int(sanity["epochs_planned"].max()), "epoch")
    m["PthreeSanityLr"] = f"{sanity['lr'].iloc[0]:g}"
    m["PthreeSanityAcc"] = (
        acc(sanity["final_test_acc"]) if results is None else format_result(lookup(results, experiment="sanity"))
    )
    if reference.empty or reference_epochs is None or reference_epochs.empty:
        m["PthreeSanityRefAcc"] = "n/a"
        m["PthreeSanityCompare"] = "no Part 1.1 run used this learning rate, so the two are not compared"
        m["PthreeSanityMatchEpoch"] = str(int(sanity["epochs_planned"].max()))
        return
    epoch, _, ref_acc, relation = answers.matching_epoch_comparison(
        sanity_epochs[sanity_epochs["epoch"] >= 1], reference_epochs[reference_epochs["epoch"] >= 1]
    )
    m["PthreeSanityMatchEpoch"] = str(epoch)
    at_epoch = reference_epochs.loc[reference_epochs["epoch"] == epoch, "test_acc"]
    m["PthreeSanityRefAcc"] = acc(at_epoch) if len(at_epoch) else ref_acc
    m["PthreeSanityCompare"] = escape(relation)


def oneshot_macros(m, oneshot, pruned_epochs):
    final_sparsity = pruned_epochs.sort_values("epoch").groupby("run").tail(1)["sparsity"].mean()
    nearest = oneshot.loc[(oneshot["target_sparsity"] - final_sparsity).abs().idxmin(), "target_sparsity"]
    m["PthreeOneshotSparsity"] = fmt(100 * nearest, 0)
    for mode in MODES:
        rows = oneshot[oneshot["mode"] == mode]
        m[macro_name("Pthree", "oneshot", mode)] = acc(rows.loc[rows["target_sparsity"] == nearest, "test_acc"])
    m["PthreeOneshotSafeSentence"] = oneshot_safe_sentence(oneshot)


ONESHOT_NAMES = {"structured": "structured", "unstructured": "unstructured"}


def oneshot_safe_sentence(oneshot: pd.DataFrame, points: float = 1.0) -> str:
    """Per mode, up to which sparsity one-shot pruning stays within `points` of the unpruned model, worded for
    where that falls: already below at the lowest pruned level, at every level tested, or up to a level."""
    dense = oneshot.loc[oneshot["target_sparsity"] == 0, "test_acc"].mean()
    if pd.isna(dense):
        return "Without an unpruned one-shot row, the one-shot accuracies are not compared with the unpruned model."
    clauses = []
    for mode in MODES:
        means = oneshot[(oneshot["mode"] == mode) & (oneshot["target_sparsity"] > 0)]
        means = means.groupby("target_sparsity")["test_acc"].mean().dropna().sort_index()
        name = f"{ONESHOT_NAMES.get(mode, mode)} one-shot pruning"
        if means.empty:
            continue
        within = means >= dense - points
        if not within.iloc[0]:
            clauses.append(f"{name} loses more than {points:g} point already at {fmt(100 * means.index[0], 0)}\\%")
        elif within.all():
            clauses.append(
                f"{name} stays within {points:g} point of it at every level tested, up to "
                f"{fmt(100 * means.index[-1], 0)}\\%"
            )
        else:
            last = means.index[(~within).to_numpy().argmax() - 1]  # the level before the first one below
            clauses.append(f"{name} stays within {points:g} point of it up to {fmt(100 * last, 0)}\\% sparsity")
    if not clauses:
        return ""
    return f"Against the unpruned model ({fmt(dense, 2)}\\%): " + "; ".join(clauses) + "."


def benchmark_macros(m, bench, slim_checks):
    first = bench.drop_duplicates("model").set_index("model")
    m["PthreeBenchDevice"] = escape(", ".join(sorted(bench["device"].unique())))
    # the text sizes the dense and the slimmed models (a masked model keeps the dense size, as the table shows)
    for name in ("dense", "structured_slim"):
        m[macro_name("Pthree", "params", name)] = fmt(int(first.loc[name, "params"]))
        m[macro_name("Pthree", "mb", name)] = fmt(first.loc[name, "state_dict_bytes"] / 1e6)
    unstructured = first.loc["unstructured_masked"]
    m["PthreeMmacsUnstructuredMasked"] = fmt(unstructured["macs"] / 1e6, 1)
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
        for name in ("dense", "structured_slim"):  # the masked models' latencies are the table's
            m[macro_name("Pthree", "latency", name, size, "batch")] = fmt(row[name], 2)
        m[macro_name("Pthree", "speedup slim", size, "batch")] = fmt(row["dense"] / row["structured_slim"], 1)
    smallest = latency.iloc[0]  # the unstructured speed-up the text quotes is the smallest batch's
    speedup = smallest["dense"] / smallest["unstructured_masked"]
    m["PthreeSpeedupUnstructuredSmallBatch"] = fmt(speedup, 1)
    m["PthreeSlimMaxDiff"] = f"{slim_checks['max_abs_diff_float64'].max():.1e}"
    m["PthreeSlimMaxDiffFloat"] = f"{slim_checks['max_abs_diff_float32'].max():.1e}"
    m["PthreeSlimTolerance"] = f"{slim_checks['tolerance'].iloc[0]:.0e}"
    m["PthreeSlimWidths"] = escape(slim_checks["widths"].iloc[0])
    followers = len(str(slim_checks["widths"].iloc[0]).split()) - 1  # every conv but the first has a predecessor
    m["PthreeSlimFoldedText"] = folded_text(int(slim_checks["folded_constant_layers"].max()), followers)
    m["PthreeSlimAccGap"] = fmt((slim_checks["test_acc_masked"] - slim_checks["test_acc_slim"]).abs().max())


def folded_text(folded: int, followers: int) -> str:
    """Sentence start: how many layers after the first needed the folded constant, worded for the count."""
    if followers <= 0 or folded == 0:
        return "No layer after the first"
    if folded >= followers:
        return "The one layer after the first" if followers == 1 else f"All {followers} layers after the first"
    return f"{folded} of the {followers} layers after the first"


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
    sanity_epochs: pd.DataFrame | None = None,
    sanity_reference_epochs: pd.DataFrame | None = None,
    results: pd.DataFrame | None = None,
) -> dict:
    """Every Part 3 macro (name -> TeX) from the part's tidy CSVs (the schedule's settings are columns of its runs);
    the final accuracies printed from Part 3's tidy `results` (effdl.report.results.part3_results)."""
    results = part3_results(pruned, baseline, sanity) if results is None else results
    events = pruned_epochs.loc[pruned_epochs["prune_event"].astype(str) == "True"]
    prune_after = sorted(int(e) for e in events["epoch"].unique())
    if "prune_percent" in pruned:
        percentage = float(pruned["prune_percent"].iloc[0])
    else:  # runs from before the column: the sparsity the first event reached is one event's share
        percentage = float(events.loc[events["epoch"] == prune_after[0], "sparsity"].mean())
    m: dict[str, str] = {"PthreeParams": fmt(int(sanity["params_total"].iloc[0]))}
    sanity_macros(m, sanity, sanity_reference, sanity_epochs, sanity_reference_epochs, results)
    schedule_macros(m, pruned, sparsity, percentage, prune_after)
    accuracy_macros(m, pruned, pruned_epochs, baseline, results)
    oneshot_macros(m, oneshot, pruned_epochs)
    benchmark_macros(m, bench, slim_checks)
    return m


LABELS = {
    "baseline": "ConvNet baseline (Part 1.2 MultiStep)",
    "structured": "structured: filter L1 (Part 3.3)",
    "unstructured": "unstructured: weight |w| (Part 3.4)",
    "sparse_convnet": "SparseConvNet, unpruned (control)",  # the registry's SparseConvNet colour
}


def sanity_figure(epochs: pd.DataFrame) -> plt.Figure:
    """Part 3.2: training error and test accuracy of the unpruned SparseConvNet beside Part 1.1's ConvNet at the
    same lr, over the epochs both ran (the seed compares the same number of epochs)."""
    sparse = epochs[epochs["model"] == "sparse_convnet"]
    epochs = epochs[(epochs["model"] == "sparse_convnet") | (epochs["epoch"] <= sparse["epoch"].max())]
    lr = ", ".join(f"{v:g}" for v in sorted(epochs["lr"].unique()))
    title = f"Part 3.2: SparseConvNet sanity check (lr {lr})"
    return training_error_figure(epochs, "model", title, order=["sparse_convnet", "convnet"])


def pruning_figure(pruned: pd.DataFrame, baseline: pd.DataFrame, unpruned: pd.DataFrame | None = None) -> plt.Figure:
    """Parts 3.3/3.4: test accuracy of both pruning modes against the dense baseline (and, when run, the unpruned
    SparseConvNet on the same schedule, a control), and their sparsity per epoch; the pruning events drawn in red
    above the grid and numbered, the sparsity panel with its own legend."""
    frames = [baseline.assign(network="baseline"), pruned.assign(network=pruned["mode"])]
    if unpruned is not None and not unpruned.empty:
        frames.append(unpruned.assign(network="sparse_convnet"))
    epochs = pd.concat(frames, ignore_index=True)
    epochs = epochs[epochs["epoch"] >= 1]
    events = sorted(int(e) for e in pruned.loc[pruned["prune_event"].astype(str) == "True", "epoch"].unique())
    set_style()
    fig, (ax_acc, ax_sparsity) = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [2.2, 1]})
    order = [network for network in LABELS if network in set(epochs["network"])]
    palette = palette_for(order)
    marker = "o" if epochs["epoch"].nunique() <= 20 else None
    ci_lineplot(ax_acc, epochs, "epoch", "test_acc", "network", hue_order=order, palette=palette, marker=marker)
    # sparsity is the same for every seed (exact counts), so one line per mode; epoch 0 = before any pruning
    trained = pruned[pruned["epoch"] >= 1].assign(network=pruned["mode"])
    sparsity = trained.groupby(["network", "epoch"], as_index=False)["sparsity"].mean()
    start = pd.DataFrame({"network": list(MODES), "epoch": 0, "sparsity": 0.0})
    sparsity = pd.concat([start, sparsity], ignore_index=True)
    styles = {"structured": ("-", "o", 2.6), "unstructured": ("--", "x", 1.2)}
    for network, line in sparsity.groupby("network"):
        style, mark, width = styles.get(network, ("-", None, 1.5))
        ax_sparsity.step(
            line["epoch"],
            100 * line["sparsity"],
            where="post",
            color=palette[network],
            linestyle=style,
            linewidth=width,
            marker=mark,
            markersize=4,
            label=network,
            zorder=4,
        )
    for ax in (ax_acc, ax_sparsity):
        mark_events(ax, events, "pruning event", annotate=True)
    integer_epochs(ax_acc, epochs["epoch"])
    handles, labels = ax_acc.get_legend_handles_labels()
    ax_acc.legend(handles, [LABELS.get(label, label) for label in labels], title=None, fontsize=7)
    ax_acc.set(xlabel="epoch (red: pruning events, after that epoch's training)", ylabel="test accuracy (%)")
    ax_sparsity.legend(fontsize=7, title="sparsity (modes coincide)", title_fontsize=7, loc="lower right")
    top = max(5.0, 115 * float(sparsity["sparsity"].max()))
    ax_sparsity.set(xlabel="epoch", ylabel="conv weights pruned (%)", ylim=(-2, top), xlim=(0, None))
    fig.suptitle("Parts 3.3/3.4: gradual magnitude pruning against the dense ConvNet (CIFAR-10)", y=1.04)
    return fig


def oneshot_figure(oneshot: pd.DataFrame, gradual: pd.DataFrame, baseline: pd.DataFrame) -> plt.Figure:
    """One-shot pruning of the trained ConvNet at each sparsity, against the gradual schedule and the dense model;
    Figure 'pruning''s colours, the y axis scaled to the data."""
    oneshot = oneshot.assign(sparsity_pct=100 * oneshot["target_sparsity"])
    final = gradual.sort_values("epoch").groupby("run").tail(1)  # each run's last epoch: final sparsity and accuracy
    modes = list(MODES)
    set_style()
    colors = palette_for(modes)
    fig, ax = plt.subplots(figsize=(6, 4.4))
    ci_lineplot(ax, oneshot, "sparsity_pct", "test_acc", "mode", hue_order=modes, palette=colors, marker="o")
    for mode, group in final.groupby("mode"):
        mean = group["test_acc"].mean()
        low, high = bounded_band(ACCURACY_RANGE)(group["test_acc"])
        few = len(group) <= SEEDS_SHOWN_MAX  # few seeds: each run's point beside the mean, no t-band
        if few:
            ax.scatter(100 * group["sparsity"], group["test_acc"], s=10, color=colors[mode], alpha=0.6, linewidths=0)
        ax.errorbar(
            100 * group["sparsity"].mean(),
            mean,
            yerr=None if few else [[mean - low], [high - mean]],
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
    ax.set(xlabel="per-layer sparsity (%)", ylabel="test accuracy (%)")  # y scaled to the data
    handles, labels = ax.get_legend_handles_labels()
    labels = [f"{label}, one-shot (no retraining)" if label in modes else label for label in labels]
    # the legend below the axes in two columns: beside them it doubled the width and shrank the printed figure
    if ax.get_legend() is not None:  # seaborn's own legend: the figure's below replaces it
        ax.get_legend().remove()
    fig.legend(handles, labels, fontsize=7.5, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False)
    fig.suptitle("One-shot magnitude pruning of the trained ConvNet vs gradual pruning")
    fig.tight_layout(rect=(0, 0.17, 1, 0.97))
    return fig
