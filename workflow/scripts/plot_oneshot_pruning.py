"""Snakemake adapter for rule plot_oneshot_pruning: one-shot pruning sweep vs the gradual schedule (CSVs only)."""

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from effdl.report.plotting import ci_lineplot, provenance_caption, save_figure, set_style
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])

MODES = ["structured", "unstructured"]


def main(oneshot_csvs: list, gradual_csv: str, baseline_csvs: list, out_pdf: str) -> None:
    oneshot = pd.concat([pd.read_csv(path) for path in oneshot_csvs], ignore_index=True)
    oneshot["sparsity_pct"] = 100 * oneshot["target_sparsity"]
    gradual = pd.read_csv(gradual_csv)
    final = gradual.sort_values("epoch").groupby("run").tail(1)  # each run's last epoch: final sparsity and accuracy
    baseline = pd.concat([pd.read_csv(path) for path in baseline_csvs], ignore_index=True)
    set_style()
    colors = dict(zip(MODES, sns.color_palette("colorblind", len(MODES))))
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ci_lineplot(ax, oneshot, "sparsity_pct", "test_acc", "mode", hue_order=MODES, palette=colors, marker="o")
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
    labels = [f"{label}, one-shot (no retraining)" if label in MODES else label for label in labels]
    ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle("One-shot magnitude pruning of the trained ConvNet vs gradual pruning")
    save_figure(fig, out_pdf, provenance_caption(oneshot))
    log(f"wrote {out_pdf}: {oneshot['seed'].nunique()} baseline seeds, {len(final)} gradual runs")


main(list(snakemake.input.oneshot), snakemake.input.gradual, list(snakemake.input.baseline), snakemake.output[0])
