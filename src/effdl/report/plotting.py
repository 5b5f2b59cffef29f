"""The one place the figure style is set; helpers for mean-and-seeds or CI-band line plots and provenance captions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.text
import pandas as pd
import seaborn as sns

from effdl.io import atomic_write
from effdl.plan.registry import choices
from effdl.report.names import data_label, display
from effdl.report.stats import SEEDS_SHOWN_MAX, bounded_band, metric_range, t_band
from effdl.smoothing import moving_average

# The figure bands are the text's interval: the Student-t 95% CI over seeds (a callable, not seaborn's bootstrap).
ERRORBAR = t_band
FOOTER_PT = 7.0  # provenance footers print at least this large
MIN_PRINTED_PT = 7.0  # every text of a figure (ticks, legends, labels) prints at least this large
SAVE_PAD_IN = 0.1  # savefig's pad_inches around the tight bounding box (matplotlib's default)
TEXT_WIDTH_IN = 6.45  # the paper's \linewidth (A4/letter with 2.3 cm margins)
EVENT_COLOR = "#d62728"  # pruning events and rate drops: red, drawn above the grid

_CB = sns.color_palette("colorblind", 10)
# One colour per method in every figure: the same scheduler, pruning mode or model is the same colour everywhere.
# Schedulers, pruning modes, granularities and models take their colour from effdl.plan.registry.
PALETTE = {
    **{name: _CB[entry.colour] for name, entry in choices().items() if entry.colour is not None},
    "lr 0.0001": _CB[4],
    "lr 0.1": _CB[5],
    "lr 1": _CB[9],
    "pt_net": _CB[0],
    "net_freeze": _CB[2],
    "net_freeze_lora": _CB[4],
    "mine": _CB[3],
    "solution": _CB[0],
}
ALIASES = {"convnet": "lr 0.1", "baseline": "multistep"}  # Part 3.2's ConvNet is the lr-0.1 run of Part 1.1


def color_key(value: object) -> str:
    """PALETTE's key for a hue value: numbers become 'lr <%g>' ('1.0' -> 'lr 1'), aliases resolve."""
    text = str(value)
    try:
        text = f"lr {float(text):g}"
    except ValueError:
        pass
    return ALIASES.get(text, text)


def palette_for(values) -> dict:
    """{hue value: colour} from PALETTE, unknown values taking the colours no known value uses."""
    values = list(dict.fromkeys(values))
    known = {v: PALETTE[color_key(v)] for v in values if color_key(v) in PALETTE}
    spare = [c for c in _CB if c not in known.values()] or list(_CB)
    unknown = [v for v in values if v not in known]
    return {**known, **{v: spare[i % len(spare)] for i, v in enumerate(unknown)}}


def legend_label(value: object) -> str:
    """A hue value as a legend reads it: 'lr 0.1', 'cosine annealing'."""
    key = color_key(value)
    return key if key.startswith("lr ") and str(value) not in ALIASES else display(value)


def mark_events(ax: plt.Axes, epochs, label: str, color: str = EVENT_COLOR, annotate: bool = False) -> None:
    """Vertical lines at `epochs`, coloured and above the grid; one legend entry named `label`; with
    `annotate`, each line's epoch is written at the top of the axes so no event hides between ticks."""
    for i, epoch in enumerate(epochs):
        ax.axvline(
            epoch, color=color, linestyle="--", linewidth=1.1, alpha=0.85, zorder=3, label=label if i == 0 else None
        )
        if annotate:
            ax.annotate(
                str(int(epoch)),
                (epoch, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7,
                color=color,
            )


def set_style() -> None:
    """Seaborn theme and PDF font embedding for every figure of the study (headless: figures are files)."""
    matplotlib.use("Agg")
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"pdf.fonttype": 42, "ps.fonttype": 42, "figure.dpi": 100, "savefig.bbox": "tight"})


def provenance_caption(df: pd.DataFrame) -> str:
    """One line naming the data, device, precision, epochs, seeds and commit behind a figure's rows.

    A field the rows do not record is left out rather than guessed (PTQ rows, for example, record no
    training precision).
    """

    def values(col: str) -> str:
        return ", ".join(str(v) for v in sorted(df[col].dropna().unique(), key=str))

    fields = []
    if "data_source" in df:  # what the data are, not where the build machine kept them
        fields.append("data: " + ", ".join(sorted({data_label(s) for s in df["data_source"].dropna()})))
    fields += [
        f"{label}: {values(col)}"
        for label, col in (
            ("device", "device"),
            ("precision", "precision"),
            ("epochs", "epochs_planned"),
        )
        if col in df
    ]
    if "seed" in df:
        fields.append(f"seeds: {df['seed'].nunique()} ({values('seed')})")
    if "git_commit" in df:
        fields.append(f"commit {values('git_commit')}")
    return " | ".join(fields)


