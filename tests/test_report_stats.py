"""Tests of effdl.report.stats: Student-t intervals, and comparison words that flip exactly at alpha = 0.05."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from effdl.report.stats import ALPHA, compare, mean_ci, p_text, ranked_best, relation, t_band, t_interval


def test_t_interval_matches_the_textbook_formula_and_not_the_normal_one():
    values = [90.0, 91.0, 93.0]
    interval = t_interval(values)
    sd = np.std(values, ddof=1)
    assert interval.n == 3
    assert interval.half_width == pytest.approx(4.302653 * sd / math.sqrt(3), rel=1e-6)  # t(0.975, 2)
    assert interval.half_width > 1.96 * sd / math.sqrt(3)  # a normal interval would be too narrow at n = 3
    assert t_band(values) == pytest.approx((interval.low, interval.high))


def test_one_value_has_no_interval_and_nan_is_dropped():
    assert math.isnan(t_interval([5.0]).half_width) and t_band([5.0]) == (5.0, 5.0)
    assert t_interval([1.0, float("nan"), 3.0]).n == 2
    assert mean_ci([91.2]) == "91.20" and "$\\pm$" in mean_ci([90.0, 91.0]) and mean_ci([]) == "n/a"


def _shifted_to_p(a: np.ndarray, b: np.ndarray, target: float) -> float:
    """The shift of b at which Welch's p equals `target` (bisection on the shift)."""
    lo, hi = 0.0, 50.0
    for _ in range(200):
        mid = (lo + hi) / 2
        p = st.ttest_ind(a, b + mid, equal_var=False).pvalue
        lo, hi = (mid, hi) if p > target else (lo, mid)
    return (lo + hi) / 2


def test_welch_word_flips_at_the_threshold():
    a = np.array([90.0, 91.0, 92.0])
    b = np.array([89.0, 90.5, 91.0])
    shift = _shifted_to_p(b, a, ALPHA)  # a + shift: just at p = alpha against b
    just_not = compare(a + shift * 0.99, b)
    just = compare(a + shift * 1.01, b)
    assert just_not.word == "within noise" and just_not.p > ALPHA
    assert just.word == "higher" and just.p < ALPHA
    assert compare(b, a + shift * 1.01).word == "lower"
    assert just.test == "Welch t-test"
    assert just.p == pytest.approx(st.ttest_ind(a + shift * 1.01, b, equal_var=False).pvalue)


def test_paired_test_sees_a_consistent_drop_that_welch_calls_noise():
    parents = np.array([80.0, 90.0, 70.0])  # three fp32 models, far apart
    children = parents - np.array([1.0, 1.2, 0.9])  # each quantized model loses about one point
    assert compare(children, parents).word == "within noise"
    paired = compare(children, parents, paired=True)
    assert paired.word == "lower" and paired.test == "paired t-test"
    assert paired.p == pytest.approx(st.ttest_rel(children, parents).pvalue)
    noisy = parents + np.array([-3.0, 2.0, 0.5])
    assert compare(noisy, parents, paired=True).word == "within noise"
    with pytest.raises(ValueError, match="equal-length"):
        compare([1.0, 2.0], [1.0], paired=True)


def test_one_seed_ranks_nothing():
    result = compare([91.0], [80.0])
    assert result.word == "untested" and not result.significant and "one seed" in p_text(result)
    assert relation(result.word) == "not tested (one seed) against"
    assert compare([91.0, 92.0], [80.0], paired=False).word == "untested"


def test_zero_spread_groups_are_decided_without_nan():
    assert compare([50.0, 50.0], [50.0, 50.0]).word == "within noise"
    assert compare([60.0, 60.0], [50.0, 50.0]).word == "higher"
    assert compare([51.0, 52.0], [50.0, 51.0], paired=True).word == "higher"  # constant +1 difference


def test_ranked_best_claims_a_winner_only_when_it_beats_every_other():
    best, clear = ranked_best({"a": [90.0, 90.5, 91.0], "b": [70.0, 71.0, 70.5], "c": [10.0, 10.2, 9.9]})
    assert best == "a" and clear
    best, clear = ranked_best({"a": [90.0, 91.0, 92.0], "b": [89.0, 91.5, 91.0]})
    assert best == "a" and not clear
    assert ranked_best({"a": [90.0], "b": [10.0]}) == ("a", False)
    with pytest.raises(ValueError, match="unknown comparison word"):
        relation("better")


def test_holm_matches_the_textbook_step_down():
    from effdl.report.stats import holm

    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(holm([float("nan"), 0.02])[0]) and holm([float("nan"), 0.02])[1] == pytest.approx(0.02)


def test_tost_holds_only_when_the_90_percent_ci_is_inside_the_margin():
    from effdl.report.stats import tost

    tight = tost([80.0, 80.1, 79.9, 80.05], [80.02, 79.98, 80.1, 79.95], margin=1.0)
    assert tight.p_equivalent < ALPHA and -1 < tight.difference.low < tight.difference.high < 1
    wide = tost([70.0, 90.0, 80.0], [75.0, 85.0, 80.0], margin=1.0)
    assert wide.p_equivalent > ALPHA and wide.p_beyond > ALPHA  # neither equal nor different: inconclusive
    apart = tost([90.0, 90.1, 89.9], [80.0, 80.1, 79.9], margin=1.0)
    assert apart.p_beyond < ALPHA


def test_intervals_are_clipped_to_the_metric_range():
    from effdl.report.stats import bounded_band, metric_range

    assert metric_range("test_acc") == (0.0, 100.0) and metric_range("smoothed_loss")[0] == 0.0
    low, high = bounded_band(metric_range("test_acc"))([99.0, 100.0, 97.0])
    assert high == 100.0 and low < 99.0
    assert bounded_band(metric_range("loss"))([0.01, 0.5])[0] == 0.0


def test_printed_intervals_never_leave_0_to_100_percent():
    from effdl.report.summaries import mean_pm

    assert mean_ci([60.0, 100.0, 100.0, 100.0]) == "90.00 [58.18, 100.00]"  # 90 +/- 31.82 would pass 100
    assert mean_pm(97.10, 36.85) == "97.10 [60.25, 100.00]"
    assert mean_pm(50.0, 1.0) == "50.00 $\\pm$ 1.00" and mean_pm(1.0, 5.0, bounds=None) == "1.00 $\\pm$ 5.00"
