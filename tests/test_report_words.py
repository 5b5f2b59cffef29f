"""Tests of effdl.report.words: every trend word flips when the synthetic data flips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from effdl.report import words


def test_a_loss_curve_shorter_than_the_window_is_smoothed_to_its_mean():
    trend = words.loss_trend([1.0, 2.0, 3.0, 4.0], [0.25, 0.5, 0.75, 1.0], window=10)  # window shrinks to the curve
    assert trend.start == trend.end == trend.peak == 2.5


def test_grammar_for_any_count():
    assert words.count(1, "epoch") == "1 epoch" and words.count(2, "epoch") == "2 epochs"
    assert words.epochs_phrase([1]) == "after epoch 1"
    assert words.epochs_phrase([10, 20, 30]) == "after epochs 10, 20 and 30"
    assert words.range_phrase(50.0, 50.04) == "at 50.0\\%" and words.range_phrase(46.9, 50.8).startswith("between")


def _trend(losses):
    return words.loss_trend(losses, np.arange(len(losses)) / 10, window=2)


def test_loss_words_flip_with_the_curve():
    assert _trend([2.3, 2.2, 1.8, 1.4, 1.2, 1.1]).direction == "falls"
    assert _trend([1.1, 1.2, 1.5, 1.9, 2.2, 2.3]).direction == "rises"
    assert _trend([2.30, 2.31, 2.29, 2.30, 2.31, 2.30]).direction == "stays near"
    spike = _trend([2.3, 2.3, 9.0, 2.4, 2.3, 2.3])
    # the peak is the smoothed curve's (window 2: (9.0 + 2.4) / 2), the one the figure draws, at its window's end
    assert spike.spike and "spikes to 5.70 (epoch 0.3)" in spike.sentence()
    assert not _trend([2.3, 2.3, 2.6, 2.4, 2.3, 2.3]).spike
    diverged = _trend([2.3, 5.0, float("nan")])
    assert diverged.direction == "diverges" and "non-finite" in diverged.sentence()
    assert "falls from 2.25 to 1.15" in _trend([2.3, 2.2, 1.8, 1.4, 1.2, 1.1]).sentence()
    # a 6 % fall is visible on the plot: not "stays near" (the 1.2.3 cosine answer once said so of 2.35 -> 2.20)
    assert _trend([2.35, 2.35, 2.30, 2.25, 2.20, 2.20]).sentence() == "loss falls slightly from 2.35 to 2.20"


def _epochs(accs, lrs=None, run="r1", value="test_acc"):
    lrs = lrs or [0.1] * len(accs)
    return pd.DataFrame({"run": run, "epoch": range(1, len(accs) + 1), value: accs, "epoch_lr": lrs})


def test_lr_drops_and_the_jump_across_them():
    frame = _epochs([40, 50, 52, 52.2, 60, 61], lrs=[0.1, 0.1, 0.1, 0.1, 0.01, 0.01])
    assert words.lr_drops(frame) == [4]
    curve = words.mean_curve(frame)
    assert words.change_across(curve, 4) == pytest.approx(7.8)
    assert words.change_word(words.change_across(curve, 4), up="jumps", down="drops") == "jumps"
    falling = words.mean_curve(_epochs([40, 50, 52, 52.2, 45, 46]))
    assert words.change_word(words.change_across(falling, 4), up="jumps", down="drops") == "drops"
    assert words.change_word(0.2) == "barely changes"


def test_plateau_needs_a_flat_stretch_and_enough_epochs():
    flat = pd.Series([30, 50, 60, 64, 64.3, 64.5], index=range(1, 7), dtype=float)
    climbing = pd.Series([30, 40, 50, 60, 70, 80], index=range(1, 7), dtype=float)
    assert words.plateau_before(flat, 6) is True
    assert words.plateau_before(climbing, 6) is False
    assert words.plateau_before(flat, 2) is None  # two epochs: no claim


def test_largest_gain_quarter_and_steadiness():
    late = pd.Series([10, 11, 12, 13, 14, 15, 16, 30, 60], index=range(1, 10), dtype=float)
    early = pd.Series([10, 50, 55, 57, 58, 59, 60, 60.5, 61], index=range(1, 10), dtype=float)
    assert words.largest_gain_quarter(late) == 4 and words.largest_gain_quarter(early) == 1
    assert words.largest_gain_quarter(late.iloc[:3]) is None
    assert words.steadiness(early) == "rises steadily"
    bumpy = pd.Series([10, 30, 20, 40], index=range(1, 5), dtype=float)
    assert words.steadiness(bumpy) == "rises with dips of up to 10.0 points"


def test_ending_phrase_says_chance_settles_or_still_rising():
    assert words.ending_phrase(pd.Series([12.0, 11.0, 10.4])).startswith("ends at chance level")
    assert words.ending_phrase(pd.Series([50.0, 80.0, 80.2, 80.3, 80.1])).startswith("settles at 80.1")
    assert words.ending_phrase(pd.Series([50.0, 60.0, 70.0, 80.0, 85.0])).startswith("is still rising")
    assert words.ending_phrase(pd.Series([50.0, 60.0])) == "ends at 60.0\\%"


def test_slow_runs_are_flagged_against_the_median():
    times = pd.Series([1.0, 1.1, 0.9, 10.0])
    assert words.slow_runs(times).tolist() == [False, False, False, True]
    assert not words.slow_runs(pd.Series([1.0, 1.9, 1.0])).any()


def test_an_early_spike_inside_the_first_window_still_counts():
    losses = [2.3, 12.0, 8.0, 4.0, 2.5, 2.4, 2.35, 2.34]
    trend = words.loss_trend(losses, np.arange(len(losses)) / 4, window=4)
    assert trend.start > 2.3 * 1.5  # the smoothed start already holds the spike ...
    assert trend.spike  # ... but the raw first loss is the reference
    assert not words.loss_trend([2.3, 2.2, 2.1, 2.0], range(4), window=2).spike


def test_lr_drop_factor_reads_the_rate_column_and_flips_with_it():
    from effdl.report.words import lr_drop_factor

    epochs = pd.DataFrame({"run": "a", "epoch": [1, 2, 3], "epoch_lr": [0.1, 0.1, 0.01]})
    assert lr_drop_factor(epochs) == pytest.approx(10.0)
    assert lr_drop_factor(epochs.assign(epoch_lr=[0.1, 0.1, 0.05])) == pytest.approx(2.0)
    assert lr_drop_factor(epochs.assign(epoch_lr=0.1)) is None
