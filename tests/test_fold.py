"""The evaluation network (effdl.fold): BatchNorm folded and ReLU fused compute the trained network's function,
only where they apply."""

from __future__ import annotations

import pytest
import torch
from test_engine import MEAN, STD, small_net  # noqa: E402
from torch import nn
from torch.nn.utils import parametrizations

from effdl.data import DeviceDataset
from effdl.engine import TrainConfig, evaluate, train
from effdl.fold import ConvReLU2d, evaluation_network, fold_batchnorm, fuse_conv_relu
from effdl.models import build_model

RESNET18 = dict(num_classes=10, init="random", download_weights=False)  # no download: weights play no part here


def trained_looking(model: nn.Module) -> nn.Module:
    """Give every BatchNorm running statistics and affine parameters far from their initial 0 / 1."""
    generator = torch.Generator().manual_seed(1)
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        bn.running_mean.copy_(torch.rand(bn.running_mean.shape, generator=generator) - 0.5)
        bn.running_var.copy_(torch.rand(bn.running_var.shape, generator=generator) * 1.5 + 0.5)
        bn.weight.data.copy_(torch.rand(bn.weight.shape, generator=generator) + 0.5)
        bn.bias.data.copy_(torch.rand(bn.bias.shape, generator=generator) - 0.5)
    return model


@pytest.mark.parametrize("name, kwargs", [("convnet", {}), ("dwconvnet", {"impl": "solution"})])
@pytest.mark.parametrize("channels_last", [False, True])
def test_the_folded_network_computes_the_unfolded_ones_function_in_its_layout(name, kwargs, channels_last):
    torch.manual_seed(0)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = trained_looking(build_model(name, **kwargs)).to(memory_format=memory_format).train()
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert next(folded.parameters()).is_contiguous(memory_format=memory_format)
    # the model itself is untouched: still in training mode, BatchNorms in place
    assert model.training and any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model.eval()(x), atol=1e-4, rtol=1e-4)


def test_resnet18_folds_every_batchnorm_after_a_convolution():
    torch.manual_seed(0)
    model = trained_looking(build_model("resnet18", **RESNET18)).eval()
    folded = evaluation_network(model)
    assert folded is not model and not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), atol=1e-4, rtol=1e-4)


class Hooked(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(self.conv(x)).mean((2, 3))


def with_forward_hook():
    model = Hooked()
    model.conv.register_forward_hook(lambda module, args, out: out * 2)
    return model


def with_parametrization():
    model = Hooked()
    parametrizations.weight_norm(model.conv)
    return model


@pytest.mark.parametrize(
    "make",
    [
        lambda: build_model("sparse_convnet", mode="structured"),  # masked convolutions: weight computed in forward
        lambda: build_model("mnist_mlp"),  # no BatchNorm
        with_forward_hook,
        with_parametrization,
        lambda: build_model("dwconvnet", impl="mine"),  # checks its input's shape in forward: torch.fx cannot trace
    ],
    ids=["masked-convolutions", "no-batchnorm", "forward-hook", "parametrization", "untraceable"],
)
def test_a_network_folding_does_not_apply_to_is_evaluated_as_it_is(make):
    torch.manual_seed(0)
    model = make()
    assert evaluation_network(model) is model


def test_evaluation_with_folding_gives_the_unfolded_numbers_and_training_is_unchanged(tiny_packed):
    """The engine tests each epoch on the folded copy: in fp32 loss and accuracy equal the unfolded network's, and
    the training (losses per iteration, final weights) does not depend on the setting at all. (bf16 runs on any
    CPU: emulated where it has no bf16 arithmetic, slowly but on 200 images in seconds.)"""
    train_set = DeviceDataset.from_packed(tiny_packed, "train", "cpu")
    test_set = DeviceDataset.from_packed(tiny_packed, "test", "cpu")

    def run(fold: bool, precision: str = "fp32"):
        torch.manual_seed(0)
        model = small_net()
        settings = dict(epochs=2, lr=0.05, batch_size=50, eval_batch_size=100, seed=7, precision=precision)
        cfg = TrainConfig(**settings, fold_batchnorm=fold)
        result = train(model, train_set, test_set, cfg, "cpu", mean=MEAN, std=STD, log=lambda _: None)
        return model, result

    folded_model, folded = run(True)
    plain_model, plain = run(False)
    assert [r["loss"] for r in folded.iterations] == [r["loss"] for r in plain.iterations]
    for a, b in zip(folded_model.state_dict().values(), plain_model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(folded.epochs, plain.epochs, strict=True):
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-5)
        assert a["test_acc"] == b["test_acc"]
    kwargs = dict(mean=MEAN, std=STD, batch_size=100)
    assert evaluate(plain_model, test_set, fold_batchnorm=True, **kwargs) == pytest.approx(
        evaluate(plain_model, test_set, **kwargs), rel=1e-5
    )
    # in bf16 only the rounding differs: the folded weights are rounded after scaling (loss within 1 %)
    for a, b in zip(run(True, "bf16")[1].epochs, run(False, "bf16")[1].epochs, strict=True):
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-2)


