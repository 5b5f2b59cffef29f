"""The efficiency frontier's figure: accuracy against each measured cost, Pareto fronts marked. Torch-free."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from effdl.report import stats
from effdl.report.frontier import COSTS, _batch, comparable, unit_values
from effdl.report.plotting import palette_for, set_style

MARKERS = {"fp32": "o", "8": "s", "4": "D", "2": "v", "stochastic": "X", "masked": "^", "slim": "P", "dw": "*"}


def _style(row) -> tuple[str, str]:
    """(colour key, marker) of a frontier row: colour by family, marker by width or kind."""
    key = row["key"]
    if key == "fp32":
        return "fp32", MARKERS["fp32"]
    if key.startswith("ptq-"):
        _, granularity, rounding, bits = key.split("-")
        return granularity, MARKERS["stochastic" if rounding == "stochastic" else bits.removesuffix("bit")]
    if key.startswith("pruned-"):
        mode = key.split("-")[1]
        return mode, MARKERS["slim" if key.endswith("slim") else "masked"]
    return key, MARKERS["dw"]


def frontier_figure(table: pd.DataFrame):
    """One panel per measured cost (stored bytes, latency, MACs; log axes): each variant's mean accuracy with
    its 95% t-interval (each seed's point beside it when n <= 3), the Pareto front as a step line, front
    points ringed. Variants a cost was not measured for are absent from that panel (the table says why)."""
    set_style()
    costs = [c for c in COSTS if np.isfinite(comparable(table, c)).sum() >= 1]
    fig, axes = plt.subplots(1, max(1, len(costs)), figsize=(3.2 * max(1, len(costs)), 4.2), squeeze=False)
    styles = {row["key"]: _style(row) for _, row in table.iterrows()}
    colours = palette_for([s[0] for s in styles.values()])
    colours["fp32"] = (0.1, 0.1, 0.1)
    colours["dwconvnet"] = (0.45, 0.25, 0.6)  # a dark colour no registry entry uses: a star must stay visible
    handles = {}
    for ax, cost in zip(axes[0], costs):
        name, unit = COSTS[cost]
        scale = {"kB": 1e3, "M": 1e6, "ms": 1.0}[unit]
        shown = table.loc[np.isfinite(comparable(table, cost))]
        for _, row in shown.iterrows():
            colour_key, marker = styles[row["key"]]
            x = row[cost] / scale
            seeds = unit_values(row["acc_units"])
            if 1 < len(seeds) <= stats.SEEDS_SHOWN_MAX:
                ax.scatter([x] * len(seeds), seeds, s=9, color=colours[colour_key], alpha=0.45, zorder=2)
            elif len(seeds) > stats.SEEDS_SHOWN_MAX:
                low, high = stats.clipped(stats.t_interval(seeds), stats.ACCURACY_RANGE)
                ax.errorbar(x, row["acc_mean"], yerr=[[row["acc_mean"] - low], [high - row["acc_mean"]]],
                            color=colours[colour_key], linewidth=0.9, zorder=2)  # fmt: skip
            on_front = bool(row[f"front_{cost}"])
            handles[row["label"]] = ax.scatter(
                x,
                row["acc_mean"],
                s=90 if marker == MARKERS["dw"] else 46,
                marker=marker,
                color=colours[colour_key],
                edgecolor="black" if on_front else "white",
                linewidth=1.1 if on_front else 0.5,
                zorder=4,
                label=row["label"],
            )
        front = shown.loc[shown[f"front_{cost}"].astype(bool)].sort_values(cost)
        if len(front):
            ax.step(front[cost] / scale, front["acc_mean"], where="post", color="0.3", linewidth=1.0,
                    linestyle="--", zorder=3, label="Pareto front")  # fmt: skip
        if cost != "latency_ms":  # bytes and MACs span orders of magnitude; latencies a factor of a few
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        label = f"{name} at batch {_batch(table)} ({unit})" if cost == "latency_ms" else f"{name} ({unit})"
        ax.set(xlabel=label, ylabel="test accuracy (%)" if ax is axes[0][0] else "")
    seeds_max = int(table["n"].max()) if len(table) else 0
    note = "points: each seed, beside the mean" if seeds_max <= stats.SEEDS_SHOWN_MAX else "bars: mean and 95% CI"
    labels = list(handles)
    fig.legend(
        [handles[k] for k in labels],
        labels,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=3,
        fontsize=7,
        frameon=False,
    )
    rows = math.ceil(len(labels) / 3)
    fig.suptitle(f"The ConvNet family against its costs (ringed and dashed: Pareto front of the means; {note})")
    fig.tight_layout(rect=(0, min(0.45, 0.06 * rows + 0.02), 1, 0.95))
    return fig
