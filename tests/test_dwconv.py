"""Tests for effdl.models.dwconv and studies.dwconv: the notebook's test, grouped-conv parity, counts, the benchmark."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from effdl.measure import count_parameters
from effdl.models import dwconv
from effdl.models.dwconv import (
    DepthwiseSeparableConvolution,
    DepthwiseSeparableConvolutionSolution,
    DWConvNet,
    dw_conv_block,
    param_reduction_factor,
)
from effdl.studies import dwconv as dwconv_study

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: see conftest.py


def copy_to_solution(mine: DepthwiseSeparableConvolution, solution: DepthwiseSeparableConvolutionSolution) -> None:
    """Give the grouped-conv reference the same weights as the list-based layer."""
    with torch.no_grad():
        solution.depthwise.weight.copy_(torch.stack(mine.kernel_weights).unsqueeze(1))  # (C_in, 1, K, K)
        solution.pointwise.weight.copy_(mine.one_d_conv_weight)


def test_notebook_test_case():
    """Code Cell 6.1: kernels all-ones and all-twos, pointwise [[2, 3], [4, 5]], Frobenius error <= 1e-5."""
    m = DepthwiseSeparableConvolution(2, 2, 2)
    # Replaced after construction, as the notebook's test does: forward must read them now.
    m.kernel_weights = [nn.Parameter(torch.ones(2, 2)), nn.Parameter(2 * torch.ones(2, 2))]
    m.one_d_conv_weight = nn.Parameter(torch.tensor([[2.0, 3.0], [4.0, 5.0]]).reshape(2, 2, 1, 1))
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[4.0, 5.0], [5.0, 6.0]]]])
    depthwise_expected = torch.tensor([[[1.0, 3.0], [4.0, 10.0]], [[8.0, 18.0], [18.0, 40.0]]])
    expected = torch.tensor([[[26.0, 60.0], [62.0, 140.0]], [[44.0, 102.0], [106.0, 240.0]]])
    out = m(x)
    assert out.shape == (1, 2, 2, 2)
    assert torch.linalg.norm(m.depthwise(x) - depthwise_expected) <= 1e-5
    assert torch.linalg.norm(out - expected) <= 1e-5  # broadcasts (1,2,2,2) against (2,2,2) as the notebook


def test_replacing_one_list_entry_is_used():
    m = DepthwiseSeparableConvolution(3, 2, 3)
    x = torch.randn(1, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    before = m(x)
    m.kernel_weights[1] = nn.Parameter(torch.zeros(3, 3))
    after = m(x)
    solution = DepthwiseSeparableConvolutionSolution(3, 2, 3)
    copy_to_solution(m, solution)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, solution(x), rtol=1e-5, atol=1e-5)


CASES = [(1, 1, 1), (3, 5, 3), (4, 4, 2), (7, 3, 4), (6, 8, 5), (16, 12, 3)]


@pytest.mark.parametrize("C_in,C_out,K", CASES)
def test_parity_with_grouped_conv(C_in, C_out, K):
    """Forward and all gradients match torch's groups=C_in conv on the same weights (odd and even K, H != W)."""
    gen = torch.Generator().manual_seed(C_in * 100 + C_out * 10 + K)
    mine = DepthwiseSeparableConvolution(C_in, C_out, K)
    solution = DepthwiseSeparableConvolutionSolution(C_in, C_out, K)
    copy_to_solution(mine, solution)
    x = torch.randn(2, C_in, 7, 6, generator=gen)
    x_mine, x_sol = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_mine, y_sol = mine(x_mine), solution(x_sol)
    assert y_mine.shape == (2, C_out, 7, 6)
    torch.testing.assert_close(y_mine, y_sol, rtol=1e-5, atol=1e-5)

    upstream = torch.randn(y_mine.shape, generator=gen)
    (y_mine * upstream).sum().backward()
    (y_sol * upstream).sum().backward()
    torch.testing.assert_close(x_mine.grad, x_sol.grad, rtol=1e-5, atol=1e-5)
    kernel_grads = torch.stack([k.grad for k in mine.kernel_weights]).unsqueeze(1)
    torch.testing.assert_close(kernel_grads, solution.depthwise.weight.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(mine.one_d_conv_weight.grad, solution.pointwise.weight.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("K", [1, 2, 3, 4, 5])
def test_same_padding_matches_torch_for_odd_and_flips_side_for_even(K):
    """Odd K: torch's padding="same". Even K: the extra goes left/top, the mirror of torch's right/bottom."""
    left, right, top, bottom = dwconv.same_padding(K)
    assert left + right == top + bottom == K - 1
    x = torch.randn(1, 1, 6, 5, generator=torch.Generator().manual_seed(K))
    w = torch.randn(1, 1, K, K, generator=torch.Generator().manual_seed(10 + K))
    ours = F.conv2d(F.pad(x, (left, right, top, bottom)), w)
    if K % 2:
        torch.testing.assert_close(ours, F.conv2d(x, w, padding="same"))
    else:
        # Correlating the flipped image with the flipped kernel moves torch's extra pad to the other side.
        mirrored = F.conv2d(x.flip(-1, -2), w.flip(-1, -2), padding="same").flip(-1, -2)
        torch.testing.assert_close(ours, mirrored)


def test_mine_never_uses_groups(monkeypatch):
    calls = []
    original = F.conv2d

    def recording_conv2d(*args, **kwargs):
        groups = kwargs.get("groups", args[6] if len(args) > 6 else 1)
        calls.append(groups)
        return original(*args, **kwargs)

    monkeypatch.setattr(F, "conv2d", recording_conv2d)
    m = DepthwiseSeparableConvolution(4, 6, 3)
    assert not any(isinstance(sub, nn.Conv2d) for sub in m.modules())
    m(torch.randn(1, 4, 5, 5))
    assert calls and all(g == 1 for g in calls)


def test_parameter_layout():
    m = DepthwiseSeparableConvolution(5, 7, 3)
    names = dict(m.named_parameters())
    assert sorted(names) == sorted([f"k_{i}" for i in range(5)] + ["one_d_conv_weight"])
    assert len(m.kernel_weights) == 5
    assert all(m.kernel_weights[i] is names[f"k_{i}"] and names[f"k_{i}"].shape == (3, 3) for i in range(5))
    assert m.one_d_conv_weight.shape == (7, 5, 1, 1)
    # kaiming_uniform(a=sqrt(5)) on (K, K) gives bound 1/sqrt(fan_in) = 1/sqrt(K): nonzero and bounded.
    kernels = torch.stack(m.kernel_weights)
    assert kernels.abs().max() <= 3**-0.5 and kernels.abs().sum() > 0


def test_dtype_move_and_state_dict_keep_list_in_sync():
    m = DepthwiseSeparableConvolution(3, 4, 3).to(torch.float64)
    assert all(k is getattr(m, f"k_{i}") and k.dtype == torch.float64 for i, k in enumerate(m.kernel_weights))
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    fresh = DepthwiseSeparableConvolution(3, 4, 3).to(torch.float64)
    fresh.load_state_dict(m.state_dict())
    torch.testing.assert_close(fresh(x), m(x))


@pytest.mark.parametrize("C_in,C_out,K", [(10, 20, 5), (3, 8, 3), (32, 32, 3), (4, 1, 2)])
def test_parameter_counts_against_closed_form(C_in, C_out, K):
    standard = count_parameters(nn.Conv2d(C_in, C_out, K, bias=False))
    for cls in (DepthwiseSeparableConvolution, DepthwiseSeparableConvolutionSolution):
        separable = count_parameters(cls(C_in, C_out, K))
        assert separable == C_in * K * K + C_in * C_out
        assert standard / separable == pytest.approx(param_reduction_factor(C_out, K))


def test_notebook_parameter_counts():
    """The seed's (10, 20, 5) example: 5,000 vs 450, a factor 500/45 (about 11.1), not C_out = 20."""
    standard = count_parameters(nn.Conv2d(10, 20, 5, bias=False))
    separable = count_parameters(DepthwiseSeparableConvolution(10, 20, 5))
    assert (standard, separable) == (5000, 450)
    assert param_reduction_factor(20, 5) == pytest.approx(500 / 45)
    assert param_reduction_factor(20, 5) < 20


@pytest.mark.parametrize("impl", ["mine", "solution"])
def test_dwconvnet_layout_and_count(impl):
    from effdl.models.convnet import ConvNet

    net = DWConvNet(impl)
    layer_cls = dwconv.LAYERS[impl]
    depthwise_positions = [
        i for i, block in enumerate(net.model) if isinstance(block, nn.Sequential) and isinstance(block[0], layer_cls)
    ]
    assert depthwise_positions == [1, 3, 6, 8]  # layers 2, 4, 7, 9
    # Each swapped 3x3 conv C->C loses 9*C*C and gains 9*C + C*C parameters.
    saved = sum(9 * c * c - (9 * c + c * c) for c in (32, 64, 128, 256))
    assert count_parameters(net) == count_parameters(ConvNet()) - saved == 520_778
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_dwconvnet_impls_agree_on_same_weights():
    torch.manual_seed(0)
    mine, solution = DWConvNet("mine").eval(), DWConvNet("solution").eval()
    solution.load_state_dict({k: v for k, v in mine.state_dict().items() if k in solution.state_dict()}, strict=False)
    for i in (1, 3, 6, 8):
        copy_to_solution(mine.model[i][0], solution.model[i][0])
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(mine(x), solution(x), rtol=1e-4, atol=1e-5)


def test_dw_conv_block_order():
    block = dw_conv_block(4, 6, kernel_size=2, impl="solution")
    assert [type(m) for m in block] == [DepthwiseSeparableConvolutionSolution, nn.BatchNorm2d, nn.ReLU]
    assert block[1].num_features == 6 and block(torch.randn(2, 4, 5, 5)).min() >= 0


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="unknown depthwise separable impl 'groups'"):
        DWConvNet("groups")
    with pytest.raises(ValueError, match="W_H must be a positive int"):
        DepthwiseSeparableConvolution(2, 2, 0)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\)"):
        DepthwiseSeparableConvolution(3, 2, 3)(torch.randn(1, 4, 5, 5))
    with pytest.raises(ValueError, match="reference 'solution' is not among impls"):
        dwconv_study.benchmark_training_steps("cpu", impls=("mine",))


