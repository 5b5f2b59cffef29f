"""Statistics over seeds for the paper: Student-t intervals and the tests behind "higher", "lower", "within noise".

Every interval the paper prints (text, tables, figure bands) is `t_interval`: mean +/- t(0.975, n-1) * sd / sqrt(n)
over n seeds. A comparison is a Welch t-test (`scipy.stats.ttest_ind(equal_var=False)`) of two independent
groups, or a paired t-test (`scipy.stats.ttest_rel`) when each result has its own partner (a quantized or pruned
model against its own fp32 parent). "within noise" means p >= ALPHA; with one seed on a side nothing is ranked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

ALPHA = 0.05  # significance level of every comparison word
CONFIDENCE = 0.95  # coverage of every interval
WORDS = ("higher", "lower", "within noise", "untested")


def finite(values: Sequence[float]) -> np.ndarray:
    """The finite values of a sequence as floats (NaN, inf and None dropped)."""
    array = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    return array[np.isfinite(array)]


@dataclass(frozen=True)
class Interval:
    """A mean with its Student-t confidence half-width over n values (half_width NaN when n < 2)."""

    mean: float
    half_width: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width if self.n >= 2 else self.mean

    @property
    def high(self) -> float:
        return self.mean + self.half_width if self.n >= 2 else self.mean


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean and Student-t half-width t_{(1+c)/2, n-1} * sd / sqrt(n) of the finite values."""
    x = finite(values)
    n = len(x)
    if n == 0:
        return Interval(float("nan"), float("nan"), 0)
    if n == 1:
        return Interval(float(x[0]), float("nan"), 1)
    sd = float(x.std(ddof=1))
    half = float(_st.t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(float(x.mean()), half, n)


def t_band(values: Sequence[float]) -> tuple[float, float]:
    """(low, high) of the 95% t-interval: seaborn's `errorbar=` callable, so figure bands equal the text's CIs."""
    interval = t_interval(values)
    return interval.low, interval.high


def mean_ci(values: Sequence[float], digits: int = 2) -> str:
    """'91.20 $\\pm$ 0.31' (mean and 95% t half-width), just the mean for one value, 'n/a' for none."""
    interval = t_interval(values)
    if interval.n == 0:
        return "n/a"
    if interval.n == 1:
        return f"{interval.mean:.{digits}f}"
    return f"{interval.mean:.{digits}f} $\\pm$ {interval.half_width:.{digits}f}"


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing a against b: the word, the test used, its p-value and the group sizes."""

    word: str  # one of WORDS
    test: str  # "Welch t-test", "paired t-test" or "none"
    p: float
    diff: float  # mean(a) - mean(b)
    n_a: int
    n_b: int

    @property
    def significant(self) -> bool:
        return self.word in ("higher", "lower")


def _p_from_constant(diff: float) -> float:
    """Zero spread on both sides: any difference is certain, none is no evidence."""
    return 0.0 if diff != 0 else 1.0


def compare(a: Sequence[float], b: Sequence[float], *, paired: bool = False, alpha: float = ALPHA) -> Comparison:
    """Welch (or, with paired=True, paired) t-test of a against b; 'higher'/'lower' only when p < alpha.

    With fewer than two values on a side (pairs, when paired) there is no test and the word is 'untested'.
    """
    if paired:
        a, b = list(a), list(b)
        if len(a) != len(b):
            raise ValueError(f"a paired comparison needs equal-length groups, got {len(a)} and {len(b)}")
        pairs = np.asarray(
            [(np.nan if x is None else x, np.nan if y is None else y) for x, y in zip(a, b)], dtype=float
        ).reshape(-1, 2)
        pairs = pairs[np.isfinite(pairs).all(axis=1)]
        x, y = pairs[:, 0], pairs[:, 1]
    else:
        x, y = finite(a), finite(b)
    n_a, n_b = len(x), len(y)
    diff = float(x.mean() - y.mean()) if n_a and n_b else float("nan")
    test = "paired t-test" if paired else "Welch t-test"
    if min(n_a, n_b) < 2:
        return Comparison("untested", "none", float("nan"), diff, n_a, n_b)
    if paired:
        d = x - y
        p = _p_from_constant(diff) if d.std(ddof=1) == 0 else float(_st.ttest_rel(x, y).pvalue)
    elif x.std(ddof=1) == 0 and y.std(ddof=1) == 0:
        p = _p_from_constant(diff)
    else:
        p = float(_st.ttest_ind(x, y, equal_var=False).pvalue)
    word = "within noise" if p >= alpha else ("higher" if diff > 0 else "lower")
    return Comparison(word, test, p, diff, n_a, n_b)


RELATIONS = {
    "higher": "higher than",
    "lower": "lower than",
    "within noise": "within noise of",
    "untested": "not tested (one seed) against",
}


def relation(word: str) -> str:
    """A comparison word as a phrase before its reference: 'higher' -> 'higher than'."""
    try:
        return RELATIONS[word]
    except KeyError:
        raise ValueError(f"unknown comparison word {word!r}; expected one of {', '.join(WORDS)}") from None


def p_text(comparison: Comparison) -> str:
    """'Welch t-test, $p = 0.031$, n = 3/3' for a caption or table (or 'one seed, no test')."""
    if comparison.test == "none":
        return "one seed, no test"
    sizes = f"n = {comparison.n_a}" if comparison.test == "paired t-test" else f"n = {comparison.n_a}/{comparison.n_b}"
    return f"{comparison.test}, $p = {comparison.p:.3g}$, {sizes}"


def ranked_best(groups: dict, alpha: float = ALPHA) -> tuple[object, bool]:
    """The key with the highest mean, and whether it beats every other key significantly (Welch, p < alpha)."""
    means = {key: float(np.mean(finite(v))) if len(finite(v)) else -math.inf for key, v in groups.items()}
    best = max(means, key=means.get)
    beats_all = all(compare(groups[best], groups[k], alpha=alpha).word == "higher" for k in groups if k != best)
    return best, beats_all
