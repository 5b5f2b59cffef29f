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


def mean_ci(values: Sequence[float], digits: int = 2, bounds: tuple[float, float] | None = (0.0, 100.0)) -> str:
    """'91.20 $\\pm$ 0.31' (mean and 95% t half-width), just the mean for one value, 'n/a' for none; a percentage
    by default, so an interval that would cross 0 or 100 prints clipped as '97.10 [60.25, 100.00]'."""
    interval = t_interval(values)
    if interval.n == 0:
        return "n/a"
    return format_interval(interval.mean, interval.half_width, digits, bounds)


def format_interval(
    mean: float, half_width: float, digits: int = 2, bounds: tuple[float, float] | None = (0.0, 100.0)
) -> str:
    """The convention's text: 'mean $\\pm$ half-width', '[low, high]' when `bounds` clip it, the mean alone
    without a half-width (one unit); effdl.report.results.format_result prints it, as it prints every result."""
    from effdl.report.results import format_mean_half_width  # results builds on this module's intervals

    return format_mean_half_width(mean, half_width, digits, bounds)


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


# ---------------------------------------------------------------------------------------------
# One statistics convention for tables, text, figures and the claims table

PLUS_MINUS = (
    "Every ± is the half-width of a 95 % Student-t confidence interval of the mean over n independent units "
    "(trained models: one value per model, repeated trials of a model averaged first), clipped to the range the "
    "metric can take; any other spread is labelled sd."
)
ACCURACY_RANGE = (0.0, 100.0)  # percent
LOSS_RANGE = (0.0, math.inf)
SEEDS_SHOWN_MAX = 3  # figures with at most this many seeds draw each seed and the mean, not a t-band


def metric_range(name: str) -> tuple[float, float]:
    """What a metric can take, from its column name: accuracy/error in [0, 100] %, losses and times >= 0."""
    low = name.lower()
    if "acc" in low or "error" in low:
        return ACCURACY_RANGE
    if "loss" in low or "time" in low or "bytes" in low or "latency" in low:
        return LOSS_RANGE
    return (-math.inf, math.inf)


def clipped(interval: Interval, bounds: tuple[float, float]) -> tuple[float, float]:
    """(low, high) of an interval cut to `bounds`: no accuracy above 100 % or loss below 0 is ever printed."""
    lo, hi = bounds
    return max(lo, interval.low), min(hi, interval.high)


def bounded_band(bounds: tuple[float, float]):
    """A seaborn `errorbar=` callable: the 95 % t-interval clipped to `bounds`."""

    def band(values: Sequence[float]) -> tuple[float, float]:
        return clipped(t_interval(values), bounds)

    return band


def unit_means(values, units) -> dict:
    """{unit: mean of its finite values}: repeated trials of one trained model become one value per model."""
    groups: dict = {}
    for unit, value in zip(units, values):
        if value is not None and np.isfinite(float(value)):
            groups.setdefault(unit, []).append(float(value))
    return {unit: float(np.mean(v)) for unit, v in groups.items()}


def paired_by_unit(a: dict, b: dict) -> tuple[np.ndarray, np.ndarray]:
    """Values of the units present in both {unit: value} maps, in a fixed (sorted) unit order."""
    common = sorted(set(a) & set(b), key=str)
    return np.asarray([a[u] for u in common], dtype=float), np.asarray([b[u] for u in common], dtype=float)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1); NaN entries stay NaN and do not count."""
    p = [float(x) for x in pvalues]
    index = sorted((i for i, x in enumerate(p) if not math.isnan(x)), key=lambda i: p[i])
    m, running, out = len(index), 0.0, [float("nan")] * len(p)
    for rank, i in enumerate(index):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


@dataclass(frozen=True)
class Difference:
    """mean(a) - mean(b) over independent units with its (1 - 2 alpha) t-interval, degrees of freedom and n."""

    diff: float
    low: float
    high: float
    se: float
    df: float
    n_a: int
    n_b: int
    paired: bool

    def one_sided_p(self, bound: float, alternative: str) -> float:
        """p of 'diff > bound' (alternative 'greater') or 'diff < bound' ('less') by the t distribution."""
        if self.se == 0:
            above = self.diff > bound if alternative == "greater" else self.diff < bound
            return 0.0 if above else 1.0
        t = (self.diff - bound) / self.se
        return float(_st.t.sf(t, self.df) if alternative == "greater" else _st.t.cdf(t, self.df))


def difference(a: Sequence[float], b: Sequence[float] | None = None, *, paired: bool = False, alpha: float = ALPHA):
    """The difference of means (Welch, or paired on equal-length a/b; b=None: mean(a) vs 0) and its 1 - 2 alpha
    CI (the interval TOST reads); None when a side has fewer than two units."""
    if b is None:
        x = finite(a)
        y = np.zeros(0)
        if len(x) < 2:
            return None
        d, se, df = float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x))), len(x) - 1
        n_b = 0
    elif paired:
        pairs = np.asarray(list(zip(a, b)), dtype=float).reshape(-1, 2)
        pairs = pairs[np.isfinite(pairs).all(axis=1)]
        if len(pairs) < 2:
            return None
        dx = pairs[:, 0] - pairs[:, 1]
        d, se, df, n_b = float(dx.mean()), float(dx.std(ddof=1) / math.sqrt(len(dx))), len(dx) - 1, len(dx)
        x = dx
    else:
        x, y = finite(a), finite(b)
        if min(len(x), len(y)) < 2:
            return None
        va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
        d, se = float(x.mean() - y.mean()), float(math.sqrt(va + vb))
        # Welch-Satterthwaite degrees of freedom (any finite value when both spreads are zero: se is then 0)
        df = (va + vb) ** 2 / (va**2 / (len(x) - 1) + vb**2 / (len(y) - 1)) if va + vb > 0 else len(x) + len(y) - 2
        n_b = len(y)
    half = float(_st.t.ppf(1 - alpha, df)) * se
    return Difference(d, d - half, d + half, se, float(df), len(x), n_b, paired)


@dataclass(frozen=True)
class Equivalence:
    """A two one-sided test (TOST) of |mean(a) - mean(b)| < margin: p_equivalent is the larger one-sided p;
    p_beyond tests that the difference lies outside the margin (twice the smaller one-sided p, capped at 1)."""

    difference: Difference
    margin: float
    p_equivalent: float
    p_beyond: float


def tost(
    a: Sequence[float], b: Sequence[float] | None, margin: float, *, paired: bool = False, alpha: float = ALPHA
) -> Equivalence | None:
    """Equivalence within +/- margin: 'the same' holds when the 1 - 2 alpha CI of the difference lies inside
    (-margin, margin), i.e. both one-sided tests reject; None when a side has fewer than two units."""
    d = difference(a, b, paired=paired, alpha=alpha)
    if d is None:
        return None
    p_eq = max(d.one_sided_p(-margin, "greater"), d.one_sided_p(margin, "less"))
    p_out = min(1.0, 2 * min(d.one_sided_p(margin, "greater"), d.one_sided_p(-margin, "less")))
    return Equivalence(d, margin, p_eq, p_out)


def compare_units(a: dict, b: dict, alpha: float = ALPHA) -> Comparison:
    """Paired compare() of two {trained model: value} maps on the models both have: the one function behind
    every 'each model against itself' verdict (the claims table and the answers both call it)."""
    x, y = paired_by_unit(a, b)
    return compare(x.tolist(), y.tolist(), paired=True, alpha=alpha)
