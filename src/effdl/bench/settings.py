"""Benchmark settings: the pipelines compared (`Pipeline`), run sizes (`BenchSettings`), the machine's description."""

from __future__ import annotations

import dataclasses
import platform
import re
import subprocess
from dataclasses import dataclass

import torch

from effdl.data import channel_stats
from effdl.execution import resolve_precision
from effdl.optim import SGD_IMPLS

CIFAR10_EPOCH_IMAGES = {"train": 50_000, "eval": 10_000}  # for the projected per-epoch time


SEED_NUM_WORKERS = 2  # the seed's train and test DataLoaders use num_workers=2


CPU_FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


BENCH_PRECISIONS = ("fp32", "bf16")


# suffixes of an engine variant name: "bf16+cl+compile"; the evaluation controls: "nofold" evaluates the network as
# trained, without the engine's BatchNorm folding and ReLU fusion (effdl.fold), "nofuse" folds without fusing
EVALUATION_CONTROLS = ("nofold", "nofuse")
ENGINE_OPTIONS = ("cl", "compile", "foreach", "fused", *EVALUATION_CONTROLS)
# the SGD step's implementation per option (the engine's SGD_IMPLS; torch's own default on a CPU is the loop)
OPTIMIZER_IMPLS = {name: kwargs for name, kwargs in SGD_IMPLS.items() if name}


@dataclass(frozen=True)
class Pipeline:
    """One way of feeding the training step: the seed's `classic` DataLoader or the `engine`'s device tensors."""

    kind: str  # "classic" | "engine"
    precision: str = "fp32"
    channels_last: bool = False
    num_workers: int = 0
    compile: bool = False
    optimizer_impl: str = ""  # "" (torch's default), "foreach" or "fused": the SGD step's implementation
    fold_bn: bool = False  # evaluate with BatchNorm folded into the convolutions, as the engine does (effdl.fold)
    fuse_relu: bool = False  # ... and each convolution -> ReLU as one kernel, as the engine does (effdl.fold)

    @classmethod
    def engine(cls, variant: str) -> Pipeline:
        """Parse an engine variant name: a precision plus optional '+cl' (channels_last), '+compile', one of
        '+foreach' / '+fused' (the SGD step's implementation) and an evaluation control: '+nofold' (the network as
        trained, without the engine's BatchNorm folding and ReLU fusion) or '+nofuse' (folded, ReLU unfused)."""
        precision, *options = variant.split("+")
        impls = [o for o in options if o in OPTIMIZER_IMPLS]
        controls = [o for o in options if o in EVALUATION_CONTROLS]
        if (
            precision not in BENCH_PRECISIONS
            or not set(options) <= set(ENGINE_OPTIONS)
            or max(len(impls), len(controls)) > 1
        ):
            raise ValueError(
                f"unknown engine variant '{variant}'. Fix: write a precision {BENCH_PRECISIONS} "
                "optionally followed by '+cl', '+compile', at most one of '+foreach' / '+fused' and at most one of "
                "'+nofold' / '+nofuse', e.g. 'bf16+cl'"
            )
        return cls(
            "engine",
            precision,
            "cl" in options,
            compile="compile" in options,
            optimizer_impl="".join(impls),
            fold_bn="nofold" not in options,
            fuse_relu=not controls,
        )

    @property
    def evaluation_control(self) -> bool:
        """An engine variant that evaluates another network than the engine's (it trains as its twin: no row)."""
        return self.kind == "engine" and not (self.fold_bn and self.fuse_relu)

    @property
    def label(self) -> str:
        if self.kind == "classic":
            return f"classic PIL+DataLoader, {self.num_workers} workers, fp32"
        extras = (
            [self.precision]
            + (["channels_last"] if self.channels_last else [])
            + (["compile"] if self.compile else [])
            + ([f"{self.optimizer_impl} SGD"] if self.optimizer_impl else [])
            + ([] if self.fold_bn else ["BN unfolded, ReLU unfused (eval)"])
            + (["ReLU unfused (eval)"] if self.fold_bn and not self.fuse_relu else [])
        )
        return "engine " + " + ".join(extras)