def test_registry_builds_dwconvnet():
    from effdl.models import build_model

    assert isinstance(build_model("dwconvnet", impl="solution").model[1][0], DepthwiseSeparableConvolutionSolution)


def test_benchmark_rows():
    rows = dwconv_study.benchmark_training_steps("cpu", batch_size=2, steps=1, warmup=0, image_size=8)
    assert [r["impl"] for r in rows] == ["mine", "solution"]
    by_impl = {r["impl"]: r for r in rows}
    assert by_impl["solution"]["time_ratio"] == 1.0
    for r in rows:
        assert r["median_step_s"] > 0 and r["images_per_s"] == pytest.approx(2 / r["median_step_s"])
        assert 0 < r["median_forward_s"] + r["median_backward_s"] + r["median_optimizer_s"] <= r["median_step_s"] * 1.5
    # 4 depthwise layers with 32 + 64 + 128 + 256 separate kernels, instead of one tensor each.
    assert by_impl["mine"]["param_tensors"] - by_impl["solution"]["param_tensors"] == 480 - 4
    mine, solution = by_impl["mine"], by_impl["solution"]
    assert mine["time_ratio"] == pytest.approx(mine["median_step_s"] / solution["median_step_s"])


@pytest.fixture(scope="module")
def comparison_rows():
    return dwconv.parameter_comparison(10, 20, 5)


