"""Snakemake adapter for rule plot_pruning: dense baseline vs structured and unstructured pruning (CSVs only)."""

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from effdl.report.plotting import ci_lineplot, provenance_caption, save_figure, set_style
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])

BASELINE = "ConvNet baseline (Part 1.2 MultiStep)"
LABELS = {"structured": "structured: filter L1 (Part 3.3)", "unstructured": "unstructured: weight |w| (Part 3.4)"}


def main(pruned_csv: str, baseline_csvs: list, out_pdf: str) -> None:
    pruned = pd.read_csv(pruned_csv)
    pruned["network"] = pruned["mode"].map(LABELS)
    baseline = pd.concat([pd.read_csv(path) for path in baseline_csvs], ignore_index=True)
    baseline["network"] = BASELINE
    epochs = pd.concat([baseline, pruned], ignore_index=True)
    epochs = epochs[epochs["epoch"] >= 1]
    events = sorted(pruned.loc[pruned["prune_event"].astype(str) == "True", "epoch"].unique())
    set_style()
    fig, (ax_acc, ax_sparsity) = plt.subplots(1, 2, figsize=(9, 3.4), gridspec_kw={"width_ratios": [2.2, 1]})
    order = [BASELINE, *LABELS.values()]
    ci_lineplot(
        ax_acc,
        epochs,
        "epoch",
        "test_acc",
        "network",
        hue_order=order,
        palette=dict(zip(order, sns.color_palette("colorblind", len(order)))),
    )
    # sparsity is the same for every seed (exact counts), so one line per mode; epoch 0 = before any pruning
    sparsity = pruned[pruned["epoch"] >= 1].groupby(["network", "epoch"], as_index=False)["sparsity"].mean()
    start = pd.DataFrame({"network": list(LABELS.values()), "epoch": 0, "sparsity": 0.0})
    sparsity = pd.concat([start, sparsity], ignore_index=True)
    sparsity["sparsity_pct"] = 100 * sparsity["sparsity"]
    palette = dict(zip(order, sns.color_palette("colorblind", len(order))))
    for network, line in sparsity.groupby("network"):
        ax_sparsity.step(
            line["epoch"],
            line["sparsity_pct"],
            where="post",
            color=palette[network],
            linestyle="-" if "unstructured" in network else "--",
        )
    for ax in (ax_acc, ax_sparsity):
        for epoch in events:
            ax.axvline(epoch, color="0.5", linestyle=":", linewidth=0.8, zorder=0)
    ax_acc.set(xlabel="epoch (pruning events dotted)", ylabel="test accuracy (%)")
    ax_acc.legend(title=None, fontsize=7)
    ax_sparsity.set(xlabel="epoch", ylabel="conv weights pruned (%)", ylim=(-2, 100), xlim=(0, None))
    fig.suptitle("Parts 3.3/3.4: gradual magnitude pruning against the dense ConvNet (CIFAR-10)")
    save_figure(fig, out_pdf, provenance_caption(epochs))
    log(f"wrote {out_pdf}: {epochs['run'].nunique()} runs, pruning after epochs {events}")


main(snakemake.input.pruned, list(snakemake.input.baseline), snakemake.output[0])
