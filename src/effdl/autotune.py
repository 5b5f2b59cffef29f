"""Measured speed-only choices: the evaluation batch size and memory layout per device, precision and model.

`engine.eval_batch_size: auto` evaluates in the batch size and layout (NCHW or channels_last) that a short
probe measured fastest here, instead of a fixed 1,000: on a 2-core AMX Xeon the engine's fp32 NCHW evaluation
at batch 1,000 ran the ConvNet at ~75 % of the speed of the classic loader's 128-image batches (760 vs 1,000
img/s: a big batch's activations leave the cache), and channels_last was faster than NCHW in both precisions.
The probe times every candidate on the data set's first images, takes the best of two interleaved passes
each, and caches the choice per (machine, torch, precision, model, image shape): in this process, and in a
JSON file when one is given (the workflow's jobs share one). On a machine loaded by other processes the probe
can still choose badly (measured: batch 64 where 1,000 was faster under a load average of 17). Neither choice
changes the arithmetic's precision; results agree to fp32 rounding (a different convolution kernel may sum in
another order), which tests/test_autotune.py checks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

# Candidate batch sizes and images per timed pass (fewer when the set is smaller); the probe costs about 2 x the
# number of candidates such passes. A GPU is fast enough to probe larger batches, which it needs to fill up.
EVAL_BATCH_CANDIDATES = {"cpu": (64, 128, 256, 512), "cuda": (128, 256, 512, 1024, 2048)}
PROBE_IMAGES = {"cpu": 512, "cuda": 2048}
TUNE_CACHE_ENV = "EFFDL_TUNE_CACHE"  # the JSON file the workflow's jobs share (workflow/rules/common.smk)
PROBE_MIN_IMAGES = 512  # a set this small runs as one batch in the training layout: a probe would cost more
# Process-wide cache of probed plans (one probe per model, precision and machine per process).
_PLANS: dict[str, EvalPlan] = {}


@dataclass(frozen=True)
class EvalPlan:
    """How to evaluate: `batch_size` images per forward pass, in channels_last or NCHW; `source` says why
    ('fixed': the config's integer, 'small': a set too small to probe, 'probe': measured now, 'cache': measured
    earlier), `rates` the probe's img/s per (batch, channels_last) candidate."""

    batch_size: int
    channels_last: bool
    source: str
    rates: tuple[tuple[int, bool, float], ...] = ()

    def describe(self) -> str:
        layout = "channels_last" if self.channels_last else "NCHW"
        how = {"fixed": "engine.eval_batch_size", "small": "one batch: small set"}.get(self.source, self.source)
        return f"evaluation batch {self.batch_size}, {layout} ({how})"


def fastest(rates: Mapping[tuple[int, bool], float]) -> tuple[int, bool]:
    """The (batch, channels_last) candidate with the highest img/s; ties go to the smaller batch, then NCHW."""
    if not rates:
        raise ValueError("no probe timings to choose from")
    return max(rates, key=lambda key: (rates[key], -key[0], not key[1]))


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def probe_key(model: nn.Module, image_shape: tuple[int, ...], precision: str, device: torch.device) -> str:
    """What a probed plan depends on: the machine (CPU model or GPU name, threads), torch, precision, the model's
    class, parameter shapes and weight layout, and the image shape."""
    if device.type == "cuda":
        machine = torch.cuda.get_device_name(device)
    else:
        machine = f"{_cpu_model()} x{torch.get_num_threads()} threads"
    shapes = [tuple(p.shape) for p in model.parameters()]
    # the weights' own layout (the training layout) matters too: a convolution follows either operand's
    weights_cl = any(p.dim() == 4 and not p.is_contiguous() for p in model.parameters())
    parts = [machine, device.type, torch.__version__, precision, type(model).__name__, shapes, weights_cl]
    return json.dumps([*parts, list(image_shape)], default=str)


def layouts_for(model: nn.Module, images: torch.Tensor) -> tuple[bool, ...]:
    """The memory layouts worth probing: channels_last only for image batches fed to convolutions."""
    has_conv = any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())
    return (False, True) if images.dim() == 4 and images.shape[1] > 1 and has_conv else (False,)