def test_parameter_comparison_rows(comparison_rows):
    rows = comparison_rows
    layer = [r for r in rows if r["comparison"].startswith("layer")]
    assert {r["impl"] for r in layer} == {"mine", "solution"}
    for r in layer:
        assert (r["standard_params"], r["separable_params"]) == (5000, 450)
        assert r["measured_ratio"] == pytest.approx(r["theoretical_ratio"])


def _report_inputs(rows: list[dict], mine_time: float):
    import pandas as pd

    params = pd.DataFrame(rows)
    bench = pd.DataFrame(
        [
            {
                "impl": impl,
                "batch_size": 8,
                "steps": 3,
                "median_step_s": t,
                "median_forward_s": t / 4,
                "median_backward_s": t / 2,
                "median_optimizer_s": t / 4,
                "param_tensors": n,
                "images_per_s": 8 / t,
                "time_ratio": t / 0.1,
                "device": "cpu",
            }
            for impl, t, n in (("mine", mine_time, 509), ("solution", 0.1, 33))
        ]
    )
    epochs = pd.DataFrame(
        {
            "run": "r",
            "epoch": [0, 1, 2, 3],
            "epoch_lr": [1e-3, 1e-3, 1e-4, 1e-4],
            "train_acc": [10.0, 40.0, 60.0, 70.0],
            "test_acc": [10.0, 35.0, 50.0, 55.0],
        }
    )
    summary = pd.DataFrame(
        [
            {
                "seed": 43,
                "epochs_planned": 3,
                "lr": 1e-3,
                "n_train": 500,
                "device": "cpu",
                "final_test_acc": 55.0,
                "best_test_acc": 55.0,
                "total_time_s": 12.0,
            }
        ]
    )
    return params, bench, summary, epochs


