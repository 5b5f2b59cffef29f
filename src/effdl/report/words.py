"""Trend words computed from the CSVs: loss spikes and levels, plateaus, jumps at lr drops, recoveries, chance level.

Each function takes plain numbers or tidy frames (torch-free) and returns both the number behind a word and the
word itself, so that a sentence in the paper changes when the data does. Thresholds are module constants.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from effdl.smoothing import moving_average

FLAT_POINTS = 1.0  # accuracy changes below this many points are "barely changes" / a plateau
SPIKE_FACTOR = 1.5  # a loss peak this many times above both its start and its end level is a spike
LOSS_FLAT_RATIO = 0.02  # a relative loss change below this is "stays near" (a reader sees 2 % on the plot)
LOSS_SLIGHT_RATIO = 0.1  # a relative loss change below this (and above LOSS_FLAT_RATIO) is "falls slightly"
CHANCE_MARGIN = 3.0  # an accuracy within this many points of chance is "at chance level"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """'1 epoch', '2 epochs', '1 of 1 layer' grammar: the number and the noun in the right number."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


def join_words(items: Sequence[str], conjunction: str = "and") -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = [str(i) for i in items]
    if not items:
        return ""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {conjunction} " + items[-1]


def epochs_phrase(epochs: Sequence[int]) -> str:
    """'after epoch 1' / 'after epochs 10, 20 and 30' / 'at no epoch'."""
    epochs = [int(e) for e in epochs]
    if not epochs:
        return "at no epoch"
    return ("after epoch " if len(epochs) == 1 else "after epochs ") + join_words([str(e) for e in epochs])


def range_phrase(low: float, high: float, digits: int = 1, unit: str = "\\%") -> str:
    """'between 46.9\\% and 50.8\\%', or 'at 50.0\\%' when the two ends print the same."""
    a, b = f"{low:.{digits}f}", f"{high:.{digits}f}"
    return f"at {a}{unit}" if a == b else f"between {a}{unit} and {b}{unit}"


def change_word(
    delta: float, flat: float = FLAT_POINTS, up: str = "rises", down: str = "falls", same: str = "barely changes"
) -> str:
    """The direction of a change in points: `up`, `down` or `same` (|delta| < flat)."""
    if delta is None or not math.isfinite(delta):
        return "n/a"
    return same if abs(delta) < flat else (up if delta > 0 else down)


@dataclass(frozen=True)
class LossTrend:
    """A training-loss curve reduced to the words a reader wants: where it starts, peaks and ends."""

    start: float
    end: float
    peak: float
    peak_at: float  # position (e.g. epoch) of the peak
    nonfinite: bool
    first: float = float("nan")  # the very first (raw) loss: the level at initialisation

    @property
    def spike(self) -> bool:
        """A peak of the smoothed curve (the one the figures plot) SPIKE_FACTOR above both the initial loss and
        the level reached (the smoothed start can already contain an early spike, so the raw first loss is the
        reference when known)."""
        reference = self.first if math.isfinite(self.first) else self.start
        return self.peak > SPIKE_FACTOR * max(reference, self.end)

    @property
    def direction(self) -> str:
        if self.nonfinite:
            return "diverges"
        ratio = (self.end - self.start) / self.start if self.start else 0.0
        if abs(ratio) < LOSS_FLAT_RATIO:
            return "stays near"
        word = "falls" if ratio < 0 else "rises"
        return f"{word} slightly" if abs(ratio) < LOSS_SLIGHT_RATIO else word

    def sentence(self, digits: int = 2) -> str:
        """'loss falls from 2.30 to 1.20', 'loss spikes to 9.1 (epoch 0.4), then ends at 2.31', ..."""
        if self.nonfinite:
            return "loss becomes non-finite (the run diverges)"
        s, e = f"{self.start:.{digits}f}", f"{self.end:.{digits}f}"
        if self.spike:
            return f"loss spikes to {self.peak:.{digits}f} (epoch {self.peak_at:.1f}), then ends at {e}"
        if self.direction == "stays near" or s == e:
            return f"loss stays near {s}"
        return f"loss {self.direction} from {s} to {e}"


def loss_trend(losses: Sequence[float], positions: Sequence[float], window: int) -> LossTrend:
    """Start, end and peak of the smoothed loss (the moving average the figures plot, each window placed at its
    last iteration), and the raw first loss, of one curve."""
    raw = np.asarray(losses, dtype=float)
    where = np.asarray(positions, dtype=float)
    nonfinite = bool(len(raw) and not np.isfinite(raw).all())
    keep = np.isfinite(raw)
    raw, where = raw[keep], where[keep]
    if len(raw) == 0:
        return LossTrend(float("nan"), float("nan"), float("nan"), float("nan"), True)
    smooth = moving_average(raw, max(1, min(int(window), len(raw))))  # a curve shorter than the window: one point
    peak = int(np.argmax(smooth))
    placed = where[len(raw) - len(smooth) :]  # window k ends at iteration k + n - 1, where the figure draws it
    return LossTrend(
        float(smooth[0]), float(smooth[-1]), float(smooth[peak]), float(placed[peak]), nonfinite, float(raw[0])
    )


def mean_loss_trend(iters: pd.DataFrame, window: int, by: str = "run") -> LossTrend:
    """loss_trend of the mean over runs (seeds) of the per-iteration loss, aligned by iteration."""
    frame = iters.dropna(subset=["iteration"])
    nonfinite = bool((~np.isfinite(frame["loss"].astype(float))).any())
    curve = frame.groupby("iteration").agg(loss=("loss", "mean"), epoch=("epoch_float", "mean")).sort_index()
    trend = loss_trend(curve["loss"], curve["epoch"], window)
    return LossTrend(trend.start, trend.end, trend.peak, trend.peak_at, trend.nonfinite or nonfinite, trend.first)