def measure_eval_rates(
    run_pass: Callable[[int, bool, int], object],
    candidates: tuple[tuple[int, bool], ...],
    images: int,
    device: torch.device,
    timer: Callable[[], float] = time.perf_counter,
) -> dict[tuple[int, bool], float]:
    """img/s per candidate of `run_pass(batch, channels_last, n)`, an evaluation pass over the first n images:
    one warm-up batch each, then two rounds over every candidate, each pass over `images` images, keeping each
    candidate's faster pass. Rounds interleave the candidates, so a burst of load from other processes hits
    one pass of each rather than both passes of one."""
    from effdl.measure import synchronize

    for batch, channels_last in candidates:
        run_pass(batch, channels_last, batch)
    best = dict.fromkeys(candidates, float("inf"))
    for _ in range(2):
        for candidate in candidates:
            synchronize(device)
            tick = timer()
            run_pass(*candidate, images)
            synchronize(device)
            best[candidate] = min(best[candidate], timer() - tick)
    return {candidate: images / max(seconds, 1e-9) for candidate, seconds in best.items()}


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, key: str, plan: EvalPlan) -> None:
    """Add one plan to the JSON cache (atomic replace; a concurrent job's entry may be lost, which only costs a
    probe)."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read_cache(path)
        data[key] = {"batch_size": plan.batch_size, "channels_last": plan.channels_last, "rates": plan.rates}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, default=list))
        os.replace(tmp, path)


def plan_evaluation(
    setting: int | str,
    model: nn.Module,
    images: torch.Tensor,
    *,
    precision: str,
    channels_last: bool,
    run_pass: Callable[[int, bool, int], object] | None = None,
    cache_path: str | Path | None = None,
    measure: Callable[..., dict] = measure_eval_rates,
) -> EvalPlan:
    """The evaluation batch and layout: an integer `setting` fixes the batch (in the training layout
    `channels_last`); 'auto' probes the candidates with `run_pass(batch, channels_last, n)`, an evaluation pass
    over the first n = PROBE_IMAGES of `images` (or reuses a cached probe), and takes the fastest."""
    if setting != "auto":
        if isinstance(setting, bool) or not isinstance(setting, int) or setting < 1:
            raise ValueError(f"eval_batch_size must be a positive integer or 'auto', got {setting!r}")
        return EvalPlan(setting, channels_last, "fixed")
    n = len(images)
    if n <= PROBE_MIN_IMAGES:
        return EvalPlan(max(n, 1), channels_last, "small")
    key = probe_key(model, tuple(images.shape[1:]), precision, images.device)
    if key in _PLANS:
        return dataclasses.replace(_PLANS[key], source="cache")
    cache_path = cache_path or os.environ.get(TUNE_CACHE_ENV)
    cached = _read_cache(Path(cache_path)).get(key) if cache_path else None
    if cached:
        plan = EvalPlan(
            int(cached["batch_size"]), bool(cached["channels_last"]), "cache", tuple(map(tuple, cached["rates"]))
        )
    elif run_pass is None:  # nothing to probe with: the training layout, in batches of a middle candidate
        return EvalPlan(min(n, 256), channels_last, "unprobed")
    else:
        kind = "cuda" if images.device.type == "cuda" else "cpu"
        probe_n = min(n, PROBE_IMAGES[kind])
        batches = sorted({min(b, probe_n) for b in EVAL_BATCH_CANDIDATES[kind]})
        candidates = tuple((b, cl) for cl in layouts_for(model, images) for b in batches)
        rates = measure(run_pass, candidates, probe_n, images.device)
        batch, layout = fastest(rates)
        plan = EvalPlan(batch, layout, "probe", tuple((b, cl, r) for (b, cl), r in rates.items()))
        if cache_path:
            _write_cache(Path(cache_path), key, plan)
    _PLANS[key] = plan
    return plan


def clear_plans() -> None:
    """Forget this process's probed plans (tests; a changed thread count is part of the key anyway)."""
    _PLANS.clear()
