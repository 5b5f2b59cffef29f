"""Part 6's paper outputs: the DWConvNet training figure, the parameter-count table and the TeX number macros."""

from __future__ import annotations

import pandas as pd

from effdl.report import words
from effdl.report.plotting import ci_lineplot, mark_events, set_style, smoothed_losses
from effdl.report.results import format_result, lookup, part6_results
from effdl.report.texgen import escape, fmt

IMPL_LABELS = {"mine": "mine (no groups)", "solution": "solution (groups)"}


def lr_drop_epochs(epochs: pd.DataFrame) -> list[int]:
    """Epoch boundaries where the learning rate fell (the epoch_lr column is the rate each epoch trained with)."""
    drops = set()
    for _, run in epochs[epochs["epoch"] >= 1].sort_values("epoch").groupby("run"):
        lrs, numbers = run["epoch_lr"].to_numpy(), run["epoch"].to_numpy()
        drops.update(int(numbers[i - 1]) for i in range(1, len(lrs)) if lrs[i] < lrs[i - 1])
    return sorted(drops)


def dwconv_figure(iters: pd.DataFrame, epochs: pd.DataFrame, window: int, title: str):
    """Three panels vs epoch: smoothed training loss, training error (100 - train accuracy) and test accuracy."""
    import matplotlib.pyplot as plt

    set_style()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.3))
    smooth = smoothed_losses(iters, window, by=["impl", "seed"])
    ci_lineplot(axes[0], smooth, "epoch", "smoothed_loss", "impl")
    axes[0].set(xlabel="epoch", ylabel=f"training loss (moving average, n={window})")
    trained = epochs[epochs["epoch"] >= 1].assign(train_error=lambda d: 100.0 - d["train_acc"])
    marker = "o" if trained["epoch"].nunique() <= 20 else None  # markers only while they stay readable
    ci_lineplot(axes[1], trained, "epoch", "train_error", "impl", marker=marker)
    axes[1].set(xlabel="epoch", ylabel="training error (%)")
    ci_lineplot(axes[2], trained, "epoch", "test_acc", "impl", marker=marker)
    axes[2].set(xlabel="epoch", ylabel="test accuracy (%)")
    for ax in axes:
        mark_events(ax, lr_drop_epochs(epochs), "lr drop")
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    handles, labels = axes[2].get_legend_handles_labels()
    axes[2].legend(handles, [IMPL_LABELS.get(label, label) for label in labels], loc="lower right", title="layer")
    fig.suptitle(title)
    return fig


def parameter_table(params: pd.DataFrame) -> pd.DataFrame:
    """One row per comparison (layer, network): standard and separable counts (mine / solution) and ratios (TeX)."""
    rows = []
    for comparison, group in params.groupby("comparison", sort=False):
        counts = group.set_index("impl")["separable_params"]
        standard = int(group["standard_params"].iloc[0])
        theory = group["theoretical_ratio"].iloc[0]
        rows.append(
            {
                "comparison": escape(comparison),
                "standard": fmt(standard),
                "separable (mine / solution)": " / ".join(fmt(int(counts[i])) for i in counts.index),
                "measured ratio": fmt(standard / int(counts.iloc[0]), 2),
                "theoretical ratio": fmt(theory, 2) if pd.notna(theory) else "--",
            }
        )
    return pd.DataFrame(rows)


def speedup_phrase(ratio: float) -> str:
    """'2.31$\\times$ faster than' for mine's time / the solution's (or 'slower than' below 1)."""
    return f"{ratio:.2f}$\\times$ faster than" if ratio >= 1 else f"{1 / ratio:.2f}$\\times$ slower than"


def epoch_timing_macros(m: dict, timing: pd.DataFrame | None) -> None:
    """6.2.2 as the problem set asks it: whole training epochs with each layer (rule time_dwconv_epochs)."""
    if timing is None or timing.empty:
        m["PsixEpochSpeedupPhrase"], m["PsixEpochTimingText"] = "n/a", "no whole-epoch timing was run"
        return
    rows = timing.set_index("impl")
    epochs = int(rows["epochs"].iloc[0])
    m["PsixEpochSpeedupPhrase"] = speedup_phrase(float(rows.loc["mine", "time_ratio"]))
    m["PsixEpochTimingText"] = (
        f"{words.count(epochs, 'epoch')} of {fmt(int(rows['images_per_epoch'].iloc[0]))} training images per layer "
        f"(batch {int(rows['batch_size'].iloc[0])}, shuffled and augmented, layers alternating epoch by epoch) on "
        f"{escape(', '.join(sorted(timing['device'].unique())))}: "
        f"{fmt(float(rows.loc['mine', 'median_epoch_s']), 1)}\\,s per epoch with mine against "
        f"{fmt(float(rows.loc['solution', 'median_epoch_s']), 1)}\\,s with the solution"
    )