@dataclass(frozen=True)
class BenchSettings:
    """Sizes of one benchmark run; `quick()` is the CI version (about a minute on a 2-core AVX2 CPU)."""

    batch_size: int = 128
    steps: int = 10
    warmup: int = 2
    repeats: int = 3
    eval_images: int = 1000
    # the engine's evaluation batch: 'auto' (the engine's default: batch and layout measured, effdl.autotune) or an
    # integer; the classic test loader keeps `batch_size` as the seed
    eval_batch_size: int | str = "auto"
    # see Pipeline.engine; the compiled variants give `engine.compile: auto` its measured gain (effdl.plan.work)
    # '+nofold' and '+nofuse' rows (evaluation only) show what the engine's BatchNorm folding and ReLU fusion gain
    engine: tuple[str, ...] = (
        "fp32",
        "fp32+cl",
        "fp32+cl+compile",
        "fp32+cl+nofold",
        "fp32+cl+nofuse",
        "bf16",
        "bf16+cl",
        "bf16+cl+compile",
        "bf16+cl+nofold",
        "bf16+cl+nofuse",
    )
    workers: tuple[int, ...] = (0, SEED_NUM_WORKERS)
    epoch_timing: bool = False
    # The accuracy check: a small batch so a few epochs on a few hundred images take enough SGD steps to
    # leave chance level (at batch 128, 3 epochs of 300 images stay at 10%: BatchNorm statistics lag).
    acc_seeds: tuple[int, ...] = (0, 1, 2)
    acc_epochs: int = 4
    acc_train_per_class: int = 30
    acc_test_per_class: int = 30
    acc_batch_size: int = 32
    acc_lr: float = 0.05
    # Normalisation; None = the training split's own per-channel statistics (`for_data`), like the seed's constants.
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self):
        for variant in self.engine:
            Pipeline.engine(variant)  # raises on an unknown name
        eval_batch = 1 if self.eval_batch_size == "auto" else self.eval_batch_size
        if min(self.batch_size, self.steps, self.repeats, self.eval_images, eval_batch, self.acc_batch_size) < 1:
            raise ValueError(
                "batch_size, steps, repeats, eval_images, eval_batch_size ('auto' or an integer) and acc_batch_size "
                "must be >= 1"
            )
        if self.warmup < 0 or self.acc_epochs < 0 or any(w < 0 for w in self.workers):
            raise ValueError("warmup, acc_epochs and workers must be >= 0")

    def for_data(self, data: dict) -> BenchSettings:
        """These settings with mean/std taken from the training images where they are not set."""
        if self.mean is not None and self.std is not None:
            return self
        mean, std = channel_stats(data["train"]["images"])
        return dataclasses.replace(self, mean=self.mean or mean, std=self.std or std)

    @classmethod
    def quick(cls, **overrides) -> BenchSettings:
        """The CI version: one timed step per pipeline at batch 16, a 10-image accuracy check (plumbing only).

        Sized for a 2-core AVX2 CPU, where one bf16 step costs ~10 fp32 steps (no oneDNN bf16 kernels),
        hence bf16 is timed in its faster channels_last variant only.
        """
        base = dict(
            batch_size=16,
            steps=1,
            warmup=1,
            repeats=1,
            eval_images=32,
            engine=("fp32", "fp32+cl", "bf16+cl"),
            acc_seeds=(0, 1),
            acc_epochs=1,
            acc_train_per_class=1,
            acc_test_per_class=1,
        )
        return cls(**{**base, **overrides})

    def pipelines(self) -> list[Pipeline]:
        """Every pipeline this run measures: classic per worker count, engine per precision and memory format."""
        classic = [Pipeline("classic", num_workers=w) for w in self.workers]
        return classic + [Pipeline.engine(variant) for variant in self.engine]


def machine_info(device: torch.device) -> dict:
    """What the numbers were measured on: CPU model and relevant flags, torch build, threads, GPU, auto precision."""
    model, flags = platform.processor() or "unknown", set()
    try:
        lscpu = subprocess.run(
            ["lscpu"], capture_output=True, text=True, timeout=10, env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"}
        ).stdout
        model = re.search(r"^Model name:\s*(.+)$", lscpu, re.M).group(1).strip()
        flags = set(re.search(r"^Flags:\s*(.+)$", lscpu, re.M).group(1).split())
    except (OSError, subprocess.SubprocessError, AttributeError):
        pass  # no lscpu (macOS, containers): keep what platform knows
    import torchvision

    return {
        "cpu_model": model,
        "cpu_flags": " ".join(f for f in CPU_FLAGS_OF_INTEREST if f in flags)
        or "none of " + "/".join(CPU_FLAGS_OF_INTEREST),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn_bf16": mkldnn_bf16_supported(),
        "torch_threads": torch.get_num_threads(),
        "logical_cpus": torch.multiprocessing.cpu_count(),
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "python_version": platform.python_version(),
        "device": str(device),
        "gpu_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "",
        "auto_precision": resolve_precision("auto", device),
    }


def mkldnn_bf16_supported() -> bool:
    """oneDNN's own bf16 check (true on any AVX-512 CPU, native bf16 or emulated); the machine table records it."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
