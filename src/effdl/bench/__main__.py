"""`python -m effdl.bench`: parse the command line, load the data, run the benchmark and write its CSVs."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from effdl.bench.classic import load_bench_data
from effdl.bench.settings import BenchSettings
from effdl.bench.timing import run_benchmark
from effdl.data import load_packed
from effdl.engine import resolve_device
from effdl.io import write_csv


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
    parser.add_argument(
        "--data",
        help="packed .pt or ImageFolder dir/.tar.gz (default: results/data/cifar10.pt "
        "when it holds enough images, else ../shared/data/cifar10-jpeg.tar.gz)",
    )
    parser.add_argument("--train-per-class", type=int, help="training images per class for throughput/epochs")
    parser.add_argument("--test-per-class", type=int, help="test images per class")
    parser.add_argument(
        "--engine",
        nargs="+",
        metavar="VARIANT",
        help="engine variants to time: fp32|bf16 with optional +cl (channels_last) and +compile, "
        "e.g. fp32 fp32+cl bf16 bf16+cl bf16+cl+compile",
    )
    parser.add_argument("--workers", nargs="+", type=int, help="DataLoader num_workers values for the classic pipeline")
    parser.add_argument("--epoch-timing", action="store_true", help="time whole epochs (always on for CUDA)")
    parser.add_argument("--acc-epochs", type=int, help="epochs of the bf16-vs-fp32 accuracy check (0 skips it)")
    parser.add_argument("--acc-seeds", type=int, nargs="+", help="seeds of the accuracy check")
    parser.add_argument("--acc-train-per-class", type=int, help="training images per class of the accuracy check")
    parser.add_argument("--acc-test-per-class", type=int, help="test images per class of the accuracy check")
    parser.add_argument("--acc-batch-size", type=int, help="batch size of the accuracy check")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parity = parser.add_argument_group("parity with the notebook (--parity; see effdl.bench.parity)")
    parity.add_argument("--parity", action="store_true", help="train the classic pipeline and the engine, k seeds each")
    parity.add_argument("--parity-train-per-class", type=int, default=1000, help="training images per class")
    parity.add_argument("--parity-test-per-class", type=int, help="test images per class (default: the whole split)")
    parity.add_argument("--parity-epochs", type=int, default=5, help="epochs per run (Part 1.1's 5)")
    parity.add_argument("--parity-lr", type=float, default=0.1, help="constant SGD learning rate")
    parity.add_argument("--parity-seeds", type=int, nargs="+", default=[43, 44, 45], help="seeds per pipeline")
    parity.add_argument("--parity-workers", type=int, default=2, help="classic DataLoader workers (the seed's 2)")
    parity.add_argument("--parity-precision", default="auto", help="the engine's precision: auto | fp32 | bf16")
    return parser.parse_args(argv)


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


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark from the command line and print the tables."""
    args = parse_args(argv)
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
        for name in ("machine", "throughput", "peak", "epochs", "accuracy", "accuracy_summary"):
            if name in tables:
                frame = tables[name].T if name == "machine" else tables[name]
                print(f"\n== {name} ==\n{frame.to_string()}")
    print(f"\nwrote {', '.join(sorted(tables))} CSVs to {args.out}/ in {time.perf_counter() - tick:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