def mean_curve(epochs: pd.DataFrame, value: str = "test_acc") -> pd.Series:
    """Mean over runs of `value` per trained epoch (epoch >= 1), indexed by epoch; NaN and inf values are left
    out, and an epoch with no finite value at all is dropped (so no sentence quotes 'nan')."""
    trained = epochs[epochs["epoch"] >= 1]
    finite = pd.to_numeric(trained[value], errors="coerce").replace([np.inf, -np.inf], np.nan)
    return trained.assign(**{value: finite}).groupby("epoch")[value].mean().dropna().sort_index()


def lr_drops(epochs: pd.DataFrame) -> list[int]:
    """The epochs after which the learning rate fell (the epoch_lr column is the rate at each epoch's start)."""
    drops: set[int] = set()
    for _, run in epochs[epochs["epoch"] >= 1].sort_values("epoch").groupby("run"):
        lrs, numbers = run["epoch_lr"].to_numpy(), run["epoch"].to_numpy()
        drops.update(int(numbers[i - 1]) for i in range(1, len(lrs)) if lrs[i] < lrs[i - 1] * (1 - 1e-9))
    return sorted(drops)


def lr_drop_factor(epochs: pd.DataFrame) -> float | None:
    """By how much the runs' first learning-rate drop divides the rate (lr before / lr after, read from the
    epoch_lr column), or None when the rate never falls."""
    for _, run in epochs[epochs["epoch"] >= 1].sort_values("epoch").groupby("run"):
        lrs = run["epoch_lr"].to_numpy()
        for before, after in zip(lrs[:-1], lrs[1:]):
            if 0 < after < before * (1 - 1e-9):
                return float(before / after)
    return None


def change_across(curve: pd.Series, epoch: int) -> float:
    """curve[epoch + 1] - curve[epoch]: the change over the first epoch after a boundary (NaN at the end)."""
    if epoch + 1 not in curve.index or epoch not in curve.index:
        return float("nan")
    return float(curve[epoch + 1] - curve[epoch])


def plateau_before(curve: pd.Series, epoch: int, min_epochs: int = 3, flat: float = FLAT_POINTS) -> bool | None:
    """Whether the curve is flat (< `flat` points) over the last third of the stretch before `epoch`.

    None when fewer than `min_epochs` epochs precede it: too short to call anything a plateau.
    """
    before = curve[curve.index <= epoch]
    if len(before) < min_epochs:
        return None
    tail = before.iloc[-max(2, len(before) // 3) :]
    return bool(abs(float(tail.iloc[-1] - tail.iloc[0])) < flat)


def largest_gain_quarter(curve: pd.Series) -> int | None:
    """Which quarter of training (1-4) gained the most accuracy; None with fewer than 8 epochs."""
    if len(curve) < 8:
        return None
    values = curve.to_numpy()
    bounds = [round(i * (len(values) - 1) / 4) for i in range(5)]
    gains = [values[bounds[i + 1]] - values[bounds[i]] for i in range(4)]
    return int(np.argmax(gains)) + 1


def largest_dip(curve: pd.Series) -> float:
    """The largest epoch-to-epoch fall of the curve in points (0 when it never falls)."""
    steps = np.diff(curve.to_numpy())
    return float(max(0.0, -steps.min())) if len(steps) else 0.0


def steadiness(curve: pd.Series, flat: float = FLAT_POINTS) -> str:
    """'rises steadily' when no epoch falls by `flat` points or more, else 'rises with dips of up to X points'."""
    if len(curve) < 2:
        return f"ends at {float(curve.iloc[-1]):.1f}\\%" if len(curve) else "was not measured"
    dip = largest_dip(curve)
    direction = change_word(float(curve.iloc[-1] - curve.iloc[0]), flat, "rises", "falls", "stays flat")
    if dip < flat:
        return f"{direction} steadily" if direction != "stays flat" else direction
    return f"{direction} with dips of up to {dip:.1f} points"


def chance_level(num_classes: int = 10) -> float:
    return 100.0 / num_classes


def at_chance(acc: float, num_classes: int = 10, margin: float = CHANCE_MARGIN) -> bool:
    """Whether an accuracy (percent) is within `margin` points of guessing."""
    return bool(math.isfinite(acc) and abs(acc - chance_level(num_classes)) < margin)


def ending_phrase(curve: pd.Series, num_classes: int = 10, last: int = 3, flat: float = FLAT_POINTS) -> str:
    """How a curve ends: 'ends at chance level (10.3%)', 'settles at 80.1%' (flat over the last epochs),
    'is still rising at the end (80.1%)' or 'ends at 80.1%' when too short to tell."""
    final = float(curve.iloc[-1])
    if at_chance(final, num_classes):
        return f"ends at chance level ({final:.1f}\\%)"
    if len(curve) < last + 1:
        return f"ends at {final:.1f}\\%"
    change = float(curve.iloc[-1] - curve.iloc[-1 - last])
    if abs(change) < flat:
        return f"settles at {final:.1f}\\%"
    return f"is still {'rising' if change > 0 else 'falling'} at the end ({final:.1f}\\%)"


def slow_runs(times: pd.Series, factor: float = 2.0) -> pd.Series:
    """Boolean mask of runs slower than `factor` x the median time: machine noise, not the method."""
    return times > factor * times.median()
