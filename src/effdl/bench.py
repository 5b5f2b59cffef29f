"""Throughput benchmark: the seed's classic PIL + torchvision + DataLoader pipeline vs the engine, side by side.

Same model (the seed ConvNet), same batch size, same process, same training step; pipelines are
measured in interleaved rounds so that load from other processes hits all of them alike, and every
ratio is taken within one round. Also: evaluation throughput, per-epoch time (on CUDA, or with
--epoch-timing) and a short bf16-vs-fp32 accuracy check over seeds.

Run:  python -m effdl.bench [--quick] [--steps N] [--batch-size B] [--device auto|cpu|cuda] [--out results/bench]
Writes machine.csv, throughput.csv, accuracy.csv, accuracy_summary.csv (and epochs.csv) under --out.
"""

from __future__ import annotations

import argparse
import itertools
import math
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import torch
from torch import nn

from effdl.data import DataError, DeviceDataset, _subset_indices, iterate_batches, load_packed, read_imagefolder
from effdl.engine import TrainConfig, autocast, evaluate, resolve_device, resolve_precision, train
from effdl.io import write_csv
from effdl.models import build_model
from effdl.texgen import compare, spread

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)  # the seed's Normalize
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
CIFAR10_EPOCH_IMAGES = {"train": 50_000, "eval": 10_000}  # for the projected per-epoch time
SEED_NUM_WORKERS = 2  # the seed's train and test DataLoaders use num_workers=2
CPU_FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")
BENCH_PRECISIONS = ("fp32", "bf16")
ENGINE_OPTIONS = ("cl", "compile")  # suffixes of an engine variant name: "bf16+cl+compile"


@dataclass(frozen=True)
class Pipeline:
    """One way of feeding the training step: the seed's `classic` DataLoader or the `engine`'s device tensors."""

    kind: str  # "classic" | "engine"
    precision: str = "fp32"
    channels_last: bool = False
    num_workers: int = 0
    compile: bool = False

    @classmethod
    def engine(cls, variant: str) -> "Pipeline":
        """Parse an engine variant name: a precision plus optional '+cl' (channels_last) and '+compile'."""
        precision, *options = variant.split("+")
        if precision not in BENCH_PRECISIONS or not set(options) <= set(ENGINE_OPTIONS):
            raise ValueError(f"unknown engine variant '{variant}'. Fix: write a precision {BENCH_PRECISIONS} "
                             f"optionally followed by '+cl' and/or '+compile', e.g. 'bf16+cl'")
        return cls("engine", precision, "cl" in options, compile="compile" in options)

    @property
    def label(self) -> str:
        if self.kind == "classic":
            return f"classic PIL+DataLoader, {self.num_workers} workers, fp32"
        extras = [self.precision] + (["channels_last"] if self.channels_last else []) + (
            ["compile"] if self.compile else [])
        return "engine " + " + ".join(extras)


@dataclass(frozen=True)
class BenchSettings:
    """Sizes of one benchmark run; `quick()` is the CI version (about a minute on a 2-core AVX2 CPU)."""

    batch_size: int = 128
    steps: int = 10
    warmup: int = 2
    repeats: int = 3
    eval_images: int = 1000
    eval_batch_size: int = 1000  # the engine's default; the classic test loader keeps `batch_size` as the seed
    engine: tuple[str, ...] = ("fp32", "fp32+cl", "bf16", "bf16+cl")  # see Pipeline.engine
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
    mean: tuple[float, ...] = CIFAR10_MEAN
    std: tuple[float, ...] = CIFAR10_STD

    def __post_init__(self):
        for variant in self.engine:
            Pipeline.engine(variant)  # raises on an unknown name
        if min(self.batch_size, self.steps, self.repeats, self.eval_images, self.eval_batch_size,
               self.acc_batch_size) < 1:
            raise ValueError("batch_size, steps, repeats, eval_images, eval_batch_size and acc_batch_size must be >= 1")
        if self.warmup < 0 or self.acc_epochs < 0 or any(w < 0 for w in self.workers):
            raise ValueError("warmup, acc_epochs and workers must be >= 0")

    @classmethod
    def quick(cls, **overrides) -> "BenchSettings":
        """The CI version: one timed step per pipeline at batch 16, a 10-image accuracy check (plumbing only).

        Sized for a 2-core AVX2 CPU, where one bf16 step costs ~10 fp32 steps (no oneDNN bf16 kernels),
        hence bf16 is timed in its faster channels_last variant only.
        """
        base = dict(batch_size=16, steps=1, warmup=1, repeats=1, eval_images=32,
                    engine=("fp32", "fp32+cl", "bf16+cl"), acc_seeds=(0, 1), acc_epochs=1,
                    acc_train_per_class=1, acc_test_per_class=1)
        return cls(**{**base, **overrides})

    def pipelines(self) -> list[Pipeline]:
        """Every pipeline this run measures: classic per worker count, engine per precision and memory format."""
        classic = [Pipeline("classic", num_workers=w) for w in self.workers]
        return classic + [Pipeline.engine(variant) for variant in self.engine]


