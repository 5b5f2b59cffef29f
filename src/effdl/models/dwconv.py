"""Depthwise separable convolutions (Part 6): the layer without `groups`, its reference, DWConvNet, parameter counts.

`DepthwiseSeparableConvolution` keeps the notebook's parameter layout (a list of per-channel
kernels plus a 1x1 weight, read at forward time so tests can replace them) but computes the
depthwise step as a sum over the K*K kernel taps instead of a Python loop over channels.
`DepthwiseSeparableConvolutionSolution` is the notebook's `groups`-based reference.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from effdl.measure import count_parameters
from effdl.models.convnet import ConvNet, conv_block

IMPLS = ("mine", "solution")


def same_padding(kernel_size: int) -> tuple[int, int, int, int]:
    """F.pad amounts (left, right, top, bottom) for a stride-1 "same" output; even kernels pad more left/top."""
    # The notebook's convention (its test expects top-left padding for K=2); note that
    # torch's padding="same" puts the extra on the right/bottom instead.
    before = kernel_size // 2
    after = kernel_size - 1 - before
    return (before, after, before, after)


def _check_sizes(C_in: int, C_out: int, W_H: int) -> None:
    for name, value in (("C_in", C_in), ("C_out", C_out), ("W_H", W_H)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}; pass e.g. {name}=3")


class DepthwiseSeparableConvolution(nn.Module):
    """Depthwise (one W_H x W_H kernel per input channel) then pointwise (1x1) convolution, built without `groups`."""

    def __init__(self, C_in: int, C_out: int, W_H: int):
        super().__init__()
        _check_sizes(C_in, C_out, W_H)
        self.C_in, self.C_out, self.W_H = C_in, C_out, W_H
        # The notebook's layout: a plain list of C_in (W_H, W_H) Parameters, each also registered
        # as k_i so that .parameters(), .to() and state_dict() see it.
        self.kernel_weights = []
        for i in range(C_in):
            kernel = nn.Parameter(torch.empty(W_H, W_H))
            nn.init.kaiming_uniform_(kernel, a=math.sqrt(5))
            self.register_parameter(f"k_{i}", kernel)
            self.kernel_weights.append(kernel)
        self.one_d_conv_weight = nn.Parameter(torch.empty(C_out, C_in, 1, 1))
        nn.init.kaiming_uniform_(self.one_d_conv_weight, a=math.sqrt(5))

    def depthwise(self, x: torch.Tensor) -> torch.Tensor:
        """Per-channel W_H x W_H cross-correlation with "same" padding: (N, C_in, H, W) -> (N, C_in, H, W)."""
        # Read the list now (not at __init__): the notebook's test swaps in new Parameters.
        kernels = torch.stack(list(self.kernel_weights))  # (C_in, K, K)
        C, K = kernels.shape[0], kernels.shape[-1]
        if x.dim() != 4 or x.shape[1] != C:
            raise ValueError(f"expected input of shape (N, {C}, H, W), got {tuple(x.shape)}")
        H, W = x.shape[-2:]
        padded = F.pad(x, same_padding(K))  # (N, C, H+K-1, W+K-1)
        # out[n, c, h, w] = sum_{i,j} padded[n, c, h+i, w+j] * kernels[c, i, j]: one shifted,
        # per-channel-scaled copy per tap, so the loop runs K*K times whatever C is.
        out = None
        for i in range(K):
            for j in range(K):
                tap = padded[:, :, i : i + H, j : j + W] * kernels[:, i, j].view(1, C, 1, 1)
                out = tap if out is None else out + tap
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, C_out, H, W)."""
        return F.conv2d(self.depthwise(x), self.one_d_conv_weight)

    def extra_repr(self) -> str:
        return f"C_in={self.C_in}, C_out={self.C_out}, W_H={self.W_H}"


class DepthwiseSeparableConvolutionSolution(nn.Module):
    """The notebook's reference: explicit asymmetric pad, grouped W_H x W_H conv, then a 1x1 conv (no bias)."""

    def __init__(self, C_in: int, C_out: int, W_H: int):
        super().__init__()
        _check_sizes(C_in, C_out, W_H)
        self.W_H = W_H
        self.depthwise = nn.Conv2d(C_in, C_in, W_H, groups=C_in, bias=False)
        self.pointwise = nn.Conv2d(C_in, C_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, C_out, H, W)."""
        return self.pointwise(self.depthwise(F.pad(x, same_padding(self.W_H))))


LAYERS = {"mine": DepthwiseSeparableConvolution, "solution": DepthwiseSeparableConvolutionSolution}


def _layer_class(impl: str) -> type[nn.Module]:
    if impl not in LAYERS:
        raise ValueError(f"unknown depthwise separable impl {impl!r}; use one of {sorted(LAYERS)}")
    return LAYERS[impl]


def dw_conv_block(in_channels: int, out_channels: int, kernel_size: int = 3, impl: str = "mine") -> nn.Sequential:
    """Depthwise separable conv (stride 1, "same"), BatchNorm2d, ReLU: the depthwise analogue of `conv_block`."""
    return nn.Sequential(
        _layer_class(impl)(in_channels, out_channels, kernel_size),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class DWConvNet(nn.Module):
    """ConvNet with layers 2, 4, 7 and 9 depthwise separable (spec §6.2); impl = "mine" or "solution"."""

    def __init__(self, impl: str = "mine"):
        super().__init__()
        _layer_class(impl)  # fail before building anything
        self.impl = impl
        # Spatial size 32 -> 16 (layer 3) -> 8 (layer 6); channels end at 256.
        self.model = nn.Sequential(
            conv_block(3, 32),
            dw_conv_block(32, 32, impl=impl),
            conv_block(32, 64, stride=2),
            dw_conv_block(64, 64, impl=impl),
            conv_block(64, 64),
            conv_block(64, 128, stride=2),
            dw_conv_block(128, 128, impl=impl),
            conv_block(128, 256),
            dw_conv_block(256, 256, impl=impl),
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) images -> (B, 10) logits."""
        return self.classifier(torch.flatten(self.model(x), 1))


def param_reduction_factor(C_out: int, kernel_size: int) -> float:
    """Theoretical standard/depthwise-separable parameter ratio K²·C_out / (K² + C_out); independent of C_in."""
    K2 = kernel_size * kernel_size
    return K2 * C_out / (K2 + C_out)


def parameter_comparison(C_in: int = 10, C_out: int = 20, kernel_size: int = 5) -> list[dict]:
    """Rows comparing parameter counts: a standard conv vs both depthwise separable layers, and ConvNet vs DWConvNet."""
    standard = count_parameters(nn.Conv2d(C_in, C_out, kernel_size, bias=False))
    rows = []
    for impl in IMPLS:
        separable = count_parameters(_layer_class(impl)(C_in, C_out, kernel_size))
        rows.append(
            {
                "comparison": f"layer ({C_in}, {C_out}, {kernel_size})",
                "impl": impl,
                "standard_params": standard,
                "separable_params": separable,
                "measured_ratio": standard / separable,
                "theoretical_ratio": param_reduction_factor(C_out, kernel_size),
            }
        )
    convnet = count_parameters(ConvNet())
    for impl in IMPLS:
        dwnet = count_parameters(DWConvNet(impl))
        rows.append(
            {
                "comparison": "ConvNet vs DWConvNet",
                "impl": impl,
                "standard_params": convnet,
                "separable_params": dwnet,
                "measured_ratio": convnet / dwnet,
                "theoretical_ratio": math.nan,
            }
        )
    return rows