def footer_size(fig: plt.Figure, print_width: float = 1.0) -> float:
    """Font size (pt) that prints at FOOTER_PT when the figure is shown at `print_width` x \\linewidth."""
    scale = print_width * TEXT_WIDTH_IN / fig.get_figwidth()
    return FOOTER_PT / scale


def _agg_canvas(fig: plt.Figure):
    """The figure's canvas, an Agg one (which can measure text) attached when it has none (e.g. once closed)."""
    if not hasattr(fig.canvas, "get_renderer"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
    return fig.canvas


def printed_scale(fig: plt.Figure, print_width: float = 1.0) -> float:
    """How much the paper scales the saved figure: `print_width` x \\linewidth over the saved width, which with
    savefig.bbox 'tight' is the tight bounding box (legends outside the axes widen it) plus the padding."""
    bbox = fig.get_tightbbox(_agg_canvas(fig).get_renderer())
    return print_width * TEXT_WIDTH_IN / (bbox.width + 2 * SAVE_PAD_IN)


def visible_texts(fig: plt.Figure) -> list[matplotlib.text.Text]:
    """Every text the saved figure shows: tick labels, legend entries, axis labels, titles, annotations."""
    _agg_canvas(fig).draw()  # creates the tick labels the locators choose
    return [
        t
        for t in fig.findobj(matplotlib.text.Text)
        if t.get_visible() and t.get_text().strip() and (t.axes is None or t.axes.get_visible())
    ]


def enforce_min_font(fig: plt.Figure, print_width: float = 1.0, minimum: float = MIN_PRINTED_PT) -> float:
    """Enlarge every text that would print below `minimum` pt at the paper's size, and return the final scale.

    A few rounds, since larger text can widen the tight bounding box and so shrink the print scale again.
    """
    for _ in range(4):
        floor = minimum / printed_scale(fig, print_width) + 1e-3
        small = [t for t in visible_texts(fig) if t.get_fontsize() < floor]
        if not small:
            break
        for ax in fig.axes:  # tick labels through tick_params, so ticks created at draw time follow
            ax.tick_params(which="both", labelsize=floor)
        for text in small:
            text.set_fontsize(floor)
    return printed_scale(fig, print_width)


def save_figure(fig: plt.Figure, path: str | Path, caption: str | None = None, print_width: float = 1.0) -> None:
    """Add the provenance caption under the axes and save the figure (format from the suffix), atomically.

    `print_width` is the fraction of \\linewidth the paper shows the figure at, so that every text, the footer
    included, prints at MIN_PRINTED_PT or more.
    """
    caption = " | ".join(part for part in (caption, seed_notes(fig)) if part)
    if caption:
        fig.text(0.5, -0.02, caption, ha="center", va="top", fontsize=footer_size(fig, print_width), wrap=True)
    enforce_min_font(fig, print_width)
    try:
        with atomic_write(path, "wb") as handle:
            fig.savefig(handle, format=Path(path).suffix.lstrip(".") or "pdf")
    finally:
        plt.close(fig)


def write_figure(
    fig: plt.Figure, path: str | Path, rows: pd.DataFrame, log: Callable[[str], None], print_width: float = 1.0
) -> None:
    """Save a figure with the provenance caption of the rows it shows, and log what was written."""
    save_figure(fig, path, provenance_caption(rows), print_width)
    runs = f"{rows['run'].nunique()} runs" if "run" in rows else f"{len(rows)} rows"
    log(f"wrote {path} from {runs}")


def seeds_per_point(df: pd.DataFrame, x: str, hue: str) -> int:
    """The largest number of seeds behind one plotted mean (rows per (hue, x) when there is no seed column)."""
    if df.empty:
        return 0
    if "seed" in df:
        return int(df.groupby([hue, x])["seed"].nunique().max())
    return int(df.groupby([hue, x]).size().max())


def ci_lineplot(ax: plt.Axes, df: pd.DataFrame, x: str, y: str, hue: str, **kwargs) -> None:
    """One mean line per `hue` value, coloured from PALETTE. With more than SEEDS_SHOWN_MAX seeds it carries the
    Student-t 95% CI band, clipped to what `y` can take; with fewer, each seed is a thin line beside the mean
    (a t-band at n = 2 or 3 is mostly the t quantile)."""
    kwargs.setdefault("palette", palette_for(kwargs.get("hue_order") or list(pd.unique(df[hue].dropna()))))
    if "seed" in df and 1 < seeds_per_point(df, x, hue) <= SEEDS_SHOWN_MAX:
        thin = {k: v for k, v in kwargs.items() if k in ("palette", "hue_order")}
        sns.lineplot(
            data=df,
            x=x,
            y=y,
            hue=hue,
            units="seed",
            estimator=None,
            ax=ax,
            linewidth=0.6,
            alpha=0.45,
            legend=False,
            **thin,
        )
        sns.lineplot(data=df, x=x, y=y, hue=hue, errorbar=None, ax=ax, **kwargs)
        say_n(ax, f"n = {seeds_per_point(df, x, hue)} seeds: thin lines each seed, thick the mean")
        return
    sns.lineplot(data=df, x=x, y=y, hue=hue, errorbar=bounded_band(metric_range(y)), ax=ax, **kwargs)
    n = seeds_per_point(df, x, hue)
    if n > 1:
        say_n(ax, f"n = {n} seeds: mean and 95% CI")


def say_n(ax: plt.Axes, text: str) -> None:
    """The number of seeds behind a panel's curves, said once per figure in its provenance footer (save_figure):
    inside a panel the note collided with legends and, enlarged to the printed minimum, ran into the next
    panel. The notes wait on the figure as `effdl_seed_notes` (each different one once, in order)."""
    notes = ax.figure.__dict__.setdefault("effdl_seed_notes", [])
    if text not in notes:
        notes.append(text)


def seed_notes(fig: plt.Figure) -> str:
    """The figure's say_n notes as one footer field ('' when none)."""
    return "; ".join(getattr(fig, "effdl_seed_notes", []))


def relabel_legend(ax: plt.Axes, **kwargs) -> None:
    """Replace the legend's raw hue values by their display names (keeps handles and order)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, [legend_label(label) for label in labels], **kwargs)


def smoothed_losses(iters: pd.DataFrame, window: int, by: list[str], max_points: int = 400) -> pd.DataFrame:
    """Per run, the seed's moving_average of the per-iteration loss, placed at each window's last iteration (epochs)."""
    frames = []
    for keys, run in iters.sort_values("iteration").groupby(by, sort=True):
        smooth = moving_average(run["loss"].to_numpy(), window)
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


def integer_epochs(ax: plt.Axes, epochs) -> None:
    """Whole-number epoch ticks while there are few epochs (no '1.25' ticks on a 2-epoch run)."""
    epochs = sorted({int(e) for e in epochs})
    if 0 < len(epochs) <= 12:
        ax.set_xticks(epochs)


def training_curves_figure(
    iters: pd.DataFrame,
    epochs: pd.DataFrame,
    hue: str,
    window: int,
    title: str,
    *,
    events: list[int] | tuple = (),
    event_label: str = "lr drop (MultiStep)",
):
    """Two panels side by side: smoothed training loss and test accuracy vs epoch, t-interval bands over seeds;
    `events` (e.g. MultiStep's rate drops) are marked in both panels."""
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
    for ax in (ax_loss, ax_acc):
        mark_events(ax, events, event_label)
        relabel_legend(ax, fontsize=7)
    integer_epochs(ax_acc, trained["epoch"])
    fig.suptitle(title)
    return fig


def training_error_figure(epochs: pd.DataFrame, hue: str, title: str, order: list | None = None):
    """Two panels: training error (100 - training accuracy, %) and test accuracy per epoch, t-interval bands."""
    set_style()
    fig, (ax_err, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4))
    trained = epochs[epochs["epoch"] >= 1].assign(train_error=lambda d: 100.0 - d["train_acc"])
    order = order or hue_order(trained[hue])
    ci_lineplot(ax_err, trained, "epoch", "train_error", hue, marker="o", hue_order=order)
    ax_err.set(xlabel="epoch", ylabel="training error (%)")
    ci_lineplot(ax_acc, trained, "epoch", "test_acc", hue, marker="o", hue_order=order)
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)")
    for ax in (ax_err, ax_acc):
        relabel_legend(ax, fontsize=7)
        integer_epochs(ax, trained["epoch"])
    fig.suptitle(title)
    return fig
