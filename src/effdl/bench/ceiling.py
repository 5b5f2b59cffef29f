"""The physical context of the benchmark: achieved GFLOP/s of each pipeline against the machine's ceiling.

Each pipeline's achieved GFLOP/s (the ConvNet's counted MACs times img/s) is set against the rate of a large 3x3
convolution in the same precision, measured in the same process: the arithmetic ceiling the convolution library
reaches on this machine (AMX tiles, AVX-512 BF16, AVX2 FMA, a GPU's tensor cores). A convolution, not a matmul:
on AMD CPUs torch's fp32 matmul goes through MKL, which runs well below the oneDNN convolutions the ConvNet
uses (measured on a Zen 4: 146 vs 220 GFLOP/s).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import pandas as pd
import torch
from torch import nn

from effdl.measure import count_macs, synchronize
from effdl.models import build_model

TRAIN_FLOP_PER_MAC = 6  # forward 2 FLOP per MAC, backward ~2x forward (input and weight gradients)
EVAL_FLOP_PER_MAC = 2
PEAK_MIN_SECONDS = 0.25  # grow the probe's batch until one convolution takes this long (the steady rate)
PEAK_MAX_BATCH = 256  # 77 GFLOP per convolution: enough for any CPU; a GPU reaches its rate well below it
PEAK_CHANNELS, PEAK_SIZE = 256, 16  # 256 -> 256 channels, 3x3, on 16x16 maps: large enough for full tiles


def convnet_flop_per_image(phase: str) -> float:
    """FLOP of one 3x32x32 image through the seed's ConvNet: 6 x MACs to train, 2 x MACs to evaluate."""
    macs = count_macs(build_model("convnet"), (1, 3, 32, 32))
    return macs * (TRAIN_FLOP_PER_MAC if phase == "train" else EVAL_FLOP_PER_MAC)


def conv_peak(
    device: torch.device, precision: str, *, batch: int = 8, max_batch: int = PEAK_MAX_BATCH, repeats: int = 3
) -> tuple[int, float]:
    """(batch, GFLOP/s): the best of `repeats` forward 3x3 convolutions (PEAK_CHANNELS channels in and out, on
    PEAK_SIZE^2 maps) in `precision`, in NCHW and in channels_last, after a warm-up each; the batch doubles from
    `batch` until one convolution takes PEAK_MIN_SECONDS or reaches `max_batch`."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    generator = torch.Generator().manual_seed(0)
    c, size = PEAK_CHANNELS, PEAK_SIZE
    weight = torch.randn(c, c, 3, 3, generator=generator).to(device=device, dtype=dtype)
    while True:
        x = torch.randn(batch, c, size, size, generator=generator).to(device=device, dtype=dtype)
        times = []
        for layout in (torch.contiguous_format, torch.channels_last):
            xl, wl = x.contiguous(memory_format=layout), weight.contiguous(memory_format=layout)
            for index in range(repeats + 1):
                synchronize(device)
                tick = time.perf_counter()
                with torch.no_grad():
                    nn.functional.conv2d(xl, wl, padding=1)
                synchronize(device)
                if index:  # the first convolution warms up (allocations, kernel selection, thread pool)
                    times.append(time.perf_counter() - tick)
        if batch >= max_batch or statistics.median(times) >= PEAK_MIN_SECONDS:
            return batch, 2 * batch * size * size * c * c * 9 / min(times) / 1e9
        batch *= 2


def measure_peaks(device: torch.device, precisions, log: Callable[[str], None] = print) -> pd.DataFrame:
    """One row per precision: the convolution GFLOP/s that the pipelines' achieved GFLOP/s are compared with."""
    rows = []
    for precision in precisions:
        batch, rate = conv_peak(device, precision)
        probe = f"conv3x3 {PEAK_CHANNELS}->{PEAK_CHANNELS} ch, {PEAK_SIZE}x{PEAK_SIZE}, batch {batch}"
        rows.append({"precision": precision, "probe": probe, "gflop_per_s": rate})
        log(f"peak {precision}: {rate:.0f} GFLOP/s ({probe}, best of NCHW and channels_last)")
    return pd.DataFrame(rows)


