"""What the ConvNet's own layer shapes allow: its convolutions timed one at a time, each at its best layout.

The ceiling probe (effdl.bench.ceiling) is a 256-channel convolution that fills a CPU's widest units (AMX tiles
take 16 x 32 bf16 blocks); the ConvNet's layers, 3-256 channels on 32 x 32 down to 8 x 8 maps, do not all fill
them. This bound times each of the ConvNet's nine convolutions alone at the bench's batch, forward (to
evaluate) or forward and the backward kernels (to train: the first layer computes no input gradient), in
NCHW and channels_last, best of `repeats`; the batch over the sum of the nine best times is the most img/s
the network's convolutions allow, before BatchNorm, ReLU, the optimizer step and data preparation.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pandas as pd
import torch
from torch import nn

from effdl.measure import synchronize
from effdl.plan.layers import CONVNET_LAYERS

IMAGE_SIZE = 32  # CIFAR-10's 32 x 32; each stride-2 layer halves it


def layer_shapes(image_size: int = IMAGE_SIZE) -> list[tuple[int, int, int, int]]:
    """(in_channels, out_channels, stride, input size) of the ConvNet's nine 3x3 convolutions (padding 1)."""
    shapes, size = [], image_size
    for cin, cout, stride in CONVNET_LAYERS:
        shapes.append((cin, cout, stride, size))
        size = (size + 2 - 3) // stride + 1
    return shapes


def time_layer(
    cin: int,
    cout: int,
    stride: int,
    size: int,
    *,
    batch: int,
    phase: str,
    precision: str,
    device,
    repeats: int,
    input_grad: bool = True,
) -> float:
    """Best seconds of one convolution at this shape: forward ('eval') or forward + backward ('train'), over
    both memory layouts and `repeats` timed calls after a warm-up each."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(batch, cin, size, size, generator=generator).to(device=device, dtype=dtype)
    w0 = torch.randn(cout, cin, 3, 3, generator=generator).to(device=device, dtype=dtype)
    best = float("inf")
    for layout in (torch.contiguous_format, torch.channels_last):
        x, w = x0.contiguous(memory_format=layout), w0.contiguous(memory_format=layout)
        grad_out = torch.ones_like(nn.functional.conv2d(x, w, stride=stride, padding=1))
        for index in range(repeats + 1):
            synchronize(device)
            tick = time.perf_counter()
            out = nn.functional.conv2d(x, w, stride=stride, padding=1)
            if phase == "train":  # the library's backward kernels themselves, without autograd's bookkeeping
                torch.ops.aten.convolution_backward(
                    grad_out, x, w, None, [stride] * 2, [1, 1], [1, 1], False, [0, 0], 1, [input_grad, True, False]
                )
            synchronize(device)
            if index:  # the first call warms up (allocations, kernel selection)
                best = min(best, time.perf_counter() - tick)
            del out
    return best


def layer_bound(
    device,
    precisions,
    *,
    batch: int = 128,
    phases=("train", "eval"),
    repeats: int = 3,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """One row per precision and phase: the img/s the ConvNet's nine convolutions allow at `batch`
    (`bound_img_per_s`), the sum of their best times, and the slowest layer with its share of that sum."""
    rows, shapes = [], layer_shapes()
    for precision in precisions:
        for phase in phases:
            times = [
                time_layer(
                    cin,
                    cout,
                    stride,
                    size,
                    batch=batch,
                    phase=phase,
                    precision=precision,
                    device=device,
                    repeats=repeats,
                    input_grad=index > 0,
                )
                for index, (cin, cout, stride, size) in enumerate(shapes)
            ]
            total = sum(times)
            slowest = max(range(len(times)), key=times.__getitem__)
            cin, cout, _, size = shapes[slowest]
            rows.append(
                {
                    "precision": precision,
                    "phase": phase,
                    "batch": batch,
                    "conv_seconds": total,
                    "bound_img_per_s": batch / total,
                    "slowest_layer": f"{slowest + 1}: {cin}->{cout} ch at {size}x{size}",
                    "slowest_share": times[slowest] / total,
                }
            )
            log(
                f"layer bound {phase} {precision}: {batch / total:,.0f} img/s "
                f"(slowest layer {rows[-1]['slowest_layer']})"
            )
    return pd.DataFrame(rows)


def add_layer_bound(headline: pd.DataFrame, bound: pd.DataFrame) -> pd.DataFrame:
    """The headline plus `of_layer_bound`: each pipeline's img/s over the img/s its phase and precision's
    convolutions allow (NaN where the bound was not measured)."""
    out = headline.copy()
    rate = bound.set_index(["phase", "precision"])["bound_img_per_s"]
    keys = list(zip(out["phase"], out["precision"]))
    out["of_layer_bound"] = [row_rate / rate.get(key, float("nan")) for row_rate, key in zip(out["img_per_s"], keys)]
    return out
