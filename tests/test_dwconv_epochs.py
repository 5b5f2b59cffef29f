"""Tests of 6.2.2 timed as the problem set asks: whole DWConvNet training epochs with each layer, and its words."""

from __future__ import annotations

import pandas as pd
import pytest

from effdl.data import DeviceDataset
from effdl.report.part6 import epoch_timing_macros
from effdl.studies.dwconv import time_training_epochs

MEAN, STD = [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]


def test_whole_epochs_are_timed_for_each_layer_over_every_image(tiny_packed, one_torch_thread):
    train = tiny_packed["train"]
    train_set = DeviceDataset(train["images"][:64], train["labels"][:64], "cpu")  # the per-channel loop is slow
    rows = time_training_epochs("cpu", train_set, mean=MEAN, std=STD, epochs=2, batch_size=32)
    by_impl = {row["impl"]: row for row in rows}
    assert set(by_impl) == {"mine", "solution"}
    for row in rows:
        assert row["epochs"] == 2 and row["images_per_epoch"] == len(train_set) == 64
        assert row["total_s"] > 0 and row["median_epoch_s"] <= row["total_s"]
        assert row["images_per_s"] == pytest.approx(2 * 64 / row["total_s"])
    assert by_impl["solution"]["time_ratio"] == 1.0
    assert by_impl["mine"]["time_ratio"] == pytest.approx(by_impl["mine"]["total_s"] / by_impl["solution"]["total_s"])
    with pytest.raises(ValueError, match="epochs >= 1"):
        time_training_epochs("cpu", train_set, mean=MEAN, std=STD, epochs=0)


def test_epoch_timing_words_quote_the_ratio_and_the_epochs():
    timing = pd.DataFrame(
        {
            "impl": ["mine", "solution"],
            "epochs": [3, 3],
            "images_per_epoch": [50_000, 50_000],
            "batch_size": [128, 128],
            "median_epoch_s": [90.0, 30.0],
            "time_ratio": [3.0, 1.0],
            "device": ["cpu (test)"] * 2,
        }
    )
    m = {}
    epoch_timing_macros(m, timing)
    assert m["PsixEpochSpeedupPhrase"] == "3.00$\\times$ faster than"
    assert "3 epochs of 50{,}000 training images per layer" in m["PsixEpochTimingText"]
    assert "90.0\\,s per epoch with mine against 30.0\\,s" in m["PsixEpochTimingText"]
    m = {}
    epoch_timing_macros(m, None)
    assert m["PsixEpochSpeedupPhrase"] == "n/a"