# ---------------------------------------------------------------------------------------------
# Machine and data


def machine_info(device: torch.device) -> dict:
    """What the numbers were measured on: CPU model and relevant flags, torch build, threads, GPU, auto precision."""
    model, flags = platform.processor() or "unknown", set()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10,
                               env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"}).stdout
        model = re.search(r"^Model name:\s*(.+)$", lscpu, re.M).group(1).strip()
        flags = set(re.search(r"^Flags:\s*(.+)$", lscpu, re.M).group(1).split())
    except (OSError, subprocess.SubprocessError, AttributeError):
        pass  # no lscpu (macOS, containers): keep what platform knows
    import torchvision

    return {
        "cpu_model": model,
        "cpu_flags": " ".join(f for f in CPU_FLAGS_OF_INTEREST if f in flags) or "none of " + "/".join(
            CPU_FLAGS_OF_INTEREST),
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
    """Whether oneDNN has bf16 kernels on this CPU (AVX-512 BF16 or AMX); without them bf16 convs are slow."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def take_per_class(split: dict, per_class: int, seed: int, split_name: str) -> dict:
    """A seeded per-class subset {'images', 'labels'} of one split of a packed data set."""
    keep = _subset_indices(split["labels"], {f"{split_name}_per_class": per_class, "seed": seed}, split_name)
    return {"images": split["images"][keep], "labels": split["labels"][keep]}


def load_bench_data(path: str | Path, train_per_class: int, test_per_class: int, seed: int = 0) -> dict:
    """Real images for the benchmark: a packed .pt (prepare_data's output) or an ImageFolder tree / .tar.gz."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"benchmark data {path} does not exist. Fix: pass --data pointing at "
                        "results/data/cifar10.pt or ../shared/data/cifar10-jpeg.tar.gz")
    if path.suffix == ".pt":
        packed = load_packed(path)
        return {**packed, "train": take_per_class(packed["train"], train_per_class, seed, "train"),
                "test": take_per_class(packed["test"], test_per_class, seed, "test")}
    return read_imagefolder(path, {"train_per_class": train_per_class, "test_per_class": test_per_class,
                                   "seed": seed})


# ---------------------------------------------------------------------------------------------
# The seed's classic pipeline


class PILImageDataset(torch.utils.data.Dataset):
    """Like torchvision.datasets.CIFAR10: an (N, H, W, C) uint8 array turned into a PIL image per item."""

    def __init__(self, images_u8: torch.Tensor, labels: torch.Tensor, transform: Callable):
        self.data = images_u8.permute(0, 2, 3, 1).numpy()  # (N, H, W, C) as CIFAR10.data
        if self.data.shape[-1] == 1:
            self.data = self.data[..., 0]  # grayscale: PIL wants (H, W)
        self.targets = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.data[index])), self.targets[index]


def classic_transform(mean, std, augment: bool):
    """The seed's transforms: RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize (train)."""
    from torchvision import transforms

    steps = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()] if augment else []
    return transforms.Compose(steps + [transforms.ToTensor(), transforms.Normalize(mean, std)])


