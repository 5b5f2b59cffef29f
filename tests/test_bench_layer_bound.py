"""The ConvNet's layer bound (effdl.bench.layer_bound): its shapes are the model's, its arithmetic is right."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from effdl.bench.layer_bound import add_layer_bound, layer_bound, layer_shapes, time_layer
from effdl.measure import count_macs
from effdl.models import build_model


def test_the_layer_shapes_are_the_convnets_own():
    """Their MACs plus the classifier's are the model's MACs as counted by hooks on the real modules."""
    conv_macs = sum(cin * cout * 9 * ((size + 2 - 3) // stride + 1) ** 2 for cin, cout, stride, size in layer_shapes())
    assert conv_macs + 256 * 10 == count_macs(build_model("convnet"), (1, 3, 32, 32))
    assert [size for *_, size in layer_shapes()] == [32, 32, 32, 16, 16, 16, 8, 8, 8]


def test_training_a_layer_takes_longer_than_evaluating_it():
    kwargs = dict(batch=8, precision="fp32", device=torch.device("cpu"), repeats=3)
    assert time_layer(64, 64, 1, 16, phase="train", **kwargs) > time_layer(64, 64, 1, 16, phase="eval", **kwargs)


def test_the_bound_is_the_batch_over_the_summed_layer_times_and_divides_the_headline():
    bound = layer_bound(torch.device("cpu"), ["fp32"], batch=2, phases=("eval",), repeats=1, log=lambda _: None)
    row = bound.iloc[0]
    assert row["bound_img_per_s"] == pytest.approx(2 / row["conv_seconds"]) and 0 < row["slowest_share"] <= 1
    headline = pd.DataFrame(
        {"phase": ["eval", "train"], "precision": ["fp32", "fp32"], "img_per_s": [row["bound_img_per_s"] / 2, 5.0]}
    )
    shares = add_layer_bound(headline, bound)["of_layer_bound"]
    assert shares[0] == pytest.approx(0.5) and shares.isna()[1]  # the train bound was not measured