def part6_macros(
    params: pd.DataFrame,
    bench: pd.DataFrame,
    summary: pd.DataFrame,
    epochs: pd.DataFrame,
    example: dict,
    batch_size: int,
    results: pd.DataFrame | None = None,
    epoch_timing: pd.DataFrame | None = None,
) -> dict[str, str]:
    """Macros named \\Psix... for every number and comparison word the Part 6 text quotes; numbers with an
    interval come from Part 6's tidy `results` (effdl.report.results.part6_results)."""
    m: dict[str, str] = {}
    epoch_timing_macros(m, epoch_timing)
    layer = params[params["comparison"].str.startswith("layer")]
    network = params[~params["comparison"].str.startswith("layer")]
    for frame in (layer, network):
        if frame["separable_params"].nunique() != 1:
            raise ValueError(f"the two layer implementations disagree on parameter counts:\n{frame}")
    m["PsixCin"], m["PsixCout"], m["PsixK"] = (str(example[k]) for k in ("C_in", "C_out", "kernel_size"))
    m["PsixStandardParams"] = fmt(int(layer["standard_params"].iloc[0]))
    m["PsixSeparableParams"] = fmt(int(layer["separable_params"].iloc[0]))
    measured, theory = float(layer["measured_ratio"].iloc[0]), float(layer["theoretical_ratio"].iloc[0])
    m["PsixMeasuredRatio"], m["PsixTheoryRatio"] = fmt(measured, 2), fmt(theory, 2)
    m["PsixRatioCheck"] = "equals" if abs(measured - theory) < 1e-9 else "differs from"
    m["PsixConvNetParams"] = fmt(int(network["standard_params"].iloc[0]))
    m["PsixDWConvNetParams"] = fmt(int(network["separable_params"].iloc[0]))
    m["PsixNetRatio"] = fmt(float(network["measured_ratio"].iloc[0]), 2)

    rows = bench.set_index("impl")
    m["PsixBenchDevice"] = escape(", ".join(sorted(bench["device"].unique())))
    m["PsixBenchBatch"] = str(int(rows["batch_size"].iloc[0]))
    m["PsixBenchStepsText"] = words.count(int(rows["steps"].iloc[0]), "step")
    for impl in ("mine", "solution"):
        name = impl.capitalize()
        m[f"Psix{name}ImagesPerSecond"] = fmt(float(rows.loc[impl, "images_per_s"]), 1)
        m[f"Psix{name}StepMs"] = fmt(1000 * float(rows.loc[impl, "median_step_s"]), 1)
        compute = float(rows.loc[impl, "median_forward_s"]) + float(rows.loc[impl, "median_backward_s"])
        m[f"Psix{name}ComputeMs"] = fmt(1000 * compute, 1)
        m[f"Psix{name}OptimizerMs"] = fmt(1000 * float(rows.loc[impl, "median_optimizer_s"]), 1)
        m[f"Psix{name}ParamTensors"] = str(int(rows.loc[impl, "param_tensors"]))

    m["PsixSeedsText"] = words.count(int(summary["seed"].nunique()), "seed")
    m["PsixSeedList"] = ", ".join(str(int(seed)) for seed in sorted(summary["seed"].unique()))
    m["PsixBatchSize"] = str(int(batch_size))
    m["PsixEpochsText"] = words.count(int(summary["epochs_planned"].max()), "epoch")
    m["PsixLr"] = f"{float(summary['lr'].iloc[0]):g}"
    factor = words.lr_drop_factor(epochs)
    drops = lr_drop_epochs(epochs)
    m["PsixScheduleText"] = (
        f"the learning rate divided by {factor:.3g} {words.epochs_phrase(drops)}"
        if factor and drops
        else "a constant learning rate"
    )
    m["PsixTrainImages"] = fmt(int(summary["n_train"].iloc[0]))
    m["PsixDevice"] = escape(", ".join(sorted(summary["device"].unique())))
    results = part6_results(summary, epochs) if results is None else results
    m["PsixFinalAcc"] = format_result(lookup(results, metric="final_test_acc"))
    m["PsixBestAcc"] = format_result(lookup(results, metric="best_test_acc"))
    m["PsixFinalTrainError"] = format_result(lookup(results, metric="final_train_error"))
    m["PsixTrainTime"] = fmt(float(lookup(results, metric="total_time_s")["mean"]), 0)
    return m