def classic_loader(split: dict, batch_size: int, *, mean, std, augment: bool, shuffle: bool, num_workers: int,
                   seed: int = 0) -> torch.utils.data.DataLoader:
    """A DataLoader over PIL images with the seed's transforms (CPU tensors; the step moves them)."""
    dataset = PILImageDataset(split["images"], split["labels"], classic_transform(mean, std, augment))
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                                       generator=torch.Generator().manual_seed(seed))


def forever(make_epoch: Callable[[], Iterator]) -> Iterator:
    """Chain epochs endlessly (a new shuffle per epoch), so any number of steps can be timed."""
    while True:
        yield from make_epoch()


# ---------------------------------------------------------------------------------------------
# Timing


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so wall-clock timing covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fresh_model(pipeline: Pipeline, device: torch.device, seed: int = 0) -> nn.Module:
    """The seed ConvNet, identically initialised for every pipeline, in the pipeline's memory format."""
    torch.manual_seed(seed)
    memory_format = torch.channels_last if pipeline.channels_last else torch.contiguous_format
    return build_model("convnet").to(device=device, memory_format=memory_format)


def train_batches(pipeline: Pipeline, train_split: dict, settings: BenchSettings, device: torch.device) -> Iterator:
    """Endless augmented, shuffled training batches (x, y) on `device` from the pipeline's data path."""
    if pipeline.kind == "classic":
        loader = classic_loader(train_split, settings.batch_size, mean=settings.mean, std=settings.std,
                                augment=True, shuffle=True, num_workers=pipeline.num_workers)
        return ((x.to(device, non_blocking=True), y.to(device, non_blocking=True)) for x, y in forever(
            lambda: iter(loader)))
    dataset = DeviceDataset(train_split["images"], train_split["labels"], device)
    generator = torch.Generator().manual_seed(0)
    return forever(lambda: iterate_batches(dataset, settings.batch_size, mean=settings.mean, std=settings.std,
                                           augment=True, shuffle=True, generator=generator,
                                           channels_last=pipeline.channels_last))


