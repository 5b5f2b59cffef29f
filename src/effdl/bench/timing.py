"""Benchmark measurements: training and evaluation throughput per pipeline, epoch times, the bf16 accuracy check.

The physical context (achieved GFLOP/s against a convolution ceiling) is effdl.bench.ceiling's.
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from effdl.autotune import plan_evaluation
from effdl.bench.ceiling import add_arithmetic_context, headline, measure_peaks
from effdl.bench.classic import classic_epoch_seconds, classic_loader, take_per_class
from effdl.bench.layer_bound import add_layer_bound, layer_bound
from effdl.bench.settings import (
    BENCH_PRECISIONS,
    CIFAR10_EPOCH_IMAGES,
    OPTIMIZER_IMPLS,
    SEED_NUM_WORKERS,
    BenchSettings,
    Pipeline,
    machine_info,
)
from effdl.data import DeviceDataset, iterate_batches
from effdl.engine import TrainConfig, evaluate, train, training_step
from effdl.fold import evaluation_network, fold_batchnorm
from effdl.io import write_csv
from effdl.measure import synchronize
from effdl.models import build_model
from effdl.report.texgen import compare


def forever(make_epoch: Callable[[], Iterator]) -> Iterator:
    """Chain epochs endlessly (a new shuffle per epoch), so any number of steps can be timed."""
    while True:
        yield from make_epoch()


def fresh_model(pipeline: Pipeline, device: torch.device, seed: int = 0) -> nn.Module:
    """The seed ConvNet, identically initialised for every pipeline, in the pipeline's memory format."""
    torch.manual_seed(seed)
    memory_format = torch.channels_last if pipeline.channels_last else torch.contiguous_format
    return build_model("convnet").to(device=device, memory_format=memory_format)


def pipeline_loader(pipeline: Pipeline, split: dict, settings: BenchSettings, *, train: bool):
    """The seed's DataLoader over `split` with the pipeline's workers: augmented and shuffled when `train`."""
    return classic_loader(
        split,
        settings.batch_size,
        mean=settings.mean,
        std=settings.std,
        augment=train,
        shuffle=train,
        num_workers=pipeline.num_workers,
    )


def train_batches(pipeline: Pipeline, train_split: dict, settings: BenchSettings, device: torch.device) -> Iterator:
    """Endless augmented, shuffled training batches (x, y) on `device` from the pipeline's data path."""
    if pipeline.kind == "classic":
        loader = pipeline_loader(pipeline, train_split, settings, train=True)
        return (
            (x.to(device, non_blocking=True), y.to(device, non_blocking=True)) for x, y in forever(lambda: iter(loader))
        )
    dataset = DeviceDataset(train_split["images"], train_split["labels"], device)
    generator = torch.Generator().manual_seed(0)
    return forever(
        lambda: iterate_batches(
            dataset,
            settings.batch_size,
            mean=settings.mean,
            std=settings.std,
            augment=True,
            shuffle=True,
            generator=generator,
            channels_last=pipeline.channels_last,
        )
    )


def time_training(pipeline: Pipeline, train_split: dict, settings: BenchSettings, device: torch.device) -> dict:
    """Images per second of `settings.steps` training steps (data + forward + backward + SGD) after warm-up."""
    model = fresh_model(pipeline, device)
    step_model = torch.compile(model) if pipeline.compile else model
    impl = OPTIMIZER_IMPLS.get(pipeline.optimizer_impl, {})  # the same arithmetic (tests/test_bench.py checks)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4, **impl)  # the seed's
    batches = train_batches(pipeline, train_split, settings, device)  # workers start on the first (warm-up) batch
    losses = torch.zeros((), device=device)

    def step(x, y):
        nonlocal losses
        loss, _ = training_step(step_model, optimizer, x, y, pipeline.precision)  # the engine's own step
        losses = losses + loss  # accumulate on the device, as the engine does

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


def evaluated_network(pipeline: Pipeline) -> Callable[[nn.Module], nn.Module]:
    """What an engine variant evaluates in place of the trained model: the engine's evaluation network (BatchNorm
    folded, ReLU fused), the '+nofuse' control's folded copy, or the '+nofold' control's model as it is."""
    if pipeline.fold_bn and pipeline.fuse_relu:
        return evaluation_network
    return fold_batchnorm if pipeline.fold_bn else lambda model: model


