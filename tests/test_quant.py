"""Tests for effdl.compress.quant (seed cases, rounding, torch agreement, state dicts, packing) and Part 2 glue."""

import math
import re
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from effdl.compress.quant import (
    dequantize,
    dequantize_state_dict,
    fake_quantize_state_dict,
    memory_ratio,
    pack_codes,
    pack_state_dict,
    quantize,
    quantize_state_dict,
    quantized_nbytes,
    select_quantized_names,
    unpack_codes,
    unpack_state_dict,
)
from effdl.io import write_csv
from effdl.models.convnet import MNISTNet
from effdl.plan.quant_variants import VARIANT_PATTERN, Variant, parse_variant, variant_names
from effdl.report import words
from effdl.report.part2 import part2_macros, part2_table, seed_test_case_sizes, summarize_ptq
from effdl.report.texgen import fmt
from effdl.studies.quant import packed_checkpoint_rows, ptq_network_rows, ptq_variant_rows


def step_of(params):
    """Width of one quantization step (per tensor or per channel)."""
    return 1.0 / params.scale.astype(np.float64)


def float32_slack(x):
    """Round-off allowance: float32 params and a float32 result add a few ulps of the largest magnitude."""
    return 4 * np.finfo(np.float32).eps * (np.abs(x).max() + 1.0)


# --- the notebook's Code Cell 2.2 test harness --------------------------------------------------


