"""Tests of effdl.report.plotting helpers that decide what a figure shows."""

from __future__ import annotations

import pandas as pd

from effdl.report.plotting import hue_order


def test_hue_order_is_numeric_when_every_setting_is_a_number():
    assert hue_order(pd.Series(["10", "0.1", "2", "1e-4", "0.1"])) == ["1e-4", "0.1", "2", "10"]
    assert hue_order(pd.Series(["multistep", "cosine_annealing"])) == ["cosine_annealing", "multistep"]