def time_evaluation(pipeline: Pipeline, test_split: dict, settings: BenchSettings, device: torch.device) -> dict:
    """Images per second of one evaluation pass after a one-batch warm-up (classic worker start-up excluded)."""
    model = fresh_model(pipeline, device).eval()
    if pipeline.kind == "classic":
        loader = pipeline_loader(pipeline, test_split, settings, train=False)
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
            raise ValueError(
                f"eval_images ({len(loader.dataset)}) must exceed batch_size ({settings.batch_size}) "
                "for the classic evaluation timing (the first batch is the warm-up)"
            )
        return {"images": images, "seconds": seconds}
    dataset = DeviceDataset(test_split["images"], test_split["labels"], device)
    network = evaluated_network(pipeline)
    kwargs = dict(
        mean=settings.mean,
        std=settings.std,
        batch_size=settings.eval_batch_size,
        precision=pipeline.precision,
        channels_last=pipeline.channels_last,
    )
    evaluate(network(model), dataset, **kwargs)  # warm-up pass; with 'auto' it also probes (once per process)
    plan = plan_evaluation(  # the plan that pass used (cached)
        settings.eval_batch_size,
        network(model),
        dataset.images,
        precision=pipeline.precision,
        channels_last=pipeline.channels_last,
    )
    synchronize(device)
    tick = time.perf_counter()
    # the network is built inside the timed pass, as each epoch's test builds it (folding: about 12 ms)
    evaluate(network(model), dataset, **kwargs)  # ends in .item(): synchronised
    seconds = time.perf_counter() - tick
    return {"images": len(dataset), "seconds": seconds, "batch": plan.batch_size, "layout_cl": plan.channels_last}


def measure_throughput(
    data: dict, settings: BenchSettings, device: torch.device, log: Callable[[str], None] = print
) -> pd.DataFrame:
    """Train and eval img/s of every pipeline, in `settings.repeats` interleaved rounds; one row per pipeline and phase.

    speedup_vs_classic divides by the fastest classic pipeline of the same round, speedup_vs_seed_loader by
    the classic pipeline with the seed's 2 workers (falls back to the first classic one); both are medians
    over rounds.
    """
    settings = settings.for_data(data)
    pipelines = settings.pipelines()
    eval_split = take_eval_images(data["test"], settings.eval_images)
    raw = []
    for round_index in range(settings.repeats):
        for pipeline in pipelines:
            for phase, timer, split in (("train", time_training, data["train"]), ("eval", time_evaluation, eval_split)):
                if phase == "train" and pipeline.evaluation_control:
                    continue  # '+nofold' and '+nofuse' change evaluation only: their training would repeat the twin's
                timing = timer(pipeline, split, settings, device)
                raw.append(
                    {
                        "round": round_index,
                        "phase": phase,
                        "pipeline": pipeline,
                        **timing,
                        "img_per_s": timing["images"] / timing["seconds"],
                    }
                )
                log(
                    f"round {round_index + 1}/{settings.repeats} {phase:5s} {pipeline.label:45s} "
                    f"{raw[-1]['img_per_s']:9.1f} img/s"
                )
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
            rows.append(
                {
                    "phase": phase,
                    "pipeline": pipeline.kind,
                    "label": pipeline.label,
                    "precision": pipeline.precision,
                    "channels_last": pipeline.channels_last,
                    "num_workers": pipeline.num_workers,
                    "compile": pipeline.compile,
                    "optimizer_impl": pipeline.optimizer_impl,
                    "fold_bn": pipeline.fold_bn,
                    "fuse_relu": pipeline.fuse_relu,
                    "batch_size": _batch_used(runs, settings, phase, pipeline),
                    "channels_last_used": _layout_used(runs, pipeline),
                    "images_per_round": int(runs["images"].iloc[0]),
                    "rounds": len(runs),
                    "img_per_s": median_rate,
                    "img_per_s_min": rates.min(),
                    "img_per_s_max": rates.max(),
                    "speedup_vs_classic": _median_ratio(rates, best_classic),
                    "speedup_vs_seed_loader": _median_ratio(rates, seed_like),
                    "cifar10_epoch_s_projected": CIFAR10_EPOCH_IMAGES[phase] / median_rate,
                }
            )
    return pd.DataFrame(rows)