def notebook_cases(rs):
    """The 8 test inputs of the notebook, in order, drawn from np.random's legacy API like the notebook."""
    return [
        np.arange(100),
        np.arange(0, 50, 0.5),
        rs.normal(0, 3, (100, 100)),
        rs.uniform(0, 10, (100, 100)),
        rs.uniform(5, 10, (100, 100)),
        rs.uniform(-5, -10, (100, 100)),  # low > high: values in (-10, -5], as in the notebook
        rs.normal(-10, 1, (100, 100)),
        rs.uniform(100, 355, (20, 40)),
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("case", range(8))
def test_notebook_cases_pass_size_and_error_checks(seed, case):
    x = notebook_cases(np.random.RandomState(seed))[case]
    q, params = quantize(x)  # the notebook calls quantize with one argument
    assert q.dtype == np.uint8 and q.shape == x.shape
    # sys.getsizeof only counts the buffer of an array that owns its data; a view would pass trivially.
    assert q.flags.owndata
    assert sys.getsizeof(q) <= sys.getsizeof(x.astype(np.float32)) // 2.3
    assert np.mean(np.abs(dequantize(q, params) - x)) < 2


def test_worked_example_of_the_notebook():
    q, params = quantize(np.array([400.0, 500.0, 600.0]))
    assert q.tolist() == [0, 128, 255]  # 127.5 rounds half to even
    np.testing.assert_allclose(dequantize(q, params), [400.0, 400.0 + 128 * 200 / 255, 600.0], rtol=1e-6)


def test_nearest_is_round_half_to_even():
    # Codes t = 0.5, 1.5, 2.5 (span 3 at 2 bits): half to even gives 0, 2, 2; half up would give 1, 2, 3.
    q, _ = quantize(np.array([0.0, 0.5, 1.5, 2.5, 3.0]), bits=2)
    assert q.tolist() == [0, 0, 2, 2, 3]


# --- rounding properties -------------------------------------------------------------------------

DISTRIBUTIONS = {
    "normal": lambda rng: rng.normal(0.0, 3.0, (64, 48)),
    "shifted": lambda rng: rng.uniform(100.0, 355.0, 500),
    "negative": lambda rng: rng.normal(-10.0, 1.0, (30, 30)),
    "heavy_tailed": lambda rng: rng.standard_t(2.0, 2000).astype(np.float32),
}


@pytest.mark.parametrize("bits", range(1, 9))
@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
def test_nearest_error_is_at_most_half_a_step(bits, dist):
    x = DISTRIBUTIONS[dist](np.random.default_rng(bits))
    q, params = quantize(x, bits=bits)
    assert q.dtype == np.uint8 and q.min() == 0 and q.max() == 2**bits - 1
    err = np.abs(dequantize(q, params) - x)
    assert err.max() <= step_of(params) / 2 + float32_slack(x)


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_per_channel_error_is_at_most_half_a_channel_step(bits):
    rng = np.random.default_rng(7)
    # Output channels with magnitudes spread over three decades, like a trained conv layer's filters.
    W = rng.normal(size=(16, 3, 3, 3)) * np.logspace(-3, 0, 16)[:, None, None, None]
    W[5] = 0.25  # one constant channel
    q, params = quantize(W, bits=bits, axis=0)
    assert params.shift.shape == params.scale.shape == (16,)
    err = np.abs(dequantize(q, params) - W).reshape(16, -1).max(axis=1)
    assert np.all(err <= step_of(params) / 2 + float32_slack(W))
    assert err[5] == 0.0
    # Per-channel steps follow each channel's own range, so the small channels are far more precise.
    _, tensor_params = quantize(W, bits=bits)
    per_tensor_err = np.abs(dequantize(*quantize(W, bits=bits)) - W).mean()
    assert np.abs(dequantize(q, params) - W).mean() < per_tensor_err
    varying = np.arange(16) != 5
    assert np.all(step_of(params)[varying] <= step_of(tensor_params) * (1 + 1e-6))


@pytest.mark.parametrize("bits", [1, 2, 3, 8])
def test_stochastic_rounding_is_unbiased_and_in_range(bits):
    rng = np.random.default_rng(11)
    x = rng.uniform(-1.0, 1.0, 200)
    draws = 3000
    total = np.zeros_like(x)
    for _ in range(draws):
        q, params = quantize(x, bits=bits, rounding="stochastic", rng=rng)
        assert q.dtype == np.uint8 and q.max() <= 2**bits - 1
        x_hat = dequantize(q, params)
        # Each value lands on one of the two grid points around it.
        assert np.abs(x_hat - x).max() < step_of(params) + float32_slack(x)
        total += x_hat
    step = step_of(params)
    bias = np.abs(total / draws - x)
    # Per-draw std <= step/2, so the mean of `draws` draws is within 6 standard errors of x.
    assert bias.max() <= 6 * (step / 2) / math.sqrt(draws)
    nearest_bias = np.abs(dequantize(*quantize(x, bits=bits)) - x)
    assert bias.mean() < nearest_bias.mean() / 5


def test_stochastic_rounding_is_reproducible_and_random():
    x = np.random.default_rng(0).normal(size=(20, 20))
    q1, _ = quantize(x, bits=2, rounding="stochastic", rng=np.random.default_rng(3))
    q2, _ = quantize(x, bits=2, rounding="stochastic", rng=np.random.default_rng(3))
    q3, _ = quantize(x, bits=2, rounding="stochastic", rng=np.random.default_rng(4))
    np.testing.assert_array_equal(q1, q2)
    assert not np.array_equal(q1, q3)


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("axis", [None, 0])
def test_nearest_quantization_is_idempotent(bits, axis):
    x = np.random.default_rng(bits).normal(size=(12, 30)).astype(np.float32)
    q, params = quantize(x, bits=bits, axis=axis)
    x_hat = dequantize(q, params)
    q_again, params_again = quantize(x_hat, bits=bits, axis=axis)
    np.testing.assert_array_equal(q_again, q)
    # The re-derived float32 shift/scale may differ in the last ulp, so values agree to float32 precision.
    np.testing.assert_allclose(dequantize(q_again, params_again), x_hat, rtol=0, atol=float32_slack(x))


@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
@pytest.mark.parametrize("value", [0.0, -3.75, 1e6])
def test_constant_array_round_trips_exactly(rounding, value):
    x = np.full((5, 7), value, dtype=np.float32)
    q, params = quantize(x, bits=2, rounding=rounding, rng=np.random.default_rng(0))
    x_hat = dequantize(q, params)
    assert not np.isnan(x_hat).any()
    np.testing.assert_array_equal(x_hat, x)


# --- agreement with torch's fake quantization ----------------------------------------------------


def grid_data(rng, bits, zero_point, step, shape):
    """float32 data whose min is -zero_point*step and max (levels-zero_point)*step, where both schemes coincide."""
    levels = 2**bits - 1
    x = (step * (rng.uniform(0, levels, shape) - zero_point)).astype(np.float32)
    x.reshape(-1)[:2] = [-zero_point * step, (levels - zero_point) * step]
    return x


def not_a_tie(x, step):
    # At exact .5 ties torch rounds x/step before adding the zero point, we after; half-to-even then
    # differs for odd zero points, so ties are excluded from the exact comparison.
    frac = np.abs(np.asarray(x, dtype=np.float64) / step) % 1.0
    return frac != 0.5


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_matches_torch_fake_quantize_per_tensor_on_grid_data(bits):
    levels, step = 2**bits - 1, 2.0**-5  # a power-of-two step keeps both computations exact
    zero_point = levels // 3
    x = grid_data(np.random.default_rng(bits), bits, zero_point, step, (40, 50))
    ours = dequantize(*quantize(x, bits=bits))
    ref = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), step, zero_point, 0, levels).numpy()
    keep = not_a_tie(x, step)
    assert keep.mean() > 0.99
    np.testing.assert_array_equal(ours[keep], ref[keep])
    assert np.abs(ours - ref).max() <= step


