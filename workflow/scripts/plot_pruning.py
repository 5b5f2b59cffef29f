"""Snakemake adapter for rule plot_pruning: dense baseline vs structured and unstructured pruning (CSVs only)."""

import matplotlib.pyplot as plt
import pandas as pd

from effdl.report.plotting import ci_lineplot, mark_events, palette_for, provenance_caption, save_figure, set_style
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])

LABELS = {
    "baseline": "ConvNet baseline (Part 1.2 MultiStep)",
    "structured": "structured: filter L1 (Part 3.3)",
    "unstructured": "unstructured: weight |w| (Part 3.4)",
}


def main(pruned_csv: str, baseline_csvs: list, out_pdf: str) -> None:
    pruned = pd.read_csv(pruned_csv)
    pruned["network"] = pruned["mode"]
    baseline = pd.concat([pd.read_csv(path) for path in baseline_csvs], ignore_index=True)
    baseline["network"] = "baseline"
    epochs = pd.concat([baseline, pruned], ignore_index=True)
    epochs = epochs[epochs["epoch"] >= 1]
    events = sorted(int(e) for e in pruned.loc[pruned["prune_event"].astype(str) == "True", "epoch"].unique())
    set_style()
    fig, (ax_acc, ax_sparsity) = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [2.2, 1]})
    order = list(LABELS)
    palette = palette_for(order)
    ci_lineplot(
        ax_acc,
        epochs,
        "epoch",
        "test_acc",
        "network",
        hue_order=order,
        palette=palette,
        marker="o" if epochs["epoch"].nunique() <= 20 else None,
    )
    # sparsity is the same for every seed (exact counts), so one line per mode; epoch 0 = before any pruning
    sparsity = pruned[pruned["epoch"] >= 1].groupby(["network", "epoch"], as_index=False)["sparsity"].mean()
    start = pd.DataFrame({"network": ["structured", "unstructured"], "epoch": 0, "sparsity": 0.0})
    sparsity = pd.concat([start, sparsity], ignore_index=True)
    sparsity["sparsity_pct"] = 100 * sparsity["sparsity"]
    for (network, line), (style, marker, width) in zip(
        sparsity.groupby("network"), (("-", "o", 2.6), ("--", "x", 1.2))
    ):
        ax_sparsity.step(
            line["epoch"],
            line["sparsity_pct"],
            where="post",
            color=palette[network],
            linestyle=style,
            linewidth=width,
            marker=marker,
            markersize=4,
            label=LABELS[network].split(":")[0],
            zorder=4,
        )
    for ax in (ax_acc, ax_sparsity):
        mark_events(ax, events, "pruning event", annotate=True)
    handles, labels = ax_acc.get_legend_handles_labels()
    ax_acc.legend(handles, [LABELS.get(label, label) for label in labels], title=None, fontsize=7)
    ax_acc.set(xlabel="epoch (red: pruning events, after that epoch's training)", ylabel="test accuracy (%)")
    ax_sparsity.legend(fontsize=7, title="sparsity (the two coincide)", title_fontsize=7, loc="lower right")
    top = max(5.0, 1.15 * float(sparsity["sparsity_pct"].max()))
    ax_sparsity.set(xlabel="epoch", ylabel="conv weights pruned (%)", ylim=(-2, top), xlim=(0, None))
    fig.suptitle("Parts 3.3/3.4: gradual magnitude pruning against the dense ConvNet (CIFAR-10)", y=1.04)
    save_figure(fig, out_pdf, provenance_caption(epochs))
    log(f"wrote {out_pdf}: {epochs['run'].nunique()} runs, pruning after epochs {events}")


main(snakemake.input.pruned, list(snakemake.input.baseline), snakemake.output[0])