@pytest.mark.parametrize("mine_time,phrase", [(0.25, "2.50$\\times$ faster than"), (0.05, "2.00$\\times$ slower than")])
def test_part6_macros_follow_the_data(comparison_rows, mine_time, phrase):
    from effdl.report.part6 import lr_drop_epochs, part6_macros, speedup_phrase

    params, bench, summary, epochs = _report_inputs(comparison_rows, mine_time)
    assert lr_drop_epochs(epochs) == [1]  # epoch 2 trained at the lower rate: the drop follows epoch 1
    m = part6_macros(params, bench, summary, epochs, {"C_in": 10, "C_out": 20, "kernel_size": 5}, 8)
    assert speedup_phrase(float(bench.set_index("impl").loc["mine", "time_ratio"])) == phrase  # the step ratio
    assert "PsixSpeedupPhrase" not in m  # the answer quotes the whole-epoch ratio (PsixEpochSpeedupPhrase)
    assert (m["PsixStandardParams"], m["PsixSeparableParams"], m["PsixRatioCheck"]) == ("5{,}000", "450", "equals")
    assert m["PsixFinalTrainError"] == "30.00" and m["PsixScheduleText"].endswith("after epoch 1")
    solution_phases = (m["PsixSolutionComputeMs"], m["PsixSolutionOptimizerMs"], m["PsixMineParamTensors"])
    assert solution_phases == ("75.0", "25.0", "509")


def test_part6_macros_reject_disagreeing_counts(comparison_rows):
    from effdl.report.part6 import part6_macros

    params, bench, summary, epochs = _report_inputs(comparison_rows, 0.2)
    params.loc[params["impl"] == "mine", "separable_params"] += 1
    with pytest.raises(ValueError, match="disagree on parameter counts"):
        part6_macros(params, bench, summary, epochs, {"C_in": 10, "C_out": 20, "kernel_size": 5}, 8)


def test_parameter_comparison_defaults_are_the_notebook_example():
    layer = [r for r in dwconv.parameter_comparison() if r["comparison"].startswith("layer")]
    assert [(r["comparison"], r["standard_params"], r["separable_params"]) for r in layer] == [
        ("layer (10, 20, 5)", 10 * 20 * 5 * 5, 10 * 5 * 5 + 10 * 20)
    ] * 2


@pytest.mark.parametrize(
    "sizes, name, value",
    [
        ((0, 2, 3), "C_in", "0"),
        ((2, 2.5, 3), "C_out", "2.5"),
        ((2, 2, True), "W_H", "True"),
        ((2, 2, "3"), "W_H", "'3'"),
    ],
)
def test_sizes_must_be_positive_ints_named_in_the_message(sizes, name, value):
    with pytest.raises(ValueError, match=rf"^{name} must be a positive int, got {value}; pass e\.g\. {name}=3$"):
        DepthwiseSeparableConvolution(*sizes)


def test_convnet_vs_dwconvnet_rows_are_the_known_counts():
    rows = [r for r in dwconv.parameter_comparison() if not r["comparison"].startswith("layer")]
    assert [r["comparison"] for r in rows] == ["ConvNet vs DWConvNet"] * 2
    for r in rows:  # 1,212,778 (ConvNet, test_engine) and 520,778 (test_dwconvnet_layout_and_count)
        assert (r["standard_params"], r["separable_params"]) == (1_212_778, 520_778)
        assert r["measured_ratio"] == pytest.approx(1_212_778 / 520_778)


def test_the_default_implementation_is_mine():
    assert DWConvNet().impl == "mine"
    assert isinstance(dwconv.dw_conv_block(4, 4)[0], dwconv.LAYERS["mine"])