@pytest.mark.parametrize("bits", [2, 8])
def test_matches_torch_fake_quantize_per_channel_on_grid_data(bits):
    levels = 2**bits - 1
    rng = np.random.default_rng(bits)
    steps = 2.0 ** -rng.integers(2, 9, 6)
    zero_points = rng.integers(0, levels + 1, 6)
    x = np.stack([grid_data(rng, bits, z, s, (8, 3)) for z, s in zip(zero_points, steps)])
    ours = dequantize(*quantize(x, bits=bits, axis=0))
    ref = torch.fake_quantize_per_channel_affine(
        torch.from_numpy(x),
        torch.tensor(steps, dtype=torch.float32),
        torch.tensor(zero_points, dtype=torch.int32),
        0,
        0,
        levels,
    ).numpy()
    keep = not_a_tie(x, steps[:, None, None])
    assert keep.mean() > 0.95
    np.testing.assert_array_equal(ours[keep], ref[keep])


def test_close_to_torch_fake_quantize_on_general_data():
    x = np.random.default_rng(5).normal(0.3, 2.0, 1000).astype(np.float32)
    q, params = quantize(x, bits=4)
    step = float(step_of(params))
    zero_point = int(np.round(-x.min() / step))
    ref = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), step, zero_point, 0, 15).numpy()
    # Both are within a step of x (torch's rounded zero point can shift its grid by up to half a step).
    assert np.abs(dequantize(q, params) - ref).max() <= 1.5 * step + float32_slack(x)


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"bits": 0}, "bits"),
        ({"bits": 9}, "bits"),
        ({"bits": 2.0}, "bits"),
        ({"bits": True}, "bits"),
        ({"rounding": "banker"}, "rounding"),
        ({"rounding": "stochastic"}, "rng"),
        ({"axis": 2}, "axis"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        quantize(np.ones((3, 4)), **kwargs)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_raises(bad):
    x = np.arange(10.0)
    x[3] = bad
    with pytest.raises(ValueError, match="NaN"):
        quantize(x)


@pytest.mark.parametrize("x", [np.array([]), np.array(["a", "b"]), np.array([1 + 2j])])
def test_empty_or_non_real_input_raises(x):
    with pytest.raises(ValueError, match="Fix"):
        quantize(x)


def test_dequantize_rejects_codes_that_do_not_fit():
    _, params = quantize(np.arange(10.0), bits=2)
    with pytest.raises(ValueError, match="bits"):
        dequantize(np.array([0, 4], dtype=np.uint8), params)
    with pytest.raises(ValueError, match="uint8"):
        dequantize(np.array([0, 1]), params)


# --- memory accounting ---------------------------------------------------------------------------


def test_memory_ratio_counts_shift_and_scale():
    x = np.random.default_rng(0).normal(size=100)
    q, params = quantize(x)
    assert params.nbytes == 2 * 4  # shift and scale as float32: the seed's "2 floats"
    assert quantized_nbytes(q, params) == 100 + 8
    assert memory_ratio(x, q, params) == pytest.approx(400 / 108)
    assert memory_ratio(x, q, params) < 4
    q2, params2 = quantize(x, bits=2)
    assert quantized_nbytes(q2, params2, packed=True) == 25 + 8
    # Per-channel params cost 8 bytes per channel.
    W = np.random.default_rng(0).normal(size=(16, 9))
    assert quantize(W, axis=0)[1].nbytes == 16 * 8


# --- bit packing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", range(1, 9))
@pytest.mark.parametrize("count", [1, 3, 8, 37])
def test_pack_unpack_round_trip(bits, count):
    q = np.random.default_rng(count).integers(0, 2**bits, count).astype(np.uint8)
    packed = pack_codes(q, bits)
    assert packed.dtype == np.uint8 and packed.size == math.ceil(count * bits / 8)
    np.testing.assert_array_equal(unpack_codes(packed, bits, count), q)


def test_pack_layout_puts_2_and_4_codes_per_byte():
    assert pack_codes(np.array([1, 2], dtype=np.uint8), 4).tolist() == [0x21]  # first code = low nibble
    assert pack_codes(np.array([0, 1, 2, 3], dtype=np.uint8), 2).tolist() == [0b11_10_01_00]
    assert pack_codes(np.array([3, 3, 3, 3, 1], dtype=np.uint8), 2).tolist() == [0xFF, 0x01]


def test_pack_rejects_codes_wider_than_bits():
    with pytest.raises(ValueError, match="codes"):
        pack_codes(np.array([0, 16], dtype=np.uint8), 4)


# --- state-dict PTQ ------------------------------------------------------------------------------


class MaskedLinear(nn.Linear):
    """A linear layer with a float 0/1 buffer, standing in for a pruning mask."""

    def __init__(self, *args):
        super().__init__(*args)
        self.register_buffer("mask", (torch.arange(self.out_features) % 2).float())


def toy_convnet():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        MaskedLinear(4 * 6 * 6, 5),
    )
    model.train()
    model(torch.randn(16, 3, 8, 8))  # non-trivial BN running stats
    return model.eval()


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("keep", {"0.weight", "4.weight", "4.bias"}),
        ("params", {"0.weight", "1.weight", "1.bias", "4.weight", "4.bias"}),
        ("all", {"0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "4.weight", "4.bias"}),
    ],
)
def test_select_quantized_names_per_batchnorm_mode(mode, expected):
    assert set(select_quantized_names(toy_convnet(), mode)) == expected


