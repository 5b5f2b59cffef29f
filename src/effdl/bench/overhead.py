"""Overhead per job: what a workflow job costs before its first step (interpreter, imports, data, model, checkpoint).

Each stage is timed on its own, repeated, median kept: a fresh interpreter (`python -c pass`), the imports of a
training job and of a quantization job (each in a fresh interpreter, less the bare interpreter), the packed
data set's load read whole and memory-mapped, building the ConvNet and the MNIST MLP, and loading a trained
ConvNet checkpoint. The sums say what one job pays before it trains or evaluates, and what the PTQ sweep saves
by evaluating all of a network's variants in one job instead of one job each. Snakemake's own per-job work
(planning, the script preamble) comes on top and is not counted. The data file is read from the page cache
(a file just written or read, as on a machine that runs job after job); a cold disk read is slower.

Run:  python -m effdl.bench.overhead [--data results/data/cifar10.pt] [--repeats 5] [--out results/bench]
Writes overhead.csv (stage, seconds, what) under --out.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

# what the two kinds of job import before their first step (workflow/scripts/train_model.py, quantize_model.py)
TRAIN_JOB_IMPORTS = "import effdl.train_job, effdl.runlog"
QUANT_JOB_IMPORTS = "import effdl.engine, effdl.io, effdl.runlog, effdl.studies.quant"
# a CIFAR-10-sized packed data set when no real one is given: 50,000 + 10,000 images of 3 x 32 x 32
CIFAR10_SHAPE = {"train": 50_000, "test": 10_000}


def median_seconds(action: Callable[[], object], repeats: int) -> float:
    """Median wall time of `action()` over `repeats` calls."""
    times = []
    for _ in range(repeats):
        tick = time.perf_counter()
        action()
        times.append(time.perf_counter() - tick)
    return statistics.median(times)


def python_seconds(code: str, repeats: int) -> float:
    """Median wall time of a fresh interpreter running `code` (this interpreter, this environment)."""
    return median_seconds(lambda: subprocess.run([sys.executable, "-c", code], check=True), repeats)


def synthetic_packed(path: Path, shape: dict[str, int] = CIFAR10_SHAPE) -> Path:
    """Write a packed data set of CIFAR-10's size (random pixels) as prepare_data writes one."""
    from effdl.io import save_checkpoint

    generator = torch.Generator().manual_seed(0)
    packed = {"classes": [str(i) for i in range(10)], "source": "synthetic", "sha256": "0" * 64}
    for split, n in shape.items():
        packed[split] = {
            "images": torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=generator),
            "labels": torch.randint(0, 10, (n,), generator=generator),
        }
    save_checkpoint(packed, path)
    return path


def measure_overhead(data_path: str | Path | None = None, repeats: int = 5, log=print) -> pd.DataFrame:
    """The per-job stages and their sums, one row each: stage, seconds, what."""
    from effdl.data import load_packed
    from effdl.io import save_checkpoint
    from effdl.models import build_model
    from effdl.runs import load_run_model

    rows = []

    def add(stage: str, seconds: float, what: str) -> float:
        rows.append({"stage": stage, "seconds": seconds, "what": what})
        log(f"{stage:<34} {seconds * 1e3:9.1f} ms  {what}")
        return seconds

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(data_path) if data_path else synthetic_packed(Path(tmp) / "cifar10_sized.pt")
        interpreter = add("interpreter", python_seconds("pass", repeats), "python -c pass")
        train_imports = add(
            "imports: training job",
            python_seconds(TRAIN_JOB_IMPORTS, repeats) - interpreter,
            f"{TRAIN_JOB_IMPORTS} (less the interpreter)",
        )
        quant_imports = add(
            "imports: quantization job",
            python_seconds(QUANT_JOB_IMPORTS, repeats) - interpreter,
            f"{QUANT_JOB_IMPORTS} (less the interpreter)",
        )
        load_packed(data)  # into the page cache, as for every job after the first
        read_whole = add("data: read whole", median_seconds(lambda: load_packed(data, mmap=False), repeats), str(data))
        mapped = add("data: memory-mapped", median_seconds(lambda: load_packed(data), repeats), f"{data} (load_packed)")
        add("model build: mnist_mlp", median_seconds(lambda: build_model("mnist_mlp"), repeats), "MNISTNet(128)")
        build = add("model build: convnet", median_seconds(lambda: build_model("convnet"), repeats), "the seed ConvNet")
        checkpoint = Path(tmp) / "model.pt"
        spec = {"model": {"name": "convnet"}, "seed": 0}
        save_checkpoint({"state_dict": build_model("convnet").state_dict(), "spec": spec}, checkpoint)
        load = add(
            "checkpoint load: convnet", median_seconds(lambda: load_run_model(checkpoint), repeats), "load_run_model"
        )
    before = interpreter + train_imports + read_whole + build
    add("per training job, data read whole", before, "interpreter + imports + data read whole + model build")
    add("per training job, data mapped", interpreter + train_imports + mapped + build, "the same, data memory-mapped")
    per_quant_job = interpreter + quant_imports + mapped + load
    add("per quantization job", per_quant_job, "interpreter + imports + data mapped + checkpoint load")
    return pd.DataFrame(rows)


def ptq_jobs_saved(overhead: pd.DataFrame, variants: int, checkpoints: int) -> float:
    """Seconds the PTQ sweep of one network saves by running its `variants` in one job instead of one job each:
    (variants - 1) interpreters, imports and data loads, and (variants - 1) x `checkpoints` checkpoint loads."""
    seconds = overhead.set_index("stage")["seconds"]
    per_job = seconds["interpreter"] + seconds["imports: quantization job"] + seconds["data: memory-mapped"]
    return (variants - 1) * (per_job + checkpoints * seconds["checkpoint load: convnet"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m effdl.bench.overhead", description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="a packed data set (default: a CIFAR-10-sized synthetic one)")
    parser.add_argument("--repeats", type=int, default=5, help="repetitions per stage (the median is kept)")
    parser.add_argument("--variants", type=int, default=27, help="PTQ variants per network (the full study: 27)")
    parser.add_argument("--checkpoints", type=int, default=3, help="checkpoints per network (the full study: 3)")
    parser.add_argument("--out", default="results/bench", help="folder for overhead.csv")
    args = parser.parse_args(argv)
    from effdl.io import write_csv

    print("== overhead per job (medians) ==", flush=True)
    overhead = measure_overhead(args.data, args.repeats, log=lambda m: print(m, flush=True))
    saved = ptq_jobs_saved(overhead, args.variants, args.checkpoints)
    what = f"{args.variants} variants x {args.checkpoints} checkpoints: one job instead of {args.variants}"
    overhead = pd.concat(
        [overhead, pd.DataFrame([{"stage": "PTQ sweep of a network: saved", "seconds": saved, "what": what}])],
        ignore_index=True,
    )
    print(f"{'PTQ sweep of a network: saved':<34} {saved * 1e3:9.1f} ms  {what}")
    write_csv(overhead, Path(args.out) / "overhead.csv")
    print(f"wrote {Path(args.out) / 'overhead.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
