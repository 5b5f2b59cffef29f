"""Part 2's figure: test accuracy against bit width per network, nearest and stochastic rounding. Torch-free."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from effdl.plan.quant_variants import GRANULARITIES
from effdl.report.part2 import NET_LABELS
from effdl.report.plotting import palette_for, set_style
from effdl.report.stats import ACCURACY_RANGE, SEEDS_SHOWN_MAX, t_interval


def _clipped_yerr(means, half_widths) -> np.ndarray:
    """Asymmetric error-bar lengths of 95% t-intervals cut to [0, 100] %."""
    means, half = np.asarray(means, dtype=float), np.nan_to_num(np.asarray(half_widths, dtype=float))
    low = np.maximum(ACCURACY_RANGE[0], means - half)
    high = np.minimum(ACCURACY_RANGE[1], means + half)
    return np.vstack([means - low, high - means])


def quantization_figure(summary: pd.DataFrame, rows: pd.DataFrame):
    """One panel per network: test accuracy vs bit width (nearest, per granularity) with the fp32 level, and
    every stochastic trial as a dot beside the banker's-rounding point at the same width."""
    set_style()
    nets = [n for n in NET_LABELS if n in set(summary["net"])] + sorted(set(summary["net"]) - set(NET_LABELS))
    # about \linewidth wide, so save_figure's 7 pt floor barely enlarges text laid out here (no overlap)
    fig, axes = plt.subplots(1, len(nets), figsize=(3.3 * len(nets), 3.9), squeeze=False)
    colors = palette_for(GRANULARITIES)  # effdl.plan.registry's colours
    for ax, net in zip(axes[0], nets):
        summ, net_rows = summary[summary["net"] == net], rows[rows["net"] == net]
        widths = sorted(int(b) for b in summ.loc[summ["rounding"] != "fp32", "bits"].unique())
        position = {b: i for i, b in enumerate(widths)}
        fp = summ[summ["rounding"] == "fp32"].iloc[0]
        ax.axhline(fp.acc_mean, color="0.3", linestyle="--", linewidth=1, label="fp32 (unquantized)")
        granularities = [g for g in GRANULARITIES if g in set(summ["granularity"])]
        for k, granularity in enumerate(granularities):
            offset = 0.12 * (k - (len(granularities) - 1) / 2)
            nearest = summ[(summ["granularity"] == granularity) & (summ["rounding"] == "nearest")].sort_values("bits")
            few = int(summ["checkpoints"].max()) <= SEEDS_SHOWN_MAX  # few models: show each, not a t-band
            ax.errorbar(
                [position[b] + offset for b in nearest["bits"]],
                nearest["acc_mean"],
                yerr=None if few else _clipped_yerr(nearest["acc_mean"], nearest["acc_ci"]),
                color=colors[granularity],
                marker="o",
                capsize=3,
                label=f"per {granularity}, nearest (banker's)" + (", mean and each model" if few else ", 95% CI"),
            )
            if few:
                each = net_rows[(net_rows["granularity"] == granularity) & (net_rows["rounding"] == "nearest")]
                ax.scatter(
                    [position[int(b)] + offset for b in each["bits"]],
                    each["test_acc"],
                    s=8,
                    color=colors[granularity],
                    alpha=0.6,
                    marker="o",
                    linewidths=0,
                )
            trials = net_rows[(net_rows["granularity"] == granularity) & (net_rows["rounding"] == "stochastic")]
            for bits, group in trials.groupby("bits"):
                x = position[int(bits)] + offset + 0.25
                jitter = np.linspace(-0.05, 0.05, len(group)) if len(group) > 1 else np.zeros(1)
                ax.scatter(
                    x + jitter,
                    group["test_acc"],
                    s=10,
                    color=colors[granularity],
                    alpha=0.5,
                    marker="x",
                    linewidths=0.8,
                )
                models = group.groupby("checkpoint")["test_acc"].mean()  # the unit: one value per trained model
                interval = t_interval(models)
                ax.errorbar(
                    [x],
                    [interval.mean],
                    yerr=None if few else _clipped_yerr([interval.mean], [interval.half_width]),
                    color=colors[granularity],
                    marker="D",
                    markerfacecolor="white",
                    capsize=3,
                    label=f"per {granularity}, stochastic ("
                    + ("mean" if few else "mean, 95% CI over models")
                    + "; x = trials)",
                )
        ax.set_xticks(range(len(widths)), [f"{b}-bit" for b in widths])
        ax.set_xlim(-0.6, len(widths) - 0.3)
        ax.set(xlabel="bit width of every quantized tensor", ylabel="test accuracy (%)", title=NET_LABELS.get(net, net))
    legend = {}  # one shared legend: label -> handle, first occurrence wins
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    fig.suptitle("Part 2: post-training quantization (min/max affine, quantize then dequantize)")
    fig.legend(
        legend.values(),
        legend.keys(),
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=2,
        fontsize=7.5,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.2, 1, 0.97))  # the legend's rows below the panels
    return fig