def test_select_quantized_names_rejects_unknown_mode():
    with pytest.raises(ValueError, match="batchnorm"):
        select_quantized_names(toy_convnet(), "fold")


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("bits", [2, 8])
def test_fake_quantize_state_dict_keeps_the_rest_and_bounds_the_error(per_channel, bits):
    model = toy_convnet()
    sd = model.state_dict()
    names = select_quantized_names(model, "params")
    qsd = quantize_state_dict(sd, names, bits=bits, per_channel=per_channel)
    fake = dequantize_state_dict(qsd)
    assert list(fake) == list(sd)
    for key, tensor in sd.items():
        if key in names:
            q, params = qsd.quantized[key]
            assert params.axis == (0 if per_channel and tensor.ndim >= 2 else None)
            err = (fake[key] - tensor).abs().reshape(tensor.shape[0] if params.axis == 0 else 1, -1).amax(dim=1)
            assert np.all(err.numpy() <= step_of(params) / 2 + float32_slack(tensor.numpy()))
        else:
            assert torch.equal(fake[key], tensor)  # BN running stats, num_batches_tracked, the mask
    quantized_model = toy_convnet()
    quantized_model.load_state_dict(fake)
    assert quantized_model(torch.randn(2, 3, 8, 8)).shape == (2, 5)


def test_fake_quantize_state_dict_does_not_modify_its_input():
    sd = toy_convnet().state_dict()
    before = {k: v.clone() for k, v in sd.items()}
    fake_quantize_state_dict(sd, bits=2)
    assert all(torch.equal(sd[k], before[k]) for k in sd)


def test_eight_bit_ptq_barely_changes_outputs_and_two_bit_changes_them_more():
    model = toy_convnet()
    x = torch.randn(32, 3, 8, 8)
    with torch.no_grad():
        reference = model(x)
        errors = {}
        for bits in (8, 2):
            model_q = toy_convnet()
            model_q.load_state_dict(fake_quantize_state_dict(model.state_dict(), select_quantized_names(model), bits))
            errors[bits] = (model_q(x) - reference).abs().max().item()
    assert errors[8] < 0.02 * reference.abs().max().item()
    assert errors[2] > 10 * errors[8]


def test_quantize_state_dict_rejects_unknown_names():
    with pytest.raises(ValueError, match="not in the state dict"):
        quantize_state_dict(toy_convnet().state_dict(), ["nope.weight"])


def test_stochastic_state_dict_is_seeded():
    sd = toy_convnet().state_dict()
    a = fake_quantize_state_dict(sd, bits=2, rounding="stochastic", rng=np.random.default_rng(1))
    b = fake_quantize_state_dict(sd, bits=2, rounding="stochastic", rng=np.random.default_rng(1))
    c = fake_quantize_state_dict(sd, bits=2, rounding="stochastic", rng=np.random.default_rng(2))
    assert all(torch.equal(a[k], b[k]) for k in sd)
    assert not all(torch.equal(a[k], c[k]) for k in sd)


