"""The network evaluated in place of a trained one: BatchNorm folded into the convolution before it, ReLU fused.

In evaluation a BatchNorm is a fixed per-channel affine map, so conv -> BN equals one convolution with scaled
weights and a bias (torch.fx's conv-bn fusion, `torch.fx.experimental.optimization.fuse`). The folded copy
computes the same function with one pass over the activations fewer: in two bench runs on a 2-core AMX Xeon the
ConvNet evaluated 5-9 % faster in fp32 and 20-29 % faster in bf16 (docs/measurements/xeon-amx). Only the rounding
differs: in bf16 the folded weights are rounded after scaling, where the unfolded network rounds the
convolution's output.

On a CPU each convolution -> ReLU of the folded copy then runs as one oneDNN convolution with ReLU as its
post-op (ConvReLU2d), the kernel torch.compile's inductor calls for the same pattern, without its compile time:
one more pass over the activations fewer, and exactly the same numbers, since ReLU commutes with rounding to
bf16 (tests/test_fold.py compares them bit for bit).
"""

from __future__ import annotations

import torch
from torch import fx, nn
from torch.nn.utils import parametrize

_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_ONEDNN_DTYPES = (torch.float32, torch.bfloat16)
_RELU_FUNCTIONS = (torch.relu, torch.relu_, nn.functional.relu)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An evaluation copy of `model` (left untouched) with each BatchNorm that directly follows an nn.Conv2d folded
    into it, in the model's memory format. Raises what torch.fx raises for a network it cannot trace."""
    from torch.fx.experimental.optimization import fuse

    weight = next(model.parameters())
    channels_last = weight.dim() == 4 and weight.is_contiguous(memory_format=torch.channels_last)
    was_training = model.training
    try:
        folded = fuse(model.eval())  # a deep copy: `model` keeps its modules
    finally:
        model.train(was_training)
    return folded.to(memory_format=torch.channels_last) if channels_last else folded


def _count_batchnorms(model: nn.Module) -> int:
    return sum(isinstance(m, _BATCHNORMS) for m in model.modules())


def _has_hooks_or_parametrizations(model: nn.Module) -> bool:
    """Hooks and parametrizations change what a module computes at call time; torch.fx folds the stored weights."""
    return any(m._forward_pre_hooks or m._forward_hooks or parametrize.is_parametrized(m) for m in model.modules())


class ConvReLU2d(nn.Module):
    """relu(conv(x)) of an evaluation network as one oneDNN convolution with a ReLU post-op, on a CPU without
    autograd; anywhere else (a GPU, gradients on, a dtype oneDNN lacks) the two operations as they were.

    Under autocast it casts as autocast casts a convolution (input, weight and bias to the autocast dtype), so
    the output's values, dtype and memory format are those of relu(conv(x))."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.conv
        dtype = self._onednn_dtype(x)
        if dtype is None:
            return torch.relu(conv(x))
        bias = None if conv.bias is None else conv.bias.to(dtype)
        return torch.ops.mkldnn._convolution_pointwise(
            x.to(dtype), conv.weight.to(dtype), bias, conv.padding, conv.stride, conv.dilation, conv.groups,
            "relu", [], "",
        )  # fmt: skip

    def _onednn_dtype(self, x: torch.Tensor) -> torch.dtype | None:
        """The dtype the fused kernel computes in, or None where the unfused operations must run."""
        weight = self.conv.weight
        if torch.is_grad_enabled() or x.device.type != "cpu" or not torch.backends.mkldnn.enabled:
            return None
        if torch.is_autocast_enabled("cpu"):  # autocast casts a convolution's float32 operands only
            dtype = torch.get_autocast_dtype("cpu")
            cast = {x.dtype, weight.dtype} <= {torch.float32, dtype}
            return dtype if cast and dtype in _ONEDNN_DTYPES else None
        return x.dtype if x.dtype == weight.dtype and x.dtype in _ONEDNN_DTYPES else None


def _is_relu_of(node: fx.Node, source: fx.Node, modules: dict[str, nn.Module]) -> bool:
    """`node` applies ReLU to `source` and to nothing else (a ReLU module, torch.relu, F.relu or Tensor.relu)."""
    if node.args != (source,) or any(key != "inplace" for key in node.kwargs):
        return False
    if node.op == "call_module":
        return type(modules[node.target]) is nn.ReLU
    if node.op == "call_function":
        return node.target in _RELU_FUNCTIONS
    return node.op == "call_method" and node.target in ("relu", "relu_")


def fuse_conv_relu(network: fx.GraphModule) -> fx.GraphModule:
    """`network` (changed in place) with each nn.Conv2d whose only user is a ReLU replaced by one ConvReLU2d call;
    unchanged where this torch has no oneDNN convolution with post-ops."""
    if not (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")):
        return network
    modules = dict(network.named_modules())
    for node in list(network.graph.nodes):
        conv = modules.get(node.target) if node.op == "call_module" else None
        if type(conv) is not nn.Conv2d or isinstance(conv.padding, str) or conv.padding_mode != "zeros":
            continue
        if len(node.users) != 1 or not _is_relu_of(relu := next(iter(node.users)), node, modules):
            continue
        network.set_submodule(node.target, ConvReLU2d(conv))
        relu.replace_all_uses_with(node)
        network.graph.erase_node(relu)
    network.graph.lint()
    network.recompile()
    return network


def evaluation_network(model: nn.Module) -> nn.Module:
    """The network to evaluate in place of `model`: its BatchNorm-folded copy (with each convolution -> ReLU fused,
    fuse_conv_relu) when folding applies, else `model`.

    Folding applies to a plain float network that torch.fx can trace, with at least one nn.Conv2d -> BatchNorm pair
    and no hooks or parametrizations; any other network is evaluated as it is. It does not apply to masked
    convolutions (effdl.compress.prune's SparseConv2d), whose weight is computed in forward.
    """
    batchnorms = _count_batchnorms(model)
    if batchnorms == 0 or _has_hooks_or_parametrizations(model):
        return model
    if not any(type(m) is nn.Conv2d for m in model.modules()):  # torch.fx fuses this exact type only
        return model
    try:
        folded = fold_batchnorm(model)
    except torch.fx.proxy.TraceError:  # control flow on tensor values: evaluated unfolded (the reference numbers)
        return model
    return fuse_conv_relu(folded) if _count_batchnorms(folded) < batchnorms else model