def time_training(pipeline: Pipeline, train_split: dict, settings: BenchSettings, device: torch.device) -> dict:
    """Images per second of `settings.steps` training steps (data + forward + backward + SGD) after warm-up."""
    model = fresh_model(pipeline, device)
    step_model = torch.compile(model) if pipeline.compile else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)  # the seed's
    batches = train_batches(pipeline, train_split, settings, device)  # workers start on the first (warm-up) batch
    losses = torch.zeros((), device=device)

    def step(x, y):
        nonlocal losses
        with autocast(pipeline.precision, device):
            out = step_model(x)
        loss = nn.functional.cross_entropy(out.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses = losses + loss.detach()  # accumulate on the device, as the engine does

    model.train()
    for x, y in itertools.islice(batches, settings.warmup):
        step(x, y)
    synchronize(device)
    images, tick = 0, time.perf_counter()
    for x, y in itertools.islice(batches, settings.steps):
        step(x, y)
        images += len(y)
    synchronize(device)
    seconds = time.perf_counter() - tick
    batches.close()  # stops DataLoader workers
    if not math.isfinite(losses.item()):
        raise RuntimeError(f"{pipeline.label}: non-finite training loss while benchmarking")
    return {"images": images, "seconds": seconds}


def time_evaluation(pipeline: Pipeline, test_split: dict, settings: BenchSettings, device: torch.device) -> dict:
    """Images per second of one evaluation pass after a one-batch warm-up (classic worker start-up excluded)."""
    model = fresh_model(pipeline, device).eval()
    if pipeline.kind == "classic":
        loader = classic_loader(test_split, settings.batch_size, mean=settings.mean, std=settings.std,
                                augment=False, shuffle=False, num_workers=pipeline.num_workers)
        batches = iter(loader)
        correct = torch.zeros((), device=device, dtype=torch.long)
        with torch.no_grad():
            x, y = next(batches)
            model(x.to(device))
            synchronize(device)
            images, tick = 0, time.perf_counter()
            for x, y in batches:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                out = model(x)
                nn.functional.cross_entropy(out, y, reduction="sum")
                correct += (out.argmax(1) == y).sum()
                images += len(y)
            correct.item()
        seconds = time.perf_counter() - tick
        if images == 0:
            raise ValueError(f"eval_images ({len(loader.dataset)}) must exceed batch_size ({settings.batch_size}) "
                             "for the classic evaluation timing (the first batch is the warm-up)")
        return {"images": images, "seconds": seconds}
    dataset = DeviceDataset(test_split["images"], test_split["labels"], device)
    kwargs = dict(mean=settings.mean, std=settings.std, batch_size=settings.eval_batch_size,
                  precision=pipeline.precision, channels_last=pipeline.channels_last)
    warm = DeviceDataset(dataset.images[:settings.eval_batch_size], dataset.labels[:settings.eval_batch_size], device)
    evaluate(model, warm, **kwargs)
    synchronize(device)
    tick = time.perf_counter()
    evaluate(model, dataset, **kwargs)  # ends in .item(): synchronised
    return {"images": len(dataset), "seconds": time.perf_counter() - tick}


def measure_throughput(data: dict, settings: BenchSettings, device: torch.device,
                       log: Callable[[str], None] = print) -> pd.DataFrame:
    """Train and eval img/s of every pipeline, in `settings.repeats` interleaved rounds; one row per pipeline and phase.

    speedup_vs_classic divides by the fastest classic pipeline of the same round, speedup_vs_seed_loader by
    the classic pipeline with the seed's 2 workers (falls back to the first classic one); both are medians
    over rounds.
    """
    pipelines = settings.pipelines()
    eval_split = take_eval_images(data["test"], settings.eval_images)
    raw = []
    for round_index in range(settings.repeats):
        for pipeline in pipelines:
            for phase, timer, split in (("train", time_training, data["train"]),
                                        ("eval", time_evaluation, eval_split)):
                timing = timer(pipeline, split, settings, device)
                raw.append({"round": round_index, "phase": phase, "pipeline": pipeline, **timing,
                            "img_per_s": timing["images"] / timing["seconds"]})
                log(f"round {round_index + 1}/{settings.repeats} {phase:5s} {pipeline.label:45s} "
                    f"{raw[-1]['img_per_s']:9.1f} img/s")
    return summarise_throughput(pd.DataFrame(raw), settings)


def take_eval_images(test_split: dict, n: int) -> dict:
    """The first `n` test images (for timing only, so class balance does not matter)."""
    return {"images": test_split["images"][:n], "labels": test_split["labels"][:n]}


def summarise_throughput(raw: pd.DataFrame, settings: BenchSettings) -> pd.DataFrame:
    """Median img/s per (phase, pipeline) and the per-round speed-up ratios against the classic pipelines."""
    rows = []
    for phase, of_phase in raw.groupby("phase", sort=False):
        classic = of_phase[[p.kind == "classic" for p in of_phase["pipeline"]]]
        best_classic = classic.groupby("round")["img_per_s"].max()
        seed_like = classic[[p.num_workers == SEED_NUM_WORKERS for p in classic["pipeline"]]]
        seed_like = (seed_like if len(seed_like) else classic).groupby("round")["img_per_s"].first()
        for pipeline, runs in of_phase.groupby("pipeline", sort=False):
            rates = runs.set_index("round")["img_per_s"]
            median_rate = statistics.median(rates)
            rows.append({
                "phase": phase, "pipeline": pipeline.kind, "label": pipeline.label,
                "precision": pipeline.precision, "channels_last": pipeline.channels_last,
                "num_workers": pipeline.num_workers, "compile": pipeline.compile,
                "batch_size": settings.batch_size if phase == "train" or pipeline.kind == "classic"
                else settings.eval_batch_size,
                "images_per_round": int(runs["images"].iloc[0]), "rounds": len(runs),
                "img_per_s": median_rate, "img_per_s_min": rates.min(), "img_per_s_max": rates.max(),
                "speedup_vs_classic": _median_ratio(rates, best_classic),
                "speedup_vs_seed_loader": _median_ratio(rates, seed_like),
                "cifar10_epoch_s_projected": CIFAR10_EPOCH_IMAGES[phase] / median_rate,
            })
    return pd.DataFrame(rows)


def _median_ratio(rates: pd.Series, baseline: pd.Series) -> float:
    """Median over rounds of rate / baseline rate of the same round (NaN without a classic baseline)."""
    ratios = [rates[r] / baseline[r] for r in rates.index if r in baseline.index]
    return statistics.median(ratios) if ratios else float("nan")


# ---------------------------------------------------------------------------------------------
# Per-epoch time and the bf16 accuracy check


def measure_epoch_times(data: dict, settings: BenchSettings, device: torch.device, epochs: int = 2,
                        log: Callable[[str], None] = print) -> pd.DataFrame:
    """Wall time of whole epochs (train pass + test pass) for the seed's loader and each engine pipeline.

    The last of `epochs` epochs is reported, so start-up (cuDNN autotune, compile) is excluded.
    """
    mean, std, rows = list(settings.mean), list(settings.std), []
    for pipeline in settings.pipelines():
        if pipeline.kind == "classic" and pipeline.num_workers != SEED_NUM_WORKERS:
            continue
        model = fresh_model(pipeline, device)
        if pipeline.kind == "engine":
            cfg = TrainConfig(epochs=epochs, lr=settings.acc_lr, batch_size=settings.batch_size,
                              eval_batch_size=settings.eval_batch_size, precision=pipeline.precision,
                              channels_last=pipeline.channels_last, compile=pipeline.compile)
            result = train(model, DeviceDataset(data["train"]["images"], data["train"]["labels"], device),
                           DeviceDataset(data["test"]["images"], data["test"]["labels"], device), cfg, device,
                           mean=mean, std=std, log=lambda _: None)
            epoch_s = result.epochs[-1]["epoch_time_s"]
        else:
            epoch_s = _classic_epoch_seconds(model, data, settings, device, epochs)
        rows.append({"pipeline": pipeline.kind, "label": pipeline.label, "precision": pipeline.precision,
                     "channels_last": pipeline.channels_last, "num_workers": pipeline.num_workers,
                     "compile": pipeline.compile, "n_train": len(data["train"]["labels"]),
                     "n_test": len(data["test"]["labels"]), "batch_size": settings.batch_size,
                     "epoch_s": epoch_s})
        log(f"epoch time {pipeline.label:45s} {epoch_s:8.2f} s")
    frame = pd.DataFrame(rows)
    seed_s = frame.loc[frame["pipeline"] == "classic", "epoch_s"]
    frame["speedup_vs_seed_loader"] = seed_s.iloc[0] / frame["epoch_s"] if len(seed_s) else float("nan")
    return frame


def _classic_epoch_seconds(model: nn.Module, data: dict, settings: BenchSettings, device: torch.device,
                           epochs: int) -> float:
    """The seed's epoch: a training pass then a test pass through fresh DataLoader iterators (workers included)."""
    kw = dict(mean=settings.mean, std=settings.std, num_workers=SEED_NUM_WORKERS)
    train_loader = classic_loader(data["train"], settings.batch_size, augment=True, shuffle=True, **kw)
    test_loader = classic_loader(data["test"], settings.batch_size, augment=False, shuffle=False, **kw)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.acc_lr, momentum=0.9, weight_decay=5e-4)
    seconds = 0.0
    for _ in range(epochs):
        synchronize(device)
        tick = time.perf_counter()
        model.train()
        for x, y in train_loader:
            loss = nn.functional.cross_entropy(model(x.to(device)), y.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            for x, y in test_loader:
                model(x.to(device)).argmax(1).eq(y.to(device)).sum()
        synchronize(device)
        seconds = time.perf_counter() - tick
    return seconds


def accuracy_check(data: dict, settings: BenchSettings, device: torch.device,
                   log: Callable[[str], None] = print) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train the ConvNet with the engine in fp32 and in bf16 for each seed; per-run rows and a summary.

    Both precisions use channels_last (bf16's faster layout on CPUs without bf16 kernels; same arithmetic).

    The summary's `bf16_vs_fp32` is effdl.texgen.compare(bf16 accs, fp32 accs): 'within noise' when the
    means differ by no more than the larger seed-to-seed standard deviation.
    """
    train_split = take_per_class(data["train"], settings.acc_train_per_class, 1, "train")
    test_split = take_per_class(data["test"], settings.acc_test_per_class, 1, "test")
    train_set = DeviceDataset(train_split["images"], train_split["labels"], device)
    test_set = DeviceDataset(test_split["images"], test_split["labels"], device)
    rows = []
    for precision, seed in itertools.product(BENCH_PRECISIONS, settings.acc_seeds):
        cfg = TrainConfig(epochs=settings.acc_epochs, lr=settings.acc_lr, seed=seed, scheduler="cosine_annealing",
                          batch_size=settings.acc_batch_size, eval_batch_size=settings.eval_batch_size,
                          precision=precision, channels_last=True)
        torch.manual_seed(seed)
        model = build_model("convnet")
        result = train(model, train_set, test_set, cfg, device, mean=list(settings.mean), std=list(settings.std),
                       log=lambda _: None)
        last = result.epochs[-1]
        rows.append({"precision": precision, "seed": seed, "epochs": settings.acc_epochs, "lr": settings.acc_lr,
                     "batch_size": settings.acc_batch_size,
                     "n_train": len(train_set), "n_test": len(test_set), "test_acc": last["test_acc"],
                     "train_loss": last["train_loss"], "diverged": result.diverged, "time_s": result.total_time_s})
        log(f"accuracy check {precision} seed {seed}: test acc {last['test_acc']:.2f}% ({result.total_time_s:.1f} s)")
    runs = pd.DataFrame(rows)
    accs = {p: runs.loc[runs["precision"] == p, "test_acc"].tolist() for p in BENCH_PRECISIONS}
    summary = pd.DataFrame([{"precision": p, "seeds": len(a), "test_acc_mean": float(np.mean(a)),
                             "test_acc_std": spread(a), "bf16_minus_fp32": float(np.mean(accs["bf16"]) - np.mean(
                                 accs["fp32"])), "bf16_vs_fp32": compare(accs["bf16"], accs["fp32"])}
                            for p, a in accs.items()])
    return runs, summary


# ---------------------------------------------------------------------------------------------
# Whole benchmark and CLI


def run_benchmark(data: dict, settings: BenchSettings, device: torch.device | str, out_dir: str | Path,
                  log: Callable[[str], None] = print) -> dict[str, pd.DataFrame]:
    """Measure everything and write machine.csv, throughput.csv, accuracy.csv, accuracy_summary.csv (+ epochs.csv)."""
    device = torch.device(device)
    out_dir = Path(out_dir)
    machine = machine_info(device)
    log("machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()))
    tick = time.perf_counter()
    tables = {"machine": pd.DataFrame([machine]), "throughput": measure_throughput(data, settings, device, log)}
    tables["throughput"].insert(0, "device", machine["device"])
    if settings.epoch_timing:
        tables["epochs"] = measure_epoch_times(data, settings, device, log=log)
    if settings.acc_epochs > 0:
        tables["accuracy"], tables["accuracy_summary"] = accuracy_check(data, settings, device, log)
    tables["machine"]["benchmark_s"] = time.perf_counter() - tick
    for name, frame in tables.items():
        write_csv(frame, out_dir / f"{name}.csv")
    return tables


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m effdl.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI version (about a minute on a 2-core CPU)")
    parser.add_argument("--steps", type=int, help="timed training steps per pipeline and round")
    parser.add_argument("--warmup", type=int, help="untimed steps before timing")
    parser.add_argument("--repeats", type=int, help="interleaved rounds (ratios are medians over rounds)")
    parser.add_argument("--batch-size", type=int, help="training batch size, the same for every pipeline")
    parser.add_argument("--eval-images", type=int, help="test images per evaluation pass")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--out", default="results/bench", help="output folder for the CSVs")
    parser.add_argument("--data", help="packed .pt or ImageFolder dir/.tar.gz (default: results/data/cifar10.pt "
                                       "when it holds enough images, else ../shared/data/cifar10-jpeg.tar.gz)")
    parser.add_argument("--train-per-class", type=int, help="training images per class for throughput/epochs")
    parser.add_argument("--test-per-class", type=int, help="test images per class")
    parser.add_argument("--engine", nargs="+", metavar="VARIANT",
                        help="engine variants to time: fp32|bf16 with optional +cl (channels_last) and +compile, "
                             "e.g. fp32 fp32+cl bf16 bf16+cl bf16+cl+compile")
    parser.add_argument("--workers", nargs="+", type=int, help="DataLoader num_workers values for the classic pipeline")
    parser.add_argument("--epoch-timing", action="store_true", help="time whole epochs (always on for CUDA)")
    parser.add_argument("--acc-epochs", type=int, help="epochs of the bf16-vs-fp32 accuracy check (0 skips it)")
    parser.add_argument("--acc-seeds", type=int, nargs="+", help="seeds of the accuracy check")
    parser.add_argument("--acc-train-per-class", type=int, help="training images per class of the accuracy check")
    parser.add_argument("--acc-test-per-class", type=int, help="test images per class of the accuracy check")
    parser.add_argument("--acc-batch-size", type=int, help="batch size of the accuracy check")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    return parser.parse_args(argv)


def settings_from_args(args: argparse.Namespace, device: torch.device) -> BenchSettings:
    """BenchSettings from the CLI: --quick or the defaults, then every option given explicitly."""
    given = {"steps": args.steps, "warmup": args.warmup, "repeats": args.repeats, "batch_size": args.batch_size,
             "eval_images": args.eval_images,
             "acc_epochs": args.acc_epochs, "acc_train_per_class": args.acc_train_per_class,
             "acc_test_per_class": args.acc_test_per_class, "acc_batch_size": args.acc_batch_size,
             "engine": tuple(args.engine) if args.engine else None,
             "workers": tuple(args.workers) if args.workers else None,
             "acc_seeds": tuple(args.acc_seeds) if args.acc_seeds else None}
    given = {k: v for k, v in given.items() if v is not None}
    given.update(epoch_timing=args.epoch_timing or device.type == "cuda")
    return BenchSettings.quick(**given) if args.quick else BenchSettings(**given)


def default_data_path(train_per_class: int, test_per_class: int) -> Path:
    """results/data/cifar10.pt when it holds enough images per class in both splits, else the offline archive."""
    packed_path = Path("results/data/cifar10.pt")
    if packed_path.is_file():
        packed = load_packed(packed_path)
        have = [int(torch.bincount(packed[split]["labels"]).min()) for split in ("train", "test")]
        if have[0] >= train_per_class and have[1] >= test_per_class:
            return packed_path
    return Path("../shared/data/cifar10-jpeg.tar.gz")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark from the command line and print the tables."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    settings = settings_from_args(args, device)
    # Enough training images for warm-up + timed steps in one epoch, and for the accuracy subset.
    steps_images = settings.batch_size * (settings.warmup + settings.steps)
    train_pc = args.train_per_class or max(-(-steps_images // 10), settings.acc_train_per_class)
    test_pc = args.test_per_class or max(-(-settings.eval_images // 10), settings.acc_test_per_class)
    data_path = Path(args.data) if args.data else default_data_path(train_pc, test_pc)
    tick = time.perf_counter()
    data = load_bench_data(data_path, train_pc, test_pc)
    print(f"data: {len(data['train']['labels'])} train / {len(data['test']['labels'])} test images from "
          f"{data_path} ({time.perf_counter() - tick:.1f} s to read)", flush=True)
    tables = run_benchmark(data, settings, device, args.out, log=lambda m: print(m, flush=True))
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        for name in ("machine", "throughput", "epochs", "accuracy", "accuracy_summary"):
            if name in tables:
                frame = tables[name].T if name == "machine" else tables[name]
                print(f"\n== {name} ==\n{frame.to_string()}")
    print(f"\nwrote {', '.join(sorted(tables))} CSVs to {args.out}/ in {time.perf_counter() - tick:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