# --- bit-packed checkpoint -----------------------------------------------------------------------


@pytest.mark.parametrize("bits, per_channel", [(2, False), (4, True), (3, False), (8, True)])
def test_packed_checkpoint_reloads_bit_exact(tmp_path, bits, per_channel):
    model = toy_convnet()
    names = select_quantized_names(model, "params")
    qsd = quantize_state_dict(
        model.state_dict(), names, bits, "stochastic", np.random.default_rng(0), per_channel=per_channel
    )
    path = tmp_path / "packed.pt"
    torch.save(pack_state_dict(qsd), path)
    reloaded = unpack_state_dict(torch.load(path, weights_only=True))
    simulated, from_file = dequantize_state_dict(qsd), dequantize_state_dict(reloaded)
    assert list(from_file) == list(simulated)
    assert all(torch.equal(from_file[k], simulated[k]) for k in simulated)
    assert reloaded.nbytes(packed=True) == qsd.nbytes(packed=True)
    model_sim, model_file = toy_convnet(), toy_convnet()
    model_sim.load_state_dict(simulated)
    model_file.load_state_dict(from_file)
    x = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(model_sim(x), model_file(x))


@pytest.mark.parametrize("bits", [2, 4])
def test_packed_file_is_smaller_than_the_fp32_file_by_about_32_over_bits(tmp_path, bits):
    torch.manual_seed(0)
    model = nn.Linear(512, 256)
    sd = model.state_dict()
    fp32_path, packed_path = tmp_path / "fp32.pt", tmp_path / "packed.pt"
    torch.save(sd, fp32_path)
    qsd = quantize_state_dict(sd, bits=bits)
    torch.save(pack_state_dict(qsd), packed_path)
    payload = qsd.nbytes(packed=True)
    assert payload == math.ceil(512 * 256 * bits / 8) + math.ceil(256 * bits / 8) + 2 * 8
    on_disk = packed_path.stat().st_size
    assert payload <= on_disk
    # File-format overhead is a few kB, so the on-disk ratio approaches the payload ratio 32/bits.
    assert fp32_path.stat().st_size / on_disk > 0.8 * 32 / bits


def test_unpack_rejects_other_files():
    with pytest.raises(ValueError, match="packed quantized checkpoint"):
        unpack_state_dict({"weight": torch.zeros(3)})


# --- Part 2 study glue (effdl.studies.quant, effdl.report.part2) ---------------------------------------


def test_variant_names_round_trip_and_match_the_wildcard_pattern():
    names = variant_names(["tensor", "channel"], [8, 4, 2], 2, 3)
    assert len(names) == 1 + 2 * (3 + 3) and len(set(names)) == len(names)
    for name in names:
        assert re.fullmatch(VARIANT_PATTERN, name)
        assert parse_variant(name).name == name
    assert parse_variant("channel-stochastic-2bit-trial7") == Variant("stochastic", "channel", 2, 7)
    assert parse_variant("fp32") == Variant("fp32")


@pytest.mark.parametrize(
    "bad", ["fp16", "tensor-nearest-9bit", "row-nearest-8bit", "tensor-stochastic-2bit", "tensor-nearest-8bit-trial1"]
)
def test_parse_variant_rejects_malformed_names(bad):
    with pytest.raises(ValueError, match="variant"):
        parse_variant(bad)


def fake_rows():
    """PTQ rows of two checkpoints: fp32, nearest 8/2-bit and three stochastic 2-bit trials."""
    rows = []
    for seed, fp32 in ((43, 97.0), (44, 96.0)):
        common = {
            "net": "mnist_mlp",
            "checkpoint": f"part2/mnist_mlp_seed{seed}",
            "seed": seed,
            "batchnorm": "params",
            "epochs_planned": 4,
            "device": "cpu",
            "fp32_bytes": 400,
            "n_test": 1000,
        }
        rows.append(
            {
                **common,
                "rounding": "fp32",
                "granularity": "none",
                "bits": 32,
                "trial": 0,
                "test_acc": fp32,
                "uint8_bytes": 400,
                "packed_bytes": 400,
            }
        )
        rows.append(
            {
                **common,
                "rounding": "nearest",
                "granularity": "tensor",
                "bits": 8,
                "trial": 0,
                "test_acc": fp32 - 0.1,
                "uint8_bytes": 108,
                "packed_bytes": 108,
            }
        )
        rows.append(
            {
                **common,
                "rounding": "nearest",
                "granularity": "tensor",
                "bits": 2,
                "trial": 0,
                "test_acc": fp32 - 40,
                "uint8_bytes": 108,
                "packed_bytes": 33,
            }
        )
        for trial in range(3):
            rows.append(
                {
                    **common,
                    "rounding": "stochastic",
                    "granularity": "tensor",
                    "bits": 2,
                    "trial": trial,
                    "test_acc": fp32 - 30 - trial,
                    "uint8_bytes": 108,
                    "packed_bytes": 33,
                }
            )
    return pd.DataFrame(rows)