def _batch_used(runs: pd.DataFrame, settings: BenchSettings, phase: str, pipeline: Pipeline) -> int:
    """The batch of a row: the training batch, the classic test loader's, or the engine's evaluation plan's."""
    if phase == "eval" and pipeline.kind == "engine":
        if "batch" in runs and runs["batch"].notna().any():
            return int(runs["batch"].dropna().iloc[0])
        return settings.eval_batch_size
    return settings.batch_size


def _layout_used(runs: pd.DataFrame, pipeline: Pipeline) -> bool:
    """channels_last as run: the pipeline's, except the engine's evaluation, whose plan may choose another."""
    if "layout_cl" in runs and runs["layout_cl"].notna().any():
        return bool(runs["layout_cl"].dropna().iloc[0])
    return pipeline.channels_last


def _median_ratio(rates: pd.Series, baseline: pd.Series) -> float:
    """Median over rounds of rate / baseline rate of the same round (NaN without a classic baseline)."""
    ratios = [rates[r] / baseline[r] for r in rates.index if r in baseline.index]
    return statistics.median(ratios) if ratios else float("nan")


def measure_epoch_times(
    data: dict, settings: BenchSettings, device: torch.device, epochs: int = 2, log: Callable[[str], None] = print
) -> pd.DataFrame:
    """Wall time of whole epochs (train pass + test pass) for the seed's loader and each engine pipeline.

    The last of `epochs` epochs is reported, so start-up (cuDNN autotune, compile) is excluded.
    """
    settings = settings.for_data(data)
    mean, std, rows = list(settings.mean), list(settings.std), []
    for pipeline in settings.pipelines():
        if pipeline.kind == "classic" and pipeline.num_workers != SEED_NUM_WORKERS:
            continue
        model = fresh_model(pipeline, device)
        if pipeline.kind == "engine":
            cfg = TrainConfig(
                epochs=epochs,
                lr=settings.acc_lr,
                batch_size=settings.batch_size,
                eval_batch_size=settings.eval_batch_size,
                precision=pipeline.precision,
                channels_last=pipeline.channels_last,
                compile=pipeline.compile,
            )
            result = train(
                model,
                DeviceDataset(data["train"]["images"], data["train"]["labels"], device),
                DeviceDataset(data["test"]["images"], data["test"]["labels"], device),
                cfg,
                device,
                mean=mean,
                std=std,
                log=lambda _: None,
            )
            epoch_s = result.epochs[-1]["epoch_time_s"]
        else:
            epoch_s = classic_epoch_seconds(model, data, settings, device, epochs)
        rows.append(
            {
                "pipeline": pipeline.kind,
                "label": pipeline.label,
                "precision": pipeline.precision,
                "channels_last": pipeline.channels_last,
                "num_workers": pipeline.num_workers,
                "compile": pipeline.compile,
                "n_train": len(data["train"]["labels"]),
                "n_test": len(data["test"]["labels"]),
                "batch_size": settings.batch_size,
                "epoch_s": epoch_s,
            }
        )
        log(f"epoch time {pipeline.label:45s} {epoch_s:8.2f} s")
    frame = pd.DataFrame(rows)
    seed_s = frame.loc[frame["pipeline"] == "classic", "epoch_s"]
    frame["speedup_vs_seed_loader"] = seed_s.iloc[0] / frame["epoch_s"] if len(seed_s) else float("nan")
    return frame


