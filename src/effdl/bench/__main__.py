"""`effdl bench` (alias `python -m effdl.bench`): parse the command line, load data, run the benchmark, write CSVs."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from effdl.bench.ceiling import headline_text
from effdl.bench.classic import load_bench_data
from effdl.bench.settings import BenchSettings
from effdl.bench.timing import run_benchmark
from effdl.data import load_packed
from effdl.execution import resolve_device
from effdl.io import write_csv


def parse_args(argv: list[str] | None = None, prog: str = "effdl bench") -> argparse.Namespace:
    """The command line (effdl.cli.bench_parser, which `effdl bench --help` shows without importing torch)."""
    from effdl.cli import bench_parser

    return bench_parser(prog).parse_args(argv)


def parity_main(args: argparse.Namespace, device: torch.device) -> int:
    """--parity: both pipelines on the same subset, their accuracies, and the Welch test; parity*.csv under --out."""
    from effdl.bench.parity import ParitySettings, run_parity

    settings = ParitySettings(
        train_per_class=args.parity_train_per_class,
        test_per_class=args.parity_test_per_class,
        epochs=args.parity_epochs,
        lr=args.parity_lr,
        seeds=tuple(args.parity_seeds),
        batch_size=args.batch_size or 128,
        num_workers=args.parity_workers,
        precision=args.parity_precision,
    )
    test_pc = settings.test_per_class or 1000  # CIFAR-10's whole test split has 1,000 per class
    data_path = Path(args.data) if args.data else default_data_path(settings.train_per_class, test_pc)
    tick = time.perf_counter()
    data = load_bench_data(data_path, settings.train_per_class, settings.test_per_class)
    print(
        f"parity data: {len(data['train']['labels'])} train / {len(data['test']['labels'])} test images "
        f"from {data_path}",
        flush=True,
    )
    runs, summary = run_parity(data, settings, device, log=lambda m: print(m, flush=True))
    out = Path(args.out)
    write_csv(runs, out / "parity.csv")
    write_csv(summary, out / "parity_summary.csv")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(
            f"\n== parity ==\n{runs.to_string()}\n\n== parity_summary ==\n"
            f"{summary[['pipeline', 'seeds', 'acc_mean', 'acc_sd', 'time_s_mean', 'welch_p', 'verdict']]}"
        )
    print(f"\nwrote parity.csv and parity_summary.csv to {out}/ in {time.perf_counter() - tick:.0f} s")
    return 0


def settings_from_args(args: argparse.Namespace, device: torch.device) -> BenchSettings:
    """BenchSettings from the CLI: --quick or the defaults, then every option given explicitly."""
    given = {
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "batch_size": args.batch_size,
        "eval_images": args.eval_images,
        "eval_batch_size": args.eval_batch_size,
        "acc_epochs": args.acc_epochs,
        "acc_train_per_class": args.acc_train_per_class,
        "acc_test_per_class": args.acc_test_per_class,
        "acc_batch_size": args.acc_batch_size,
        "engine": tuple(args.engine) if args.engine else None,
        "workers": tuple(args.workers) if args.workers else None,
        "acc_seeds": tuple(args.acc_seeds) if args.acc_seeds else None,
    }
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


def main(argv: list[str] | None = None, prog: str = "effdl bench") -> int:
    """Run the benchmark from the command line and print the tables."""
    args = parse_args(argv, prog)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.parity:
        return parity_main(args, device)
    settings = settings_from_args(args, device)
    # Enough training images for warm-up + timed steps in one epoch, and for the accuracy subset.
    steps_images = settings.batch_size * (settings.warmup + settings.steps)
    train_pc = args.train_per_class or max(-(-steps_images // 10), settings.acc_train_per_class)
    test_pc = args.test_per_class or max(-(-settings.eval_images // 10), settings.acc_test_per_class)
    data_path = Path(args.data) if args.data else default_data_path(train_pc, test_pc)
    tick = time.perf_counter()
    data = load_bench_data(data_path, train_pc, test_pc)
    print(
        f"data: {len(data['train']['labels'])} train / {len(data['test']['labels'])} test images from "
        f"{data_path} ({time.perf_counter() - tick:.1f} s to read)",
        flush=True,
    )
    tables = run_benchmark(data, settings, device, args.out, log=lambda m: print(m, flush=True))
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        for name in (
            "machine",
            "throughput",
            "peak",
            "layer_bound",
            "epochs",
            "accuracy",
            "accuracy_summary",
            "headline",
        ):
            if name in tables:
                frame = tables[name].T if name == "machine" else tables[name]
                print(f"\n== {name} ==\n{frame.to_string()}")
    machine = tables["machine"].iloc[0]
    print(
        f"\n== headline: achieved / ceiling and x classic, {machine['cpu_model']} "
        f"({machine['logical_cpus']} CPUs, {machine['cpu_flags']}; {machine['device']} {machine['gpu_name']}) ==\n"
        + headline_text(tables["headline"])
    )
    print(f"\nwrote {', '.join(sorted(tables))} CSVs to {args.out}/ in {time.perf_counter() - tick:.0f} s")
    return run_extra_benches(args)


def run_extra_benches(args) -> int:
    """The batch-1 step and the per-job overhead, when asked: each its own module, CSVs beside the others."""
    code = 0
    if args.small_batch:
        from effdl.bench import small_batch

        threads = ["--threads", str(args.threads)] if args.threads else []
        data = ["--data", args.small_batch_data] if getattr(args, "small_batch_data", None) else []
        code = code or small_batch.main(["--out", args.out, *threads, *data])
    if args.overhead:
        from effdl.bench import overhead

        code = code or overhead.main(["--out", args.out])
    return code


if __name__ == "__main__":  # `python -m effdl.bench`, an alias of `effdl bench`
    from effdl.cli import main as cli_main

    sys.exit(cli_main(["bench", *sys.argv[1:]]))
