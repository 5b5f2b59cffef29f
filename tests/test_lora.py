"""Tests for effdl.compress.lora: LoRALinear's init, maths, merge/unmerge, gradients and parameter counts."""

import math

import pytest
import torch
from torch import nn

from effdl.compress.lora import LoRALinear
from effdl.measure import count_parameters


def make_layer(in_features=20, out_features=7, r=3, alpha=6.0, seed=0):
    torch.manual_seed(seed)
    return LoRALinear(nn.Linear(in_features, out_features), r=r, alpha=alpha)


def randomise_b(layer, seed=1):
    """B is zero at init; give it values so the low-rank path actually contributes."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=g))


def test_equals_base_layer_at_init():
    layer = make_layer()
    x = torch.randn(5, 20, generator=torch.Generator().manual_seed(2))
    assert torch.equal(layer(x), layer.base(x))
    assert torch.count_nonzero(layer.lora_B) == 0


def test_a_has_kaiming_uniform_init():
    # kaiming_uniform(a=sqrt(5)) on (r, in) has bound 1/sqrt(in), like nn.Linear's weight
    layer = make_layer(in_features=400, r=8)
    bound = 1 / math.sqrt(400)
    assert layer.lora_A.abs().max() <= bound
    assert layer.lora_A.abs().max() > 0.99 * bound  # 3200 uniform draws reach the bound (a=sqrt(6) gives 0.93)
    assert layer.lora_A.shape == (8, 400) and layer.lora_B.shape == (7, 8)


def test_forward_matches_loralib_formula():
    layer = make_layer(r=4, alpha=2.0)
    randomise_b(layer)
    x = torch.randn(3, 20, generator=torch.Generator().manual_seed(3))
    w, b = layer.base.weight, layer.base.bias
    # loralib: x W^T + b + (alpha / r) x A^T B^T
    expected = x @ w.T + b + (2.0 / 4) * (x @ layer.lora_A.T @ layer.lora_B.T)
    torch.testing.assert_close(layer(x), expected)
    assert layer.scaling == 0.5


def test_merged_and_unmerged_outputs_agree():
    layer = make_layer()
    randomise_b(layer)
    x = torch.randn(6, 20, generator=torch.Generator().manual_seed(4))
    weight_before = layer.base.weight.clone()
    unmerged_out = layer(x)
    assert layer.merged is False

    layer.merge()
    assert layer.merged is True
    assert not torch.allclose(layer.base.weight, weight_before)  # the update went into W
    torch.testing.assert_close(layer(x), unmerged_out)
    layer.merge()  # idempotent: merging twice must not add the update twice
    torch.testing.assert_close(layer(x), unmerged_out)

    layer.unmerge()
    assert layer.merged is False
    torch.testing.assert_close(layer.base.weight, weight_before)
    torch.testing.assert_close(layer(x), unmerged_out)


def test_training_step_changes_only_the_adapter():
    layer = make_layer()
    frozen = {n: p.detach().clone() for n, p in layer.base.named_parameters()}
    adapter_before = {n: p.detach().clone() for n, p in layer.named_parameters() if "lora" in n}
    trainable = [p for p in layer.parameters() if p.requires_grad]
    opt = torch.optim.SGD(trainable, lr=0.1)
    x = torch.randn(8, 20, generator=torch.Generator().manual_seed(5))
    for _ in range(2):  # step 1 moves only B (A's gradient is B^T(...) = 0); step 2 moves A too
        opt.zero_grad()
        layer(x).pow(2).mean().backward()
        opt.step()
    for name, p in layer.base.named_parameters():
        assert p.grad is None
        assert torch.equal(p, frozen[name]), f"frozen base.{name} changed"
    for name, p in layer.named_parameters():
        if "lora" in name:
            assert not torch.equal(p, adapter_before[name]), f"{name} did not train"


@pytest.mark.parametrize(("in_features", "out_features", "r"), [(512, 10, 10), (512, 1000, 10), (20, 7, 3)])
def test_parameter_counts_match_formula(in_features, out_features, r):
    layer = LoRALinear(nn.Linear(in_features, out_features), r=r)
    base_params = in_features * out_features + out_features
    adapter_params = r * (in_features + out_features)
    assert count_parameters(layer) == base_params + adapter_params
    assert count_parameters(layer, trainable=True) == adapter_params
    assert (count_parameters(layer.base), count_parameters(layer.base, trainable=True)) == (base_params, 0)


def test_count_parameters_counts_shared_parameters_once():
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    model[0].bias.requires_grad_(False)
    assert (count_parameters(model), count_parameters(model, trainable=True)) == (20, 16)


def test_follows_base_dtype():
    layer = LoRALinear(nn.Linear(6, 3).to(torch.float64), r=2)
    assert layer.lora_A.dtype == layer.lora_B.dtype == torch.float64
    assert layer(torch.randn(2, 6, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.parametrize("r", [0, -1, 2.5])
def test_rejects_bad_rank(r):
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(nn.Linear(4, 4), r=r)


def test_rejects_non_linear_base():
    with pytest.raises(TypeError, match=r"^LoRALinear wraps an nn\.Linear, got Conv2d$"):
        LoRALinear(nn.Conv2d(3, 3, 1), r=2)


def test_rejects_bad_alpha():
    with pytest.raises(ValueError, match="alpha"):
        LoRALinear(nn.Linear(4, 4), r=2, alpha=0)


def test_rank_one_is_the_smallest_allowed_rank():
    layer = LoRALinear(nn.Linear(4, 3), r=1, alpha=2.0)
    assert layer.r == 1 and layer.lora_A.shape == (1, 4) and layer.lora_B.shape == (3, 1)
    assert "r=1, alpha=2" in repr(layer)


def test_defaults_are_rank_10_and_alpha_1():
    layer = LoRALinear(nn.Linear(12, 5))
    assert (layer.r, layer.alpha, layer.scaling) == (10, 1.0, 0.1)