def accuracy_check(
    data: dict, settings: BenchSettings, device: torch.device, log: Callable[[str], None] = print
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train the ConvNet with the engine in fp32 and in bf16 for each seed; per-run rows and a summary.

    Both precisions use channels_last (bf16's faster layout on CPUs without bf16 kernels; same arithmetic).

    The summary's `bf16_vs_fp32` is effdl.report.texgen.compare(bf16 accs, fp32 accs): a Welch t-test at 0.05,
    'within noise' when it finds no difference, 'untested' with one seed per precision.
    """
    settings = settings.for_data(data)
    train_split = take_per_class(data["train"], settings.acc_train_per_class, 1, "train")
    test_split = take_per_class(data["test"], settings.acc_test_per_class, 1, "test")
    train_set = DeviceDataset(train_split["images"], train_split["labels"], device)
    test_set = DeviceDataset(test_split["images"], test_split["labels"], device)
    rows = []
    for precision, seed in itertools.product(BENCH_PRECISIONS, settings.acc_seeds):
        cfg = TrainConfig(
            epochs=settings.acc_epochs,
            lr=settings.acc_lr,
            seed=seed,
            scheduler="cosine_annealing",
            batch_size=settings.acc_batch_size,
            eval_batch_size=settings.eval_batch_size,
            precision=precision,
            channels_last=True,
        )
        torch.manual_seed(seed)
        model = build_model("convnet")
        result = train(
            model,
            train_set,
            test_set,
            cfg,
            device,
            mean=list(settings.mean),
            std=list(settings.std),
            log=lambda _: None,
        )
        last = result.epochs[-1]
        rows.append(
            {
                "precision": precision,
                "seed": seed,
                "epochs": settings.acc_epochs,
                "lr": settings.acc_lr,
                "batch_size": settings.acc_batch_size,
                "n_train": len(train_set),
                "n_test": len(test_set),
                "test_acc": last["test_acc"],
                "train_loss": last["train_loss"],
                "diverged": result.diverged,
                "time_s": result.total_time_s,
            }
        )
        log(f"accuracy check {precision} seed {seed}: test acc {last['test_acc']:.2f}% ({result.total_time_s:.1f} s)")
    runs = pd.DataFrame(rows)
    accs = {p: runs.loc[runs["precision"] == p, "test_acc"].tolist() for p in BENCH_PRECISIONS}
    summary = pd.DataFrame(
        [
            {
                "precision": p,
                "seeds": len(a),
                "test_acc_mean": float(np.mean(a)),
                "test_acc_std": float(np.std(a, ddof=1)) if len(a) >= 2 else float("nan"),
                "bf16_minus_fp32": float(np.mean(accs["bf16"]) - np.mean(accs["fp32"])),
                "bf16_vs_fp32": compare(accs["bf16"], accs["fp32"]),
            }
            for p, a in accs.items()
        ]
    )
    return runs, summary


def run_benchmark(
    data: dict,
    settings: BenchSettings,
    device: torch.device | str,
    out_dir: str | Path,
    log: Callable[[str], None] = print,
) -> dict[str, pd.DataFrame]:
    """Measure everything; write machine, throughput, peak, layer_bound, headline, accuracy, accuracy_summary
    (+ epochs) CSVs."""
    settings = settings.for_data(data)
    device = torch.device(device)
    out_dir = Path(out_dir)
    machine = machine_info(device)
    log("machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()))
    tick = time.perf_counter()
    precisions = sorted({pipeline.precision for pipeline in settings.pipelines()})
    before = measure_peaks(device, precisions, log)
    tables = {"machine": pd.DataFrame([machine]), "throughput": measure_throughput(data, settings, device, log)}
    tables["throughput"].insert(0, "device", machine["device"])
    # The ceiling is the better of a probe before and one after the rounds: one alone can catch a slow moment
    # of a shared host (measured on a VM: 119 vs 212 GFLOP/s fp32 minutes apart).
    after = measure_peaks(device, precisions, log)
    tables["peak"] = pd.concat([before, after]).sort_values("gflop_per_s").groupby("precision").tail(1)
    tables["peak"] = tables["peak"].sort_values("precision").reset_index(drop=True)
    tables["throughput"] = add_arithmetic_context(tables["throughput"], tables["peak"])
    # the img/s the ConvNet's own convolutions allow (effdl.bench.layer_bound): the ceiling its layer shapes set
    tables["layer_bound"] = layer_bound(device, precisions, batch=settings.batch_size, log=log)
    tables["headline"] = add_layer_bound(headline(tables["throughput"]), tables["layer_bound"])
    if settings.epoch_timing:
        tables["epochs"] = measure_epoch_times(data, settings, device, log=log)
    if settings.acc_epochs > 0:
        tables["accuracy"], tables["accuracy_summary"] = accuracy_check(data, settings, device, log)
    tables["machine"]["benchmark_s"] = time.perf_counter() - tick
    for name, frame in tables.items():
        write_csv(frame, out_dir / f"{name}.csv")
    return tables