def add_arithmetic_context(throughput: pd.DataFrame, peaks: pd.DataFrame) -> pd.DataFrame:
    """Throughput rows plus gflop_per_s (achieved, from counted MACs) and of_peak (its share of the same precision's
    convolution peak)."""
    out = throughput.copy()
    flop = {phase: convnet_flop_per_image(phase) for phase in out["phase"].unique()}
    peak = peaks.set_index("precision")["gflop_per_s"]
    out["gflop_per_s"] = out["img_per_s"] * out["phase"].map(flop) / 1e9
    out["of_peak"] = out["gflop_per_s"] / out["precision"].map(peak)
    return out


def _option_on(rows: pd.DataFrame, column: str) -> pd.Series:
    """Where a throughput column turns an option on: a true flag (`compile`, `fold_bn`, also read back from a CSV
    as text) or a named SGD step (`optimizer_impl`); False where the column is absent, as in older CSVs."""
    if column not in rows:
        return pd.Series(False, index=rows.index)
    text = rows[column].fillna("").astype(str).str.strip().str.lower()
    return ~text.isin(["", "false", "none", "nan"])


def headline(throughput: pd.DataFrame) -> pd.DataFrame:
    """The bench's headline: per phase and precision, the fastest classic and the fastest engine pipeline that the
    study's engine runs (BatchNorm folded and ReLU fused as the engine evaluates, where the table has such rows;
    evaluation without the training-only options) with `of_ceiling` (achieved GFLOP/s / the same precision's convolution
    ceiling) beside `x_classic` (the per-round median ratio to the fastest classic pipeline). Takes
    add_arithmetic_context's output."""
    rows = []
    for (phase, precision), group in throughput.groupby(["phase", "precision"], sort=False):
        fused = _option_on(group, "fuse_relu") if "fuse_relu" in group else True  # older CSVs: no fusion to compare
        controls = (group["pipeline"] == "engine") & ~(_option_on(group, "fold_bn") & fused)
        if (group["pipeline"] == "engine").sum() > controls.sum():  # '+nofold', '+nofuse': controls, not the engine
            group = group[~controls]
        if phase == "eval":  # evaluation is neither compiled nor has an SGD step: such a row repeats its twin's
            group = group[~_option_on(group, "compile") & ~_option_on(group, "optimizer_impl")]
        for kind in ("classic", "engine"):
            of_kind = group[group["pipeline"] == kind]
            if of_kind.empty:
                continue
            best = of_kind.loc[of_kind["img_per_s"].idxmax()]
            rows.append(
                {
                    "phase": phase,
                    "precision": precision,
                    "pipeline": kind,
                    "label": best["label"],
                    "img_per_s": best["img_per_s"],
                    "gflop_per_s": best["gflop_per_s"],
                    "ceiling_gflop_per_s": best["gflop_per_s"] / best["of_peak"],
                    "of_ceiling": best["of_peak"],
                    "x_classic": best["speedup_vs_classic"],
                }
            )
    return pd.DataFrame(rows)


def headline_text(table: pd.DataFrame) -> str:
    """The headline as the bench prints it last: one line per phase, precision and pipeline (with its share of
    the ConvNet's layer bound when the table has one, effdl.bench.layer_bound)."""

    def bound(row) -> str:
        share = getattr(row, "of_layer_bound", float("nan"))
        return "" if share != share else f"  {100 * share:3.0f} % of its layers' bound"

    return "\n".join(
        f"{row.phase:5s} {row.precision:4s} {row.label:50s} {row.img_per_s:8,.0f} img/s  "
        f"{100 * row.of_ceiling:3.0f} % of the {row.precision} ceiling ({row.ceiling_gflop_per_s:,.0f} GFLOP/s)  "
        f"{row.x_classic:.2f}x classic" + bound(row)
        for row in table.itertuples()
    )