def test_summarize_ptq_pairs_each_variant_with_its_own_fp32_checkpoint():
    summary = summarize_ptq(fake_rows()).set_index(["rounding", "bits"])
    assert summary.loc[("nearest", 8), "delta_mean"] == pytest.approx(-0.1)
    assert summary.loc[("nearest", 8), "acc_mean"] == pytest.approx(96.4)
    stochastic = summary.loc[("stochastic", 2)]
    assert stochastic["n"] == 6 and stochastic["trials"] == 3 and stochastic["checkpoints"] == 2
    assert stochastic["delta_mean"] == pytest.approx(-31.0)
    assert stochastic["acc_min"] == pytest.approx(96.0 - 32) and stochastic["acc_max"] == pytest.approx(97.0 - 30)
    assert stochastic["ratio_packed"] == pytest.approx(400 / 33)
    assert summary.loc[("fp32", 32), "seed"] == "43;44"  # provenance columns survive aggregation


def test_part2_macros_and_table_are_tex_ready():
    rows = fake_rows()
    summary = summarize_ptq(rows)
    packed = pd.DataFrame(
        [
            {
                "net": "mnist_mlp",
                "bits": 2,
                "fp32_file_bytes": 1000,
                "packed_file_bytes": 200,
                "bit_exact": True,
                "test_acc_from_file": 57.0,
            }
        ]
    )
    macros = part2_macros(summary, rows, packed, mnist={"batch_size": 64, "hidden": 128, "lr": 1e-3, "gamma": 0.1})
    assert all(re.fullmatch(r"[A-Za-z]+", name) for name in macros)
    assert macros["PtwoMnistTensorNearestBEightDelta"] == "$-0.10$"
    assert macros["PtwoMnistStochVsNearest"] == "higher than banker's rounding"
    assert macros["PtwoMnistStochGap"] == "$+9.00$"
    # both checkpoints lose exactly 0.1 points at 8 bits: the paired t-test sees a certain (zero-variance) loss
    assert macros["PtwoMnistBEightVsFp"] == "lower than fp32"
    assert macros["PtwoMnistBTwoVsFp"] == "lower than fp32"
    assert macros["PtwoMnistFileRatio"] == "5.00"
    # only what the paper quotes: the granularity comparison is the ConvNet's, the MLP's other settings the table's
    assert "PtwoMnistGranularitySentence" not in macros and "PtwoMnistTensorStochasticBTwoAcc" not in macros
    eight = summary.set_index(["rounding", "bits"]).loc[("nearest", 8)]
    assert macros["PtwoMnistTensorNearestBEightRatio"] == fmt(eight["ratio_uint8"], 3)
    sizes = seed_test_case_sizes()
    assert sizes["ratio_payload"] == pytest.approx(400 / 108)
    assert sizes["ratio_getsizeof"] < sizes["ratio_payload"] < 4
    table = part2_table(summary)
    assert list(table["setting"]) == ["fp32", "8-bit", "2-bit", "2-bit stochastic"]
    assert table.loc[0, "channel (\\%)"] == "--"  # no per-channel variant was run
    assert "problem set's" in macros["PtwoBatchnormSentence"]
    assert macros["PtwoMnistEpochsText"] == words.count(4, "epoch")
    assert "random order" in macros["PtwoMnistOrder"]  # the default, shuffle: true
    unshuffled = part2_macros(
        summary, rows, packed, mnist={"batch_size": 1, "hidden": 128, "lr": 1e-3, "gamma": 0.1, "shuffle": False}
    )
    assert "original order" in unshuffled["PtwoMnistOrder"]


def state_dict_nbytes_of(model):
    """fp32 payload of a model, counted independently of effdl.compress.quant.state_dict_nbytes."""
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