def fused_count(network: nn.Module) -> int:
    return sum(isinstance(m, ConvReLU2d) for m in network.modules())


@pytest.mark.parametrize(
    "name, kwargs, fused",
    [("convnet", {}, 9), ("dwconvnet", {"impl": "solution"}, 9), ("resnet18", RESNET18, 9)],
    ids=["convnet", "dwconvnet", "resnet18"],  # resnet18: the stem and each block's first conv (the second adds)
)
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_relu_fused_into_the_convolution_gives_the_folded_networks_numbers_bit_for_bit(
    name, kwargs, fused, channels_last, precision
):
    """ReLU commutes with rounding to the output dtype, so the fused kernel's output equals the folded network's
    exactly (values, dtype, layout), in fp32 and under bf16 autocast (emulated on CPUs without bf16: slow, small)."""
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this torch has no oneDNN: fuse_conv_relu leaves the network as it is")
    torch.manual_seed(0)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = trained_looking(build_model(name, **kwargs)).to(memory_format=memory_format).eval()
    network = evaluation_network(model)
    assert fused_count(network) == fused
    x = torch.randn(4, 3, 32, 32).contiguous(memory_format=memory_format)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        expected, got = fold_batchnorm(model)(x), network(x)
    assert got.dtype == expected.dtype
    assert torch.equal(got, expected)


class ConvThenRelus(nn.Module):
    """Convolutions followed by ReLU in each spelling torch.fx records, and two that must stay apart."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(4, 4, 3, padding=1) for _ in range(5))
        self.same = nn.Conv2d(4, 4, 3, padding="same")
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.relu(self.convs[0](x))  # module
        x = nn.functional.relu(self.convs[1](x))  # function
        x = self.convs[2](x).relu()  # method
        kept = self.convs[3](x)  # two users: its value is needed unrectified
        x = torch.relu(kept) + kept
        x = torch.relu(self.same(x))  # padding given as a string: left to nn.Conv2d
        return nn.functional.leaky_relu(self.convs[4](x))  # not a ReLU


def test_fuse_conv_relu_fuses_each_spelling_of_relu_and_leaves_other_patterns_alone():
    torch.manual_seed(0)
    model = ConvThenRelus().eval()
    network = fuse_conv_relu(torch.fx.symbolic_trace(model))
    fused = {name for name, m in network.named_modules() if isinstance(m, ConvReLU2d)}
    assert fused == {"convs.0", "convs.1", "convs.2"}
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        assert torch.equal(network(x), model(x))


@pytest.mark.filterwarnings("ignore:TF32 acceleration")  # torch.backends.mkldnn.flags() warns on CPU-only builds
def test_the_fused_convolution_falls_back_to_the_two_operations_where_its_kernel_does_not_apply():
    """With gradients on (the oneDNN kernel has no backward), with oneDNN switched off, and for a dtype it lacks,
    the module computes relu(conv(x)) with nn.Conv2d; without gradients it runs the kernel in autocast's dtype."""
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    fused = ConvReLU2d(conv)
    x = torch.randn(2, 3, 8, 8)
    out = fused(x)  # gradients on
    assert fused._onednn_dtype(x) is None
    assert out.grad_fn is not None and torch.equal(out, torch.relu(conv(x)))
    with torch.no_grad():
        assert fused._onednn_dtype(x) == torch.float32
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert fused._onednn_dtype(x) == torch.bfloat16
        with torch.backends.mkldnn.flags(enabled=False):
            assert fused._onednn_dtype(x) is None
            assert torch.equal(fused(x), torch.relu(conv(x)))
        double = ConvReLU2d(nn.Conv2d(3, 4, 3, padding=1).double())
        assert double._onednn_dtype(x.double()) is None and double(x.double()).dtype == torch.float64
