"""The one place the figure style is set; helpers for CI-band line plots and provenance captions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from effdl.io import atomic_write

BOOTSTRAP_SEED = 0  # fixed so a figure's CI bands are identical on every rebuild
ERRORBAR = ("ci", 95)


def set_style() -> None:
    """Seaborn theme and PDF font embedding for every figure of the study (headless: figures are files)."""
    matplotlib.use("Agg")
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"pdf.fonttype": 42, "ps.fonttype": 42, "figure.dpi": 100, "savefig.bbox": "tight"})


def provenance_caption(df: pd.DataFrame) -> str:
    """One line naming the data, device, epochs, seeds and commit behind a figure's rows."""

    def values(col: str) -> str:
        if col not in df:
            return "?"
        return ", ".join(str(v) for v in sorted(df[col].dropna().unique(), key=str))

    n_seeds = df["seed"].nunique() if "seed" in df else 0
    return (
        f"data: {values('data_source')} | device: {values('device')} | epochs: {values('epochs_planned')} | "
        f"seeds: {n_seeds} ({values('seed')}) | commit {values('git_commit')}"
    )


def save_figure(fig: plt.Figure, path: str | Path, caption: str | None = None) -> None:
    """Add the provenance caption under the axes and save the figure (format from the suffix), atomically."""
    if caption:
        fig.text(0.5, -0.02, caption, ha="center", va="top", fontsize=6, wrap=True)
    try:
        with atomic_write(path, "wb") as handle:
            fig.savefig(handle, format=Path(path).suffix.lstrip(".") or "pdf")
    finally:
        plt.close(fig)


def write_figure(fig: plt.Figure, path: str | Path, rows: pd.DataFrame, log: Callable[[str], None]) -> None:
    """Save a figure with the provenance caption of the rows it shows, and log what was written."""
    save_figure(fig, path, provenance_caption(rows))
    runs = f"{rows['run'].nunique()} runs" if "run" in rows else f"{len(rows)} rows"
    log(f"wrote {path} from {runs}")


def ci_lineplot(ax: plt.Axes, df: pd.DataFrame, x: str, y: str, hue: str, **kwargs) -> None:
    """One line per `hue` value with a 95% bootstrap CI band over seeds (fixed bootstrap seed)."""
    sns.lineplot(data=df, x=x, y=y, hue=hue, errorbar=ERRORBAR, seed=BOOTSTRAP_SEED, n_boot=500, ax=ax, **kwargs)


def smoothed_losses(iters: pd.DataFrame, window: int, by: list[str], max_points: int = 400) -> pd.DataFrame:
    """Per run, the seed's moving_average of the per-iteration loss, placed at each window's last iteration (epochs)."""
    from effdl.engine import moving_average

    frames = []
    for keys, run in iters.sort_values("iteration").groupby(by, sort=True):
        smooth = moving_average(run["loss"].to_numpy(), window).numpy()
        if len(smooth) == 0:
            continue
        x = run["epoch_float"].to_numpy()[window - 1 :] + 1.0 / max(1, _iters_per_epoch(run))
        stride = max(1, len(smooth) // max_points)
        frame = pd.DataFrame({"epoch": x[::stride], "smoothed_loss": smooth[::stride]})
        for col, value in zip(by, keys if isinstance(keys, tuple) else (keys,)):
            frame[col] = value
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["epoch", "smoothed_loss", *by])


def _iters_per_epoch(run: pd.DataFrame) -> int:
    positive = run.loc[run["epoch_float"] > 0, ["iteration", "epoch_float"]]
    if positive.empty:
        return 1
    row = positive.iloc[0]
    return int(round(row["iteration"] / row["epoch_float"]))


def hue_order(values: pd.Series) -> list:
    """Distinct values in numeric order when they all read as numbers ('1e-4' < '0.1' < '10'), else sorted."""
    distinct = list(pd.unique(values.dropna()))
    numbers = pd.to_numeric(pd.Series(distinct, dtype=object), errors="coerce")
    if numbers.notna().all():
        return [v for _, v in sorted(zip(numbers, distinct), key=lambda pair: pair[0])]
    return sorted(distinct, key=str)


def training_curves_figure(iters: pd.DataFrame, epochs: pd.DataFrame, hue: str, window: int, title: str):
    """Two panels side by side: smoothed training loss and test accuracy vs epoch, CI bands over seeds."""
    set_style()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4))
    order = hue_order(epochs[hue])  # the same colour per setting in both panels, numbers in numeric order
    smooth = smoothed_losses(iters, window, by=[hue, "seed"])
    ci_lineplot(ax_loss, smooth, "epoch", "smoothed_loss", hue, hue_order=order)
    ax_loss.set(xlabel="epoch", ylabel=f"training loss (moving average, n={window})")
    losses = smooth["smoothed_loss"].replace([float("inf")], float("nan")).dropna()
    if len(losses) and losses.min() > 0 and losses.max() / losses.min() > 10:
        ax_loss.set_yscale("log")  # a diverging rate would flatten every other curve
    trained = epochs[epochs["epoch"] >= 1]
    ci_lineplot(ax_acc, trained, "epoch", "test_acc", hue, marker="o", hue_order=order)
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)")
    fig.suptitle(title)
    return fig