@pytest.fixture
def trained_mlp(tmp_path):
    """A train_model-style checkpoint of a small MNISTNet and a packed 20-image test set."""
    torch.manual_seed(0)
    model = MNISTNet(hidden=8)
    spec = {
        "seed": 43,
        "model": {"name": "mnist_mlp", "hidden": 8},
        "mean": [0.1307],
        "std": [0.3081],
        "train": {"epochs": 1},
    }
    torch.save({"state_dict": model.state_dict(), "spec": spec}, tmp_path / "model.pt")
    generator = torch.Generator().manual_seed(0)
    split = {
        "images": torch.randint(0, 256, (20, 1, 28, 28), dtype=torch.uint8, generator=generator),
        "labels": torch.randint(0, 10, (20,), generator=generator),
    }
    torch.save(
        {"train": split, "test": split, "classes": list(range(10)), "source": "synthetic", "sha256": "x"},
        tmp_path / "data.pt",
    )
    return tmp_path, model


def test_ptq_variant_rows_evaluate_each_checkpoint(trained_mlp):
    tmp_path, model = trained_mlp
    kwargs = dict(
        net="mnist_mlp",
        batchnorm="params",
        rounding_seed=0,
        eval_batch_size=7,
        device=torch.device("cpu"),
        config={"x": 1},
        log=lambda _: None,
    )
    checkpoints = {"part2/mnist_mlp_seed43": str(tmp_path / "model.pt")}
    fp32 = ptq_variant_rows(checkpoints, tmp_path / "data.pt", "fp32", **kwargs).iloc[0]
    nearest = ptq_variant_rows(checkpoints, tmp_path / "data.pt", "tensor-nearest-2bit", **kwargs).iloc[0]
    trial = [
        ptq_variant_rows(checkpoints, tmp_path / "data.pt", "tensor-stochastic-2bit-trial1", **kwargs).iloc[0]
        for _ in range(2)
    ]
    assert fp32["fp32_bytes"] == state_dict_nbytes_of(model) and fp32["packed_bytes"] == fp32["fp32_bytes"]
    assert nearest["quantized_tensors"] == 4 and nearest["packed_bytes"] < nearest["uint8_bytes"] < fp32["fp32_bytes"]
    assert trial[0]["test_loss"] == trial[1]["test_loss"]  # seeded: the same trial is the same model
    assert trial[0]["test_loss"] != nearest["test_loss"]
    assert {"seed", "device", "git_commit", "config_hash", "data_sha256"} <= set(fp32.index)


def test_one_process_for_all_variants_writes_the_csvs_of_one_process_per_variant(trained_mlp):
    """Rule quantize_model_<net> evaluates every variant of every checkpoint in one process: each variant's CSV
    must equal, byte for byte, the CSV of a process that evaluated that variant alone (as one job per variant
    did), so no variant starts from another's quantized weights and no checkpoint from another's."""
    tmp_path, _ = trained_mlp
    torch.manual_seed(1)  # a second checkpoint with other weights and another seed
    spec = {**torch.load(tmp_path / "model.pt", weights_only=True)["spec"], "seed": 44}
    torch.save({"state_dict": MNISTNet(hidden=8).state_dict(), "spec": spec}, tmp_path / "model44.pt")
    checkpoints = {
        "part2/mnist_mlp_seed43": str(tmp_path / "model.pt"),
        "part2/mnist_mlp_seed44": str(tmp_path / "model44.pt"),
    }
    kwargs = dict(
        net="mnist_mlp",
        batchnorm="params",
        rounding_seed=0,
        eval_batch_size=7,
        device=torch.device("cpu"),
        config={"x": 1},
        log=lambda _: None,
    )
    # nearest after stochastic and fp32 last: any leftover quantized weight would show in the later variants
    variants = ["tensor-stochastic-2bit-trial1", "tensor-nearest-2bit", "channel-nearest-4bit", "fp32"]
    shared = ptq_network_rows(checkpoints, tmp_path / "data.pt", variants, **kwargs)
    assert list(shared) == variants
    for variant in variants:
        write_csv(shared[variant], tmp_path / "shared.csv")
        write_csv(ptq_variant_rows(checkpoints, tmp_path / "data.pt", variant, **kwargs), tmp_path / "alone.csv")
        assert (tmp_path / "shared.csv").read_bytes() == (tmp_path / "alone.csv").read_bytes(), variant
        assert list(shared[variant]["checkpoint"]) == list(checkpoints)
    # the fp32 rows are the checkpoints' own accuracy, and the two checkpoints differ
    fp32 = shared["fp32"]
    assert fp32["seed"].tolist() == [43, 44] and fp32["test_loss"].nunique() == 2
    with pytest.raises(ValueError, match="not of the form"):  # a bad name fails before any evaluation
        ptq_network_rows(checkpoints, tmp_path / "data.pt", ["fp32", "fp16"], **kwargs)


def test_packed_checkpoint_rows_write_files_quantized_from_fp32(trained_mlp):
    tmp_path, model = trained_mlp
    paths = {4: tmp_path / "4bit.pt", 2: tmp_path / "2bit.pt"}
    rows = packed_checkpoint_rows(
        tmp_path / "model.pt",
        "part2/mnist_mlp_seed43",
        tmp_path / "data.pt",
        net="mnist_mlp",
        bits_list=[4, 2],
        batchnorm="params",
        fp32_path=tmp_path / "fp32.pt",
        packed_paths=paths,
        eval_batch_size=20,
        device=torch.device("cpu"),
        config={},
        log=lambda _: None,
    )
    assert list(rows["bits"]) == [4, 2] and rows["bit_exact"].all()
    assert (rows["packed_file_bytes"] < rows["fp32_file_bytes"]).all()
    for bits, path in paths.items():
        # Each file must hold the fp32 model quantized once (the seed's pitfall: never re-quantize a result).
        direct = fake_quantize_state_dict(model.state_dict(), bits=bits)
        from_file = dequantize_state_dict(unpack_state_dict(torch.load(path, weights_only=True)))
        assert all(torch.equal(direct[k], from_file[k]) for k in direct)


def test_values_beyond_half_the_float32_range_are_refused_at_the_edge():
    half = float(np.finfo(np.float32).max) / 2
    q, params = quantize(np.array([-half, 0.0, half]), bits=8)  # exactly half: still representable
    assert q.tolist() == [0, 128, 255]
    message = r"^quantize got values beyond half the float32 range; .* Fix: rescale the array first\.$"
    with pytest.raises(ValueError, match=message):
        quantize(np.array([0.0, np.nextafter(half, np.inf)]))


def test_select_quantized_names_of_a_bare_layer_have_no_prefix():
    assert select_quantized_names(nn.Linear(3, 2)) == ["weight", "bias"]
    assert set(fake_quantize_state_dict(nn.Linear(3, 2).state_dict())) == {"weight", "bias"}


def test_fake_quantize_state_dict_quantizes_only_the_named_tensors_per_channel_when_asked():
    rng = np.random.default_rng(0)
    sd = {"a": torch.tensor(rng.normal(size=(4, 6)) * [[1], [10], [100], [1000]], dtype=torch.float32),
          "b": torch.tensor(rng.normal(size=(5,)), dtype=torch.float32)}  # fmt: skip
    out = fake_quantize_state_dict(sd, ["a"], 2)
    assert torch.equal(out["b"], sd["b"]) and not torch.equal(out["a"], sd["a"])
    assert len(torch.unique(out["a"])) <= 4  # one 2-bit grid for the whole tensor
    per_channel = fake_quantize_state_dict(sd, ["a"], 2, per_channel=True)
    assert all(len(torch.unique(row)) <= 4 for row in per_channel["a"]) and len(torch.unique(per_channel["a"])) > 4
    assert (per_channel["a"] - sd["a"]).abs()[0].max() < (out["a"] - sd["a"]).abs()[0].max()  # finer for row 0


def test_quantize_accepts_every_valid_negative_axis():
    w = np.random.default_rng(1).normal(size=(3, 4))
    q0, _ = quantize(w, 4, axis=0)
    q_neg, _ = quantize(w, 4, axis=-2)
    assert np.array_equal(q0, q_neg)
    with pytest.raises(ValueError, match="axis"):
        quantize(w, 4, axis=-3)


def test_pack_codes_of_nothing_and_unpack_from_a_list():
    assert pack_codes(np.zeros(0, dtype=np.uint8), 2).tolist() == []
    assert unpack_codes([0b11100100], 2, 4).tolist() == [0, 1, 2, 3]  # low bits first


def test_non_numeric_input_names_the_fix():
    with pytest.raises(ValueError, match=r"got dtype <U1\. Fix: pass an integer or floating-point NumPy array\.$"):
        quantize(np.array(["a", "b"]))
