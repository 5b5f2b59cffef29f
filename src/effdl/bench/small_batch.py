"""Batch-1 training step: the engine's step loop against the notebook's per-sample DataLoader loop, MNIST MLP.

The seed trains the MNIST MLP with Adam at the DataLoader's default batch of 1 (60,000 steps an epoch), so
there the cost of a step is per-step Python and synchronisation, not arithmetic. Both loops train the same
model from the same weights on the same images in one process, in interleaved rounds (load from other
processes hits both alike); the ratio is taken within each round, and the median over rounds reported.

Run:  python -m effdl.bench.small_batch [--steps 2000] [--repeats 3] [--threads N] [--out results/bench]
          [--data results/data/mnist.pt]   # real digits (default: random images)
Writes small_batch.csv (one row per pipeline and round) and small_batch_summary.csv under --out.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn

# the seed's MNIST normalisation (Code Cell 2.1)
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)


# Adam steps before timing, so every timed loop starts in the regime of most of a 60,000-step epoch: by then the
# first moments of hidden units that stayed inactive have decayed (0.9 a step) into denormal numbers, which the
# engine flushes (effdl.execution.flush_denormals) and the notebook's loop computes with, slowly
WARM_STEPS = 1000


def mnist_like(n: int, seed: int = 0) -> dict:
    """`n` MNIST-shaped uint8 images (1 x 28 x 28) and random labels. Random pixels and labels make other dead
    units than real digits do, and so other denormal counts: pass real MNIST (--data) for the number to quote."""
    generator = torch.Generator().manual_seed(seed)
    return {
        "images": torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=generator),
        "labels": torch.randint(0, 10, (n,), generator=generator),
    }


def packed_mnist(path: str | Path, n: int) -> dict:
    """The first `n` training images and labels of a packed data set written by prepare_data
    (results/data/mnist.pt), memory-mapped."""
    train = torch.load(path, mmap=True, weights_only=True)["train"]
    if len(train["labels"]) < n:
        raise ValueError(f"{path} has {len(train['labels'])} training images; the bench needs {n}")
    return {"images": train["images"][:n].clone(), "labels": train["labels"][:n].clone()}


def warmed_start(warm: dict, *, hidden: int = 128, lr: float = 1e-3) -> tuple[dict, dict]:
    """(model state, Adam state) after one plain batch-1 step on each image of `warm`, from seed-0 weights:
    every timed loop of the bench starts from this same state."""
    from effdl.data import normalize

    model, optimizer = _mlp_and_adam(hidden, lr, None)
    x_all = normalize(warm["images"], torch.tensor(MNIST_MEAN), torch.tensor(MNIST_STD))
    for x, y in zip(x_all.split(1), warm["labels"].split(1)):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.state_dict(), optimizer.state_dict()


def _mlp_and_adam(hidden: int, lr: float, start: tuple[dict, dict] | None):
    """The MLP (seed-0 weights) and its Adam, both loaded from `start` (warmed_start) when given."""
    from effdl.models.convnet import MNISTNet

    torch.manual_seed(0)
    model = MNISTNet(hidden=hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    if start is not None:
        model.load_state_dict(start[0])
        optimizer.load_state_dict(start[1])
    return model, optimizer


def time_engine_steps(split: dict, *, hidden: int = 128, lr: float = 1e-3, start=None) -> float:
    """Seconds per step of the engine's training pass (effdl.engine.train_epoch) at batch 1, unshuffled, fp32:
    the MNIST MLP's recipe in workflow/rules/quant.smk."""
    from effdl.data import DeviceDataset
    from effdl.engine import TrainConfig, train_epoch

    model, optimizer = _mlp_and_adam(hidden, lr, start)
    cfg = TrainConfig(
        epochs=1,
        optimizer="adam",
        lr=lr,
        batch_size=1,
        shuffle=False,
        augment=False,
        precision="fp32",
        channels_last=False,
    )
    dataset = DeviceDataset(split["images"], split["labels"], "cpu")
    tick = time.perf_counter()
    train_epoch(model, model, optimizer, dataset, cfg, "fp32", torch.Generator(), mean=MNIST_MEAN, std=MNIST_STD)
    return (time.perf_counter() - tick) / len(dataset)


def time_classic_steps_one_thread(split: dict, **kwargs) -> float:
    """time_classic_steps on one torch thread: what the engine's step_threads does, given to the classic loop too,
    so that the ratio also shows what is left once both avoid the thread fork/join per operation."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return time_classic_steps(split, **kwargs)
    finally:
        torch.set_num_threads(before)


def time_classic_steps(split: dict, *, hidden: int = 128, lr: float = 1e-3, start=None) -> float:
    """Seconds per step of the notebook's loop: PIL images through ToTensor + Normalize, a DataLoader of
    batch 1 (no workers, its default), cross-entropy, zero_grad, backward, Adam step, loss.item() as the
    notebook records it."""
    from effdl.bench.classic import classic_loader

    model, optimizer = _mlp_and_adam(hidden, lr, start)
    loader = classic_loader(split, 1, mean=MNIST_MEAN, std=MNIST_STD, augment=False, shuffle=False, num_workers=0)
    losses = []
    model.train()
    tick = time.perf_counter()
    for x, y in loader:
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return (time.perf_counter() - tick) / len(losses)


def measure_small_batch(
    steps: int = 2000, repeats: int = 3, warmup: int = 200, log=print, data: str | Path | None = None
) -> pd.DataFrame:
    """Interleaved rounds of both loops over the same `steps` images (real MNIST from the packed `data`, else
    mnist_like), each from the state after WARM_STEPS earlier images; ms/step per pipeline and round."""
    images = mnist_like(WARM_STEPS + steps) if data is None else packed_mnist(data, WARM_STEPS + steps)
    start = warmed_start({key: value[:WARM_STEPS] for key, value in images.items()})
    split = {key: value[WARM_STEPS:] for key, value in images.items()}
    source = "synthetic" if data is None else str(data)
    warm = {key: value[:warmup] for key, value in split.items()}
    timers = {
        "engine": time_engine_steps,
        "classic": time_classic_steps,
        "classic_1thread": time_classic_steps_one_thread,
    }
    for timer in timers.values():  # first-call costs (allocator, oneDNN primitives)
        timer(warm, start=start)
    rows = []
    for round_ in range(repeats):
        for pipeline, timer in timers.items():
            ms = 1e3 * timer(split, start=start)
            rows.append({"round": round_, "pipeline": pipeline, "ms_per_step": ms, "steps": steps, "data": source})
            log(f"round {round_}: {pipeline} {ms:.3f} ms/step")
    return pd.DataFrame(rows)


def summarise_small_batch(raw: pd.DataFrame) -> pd.DataFrame:
    """Median ms/step per pipeline and the median over rounds of the engine's step time over the pipeline's
    (`engine_over_this`: < 1 means the engine's step is faster)."""
    wide = raw.pivot(index="round", columns="pipeline", values="ms_per_step")
    return pd.DataFrame(
        [
            {
                "pipeline": pipeline,
                "ms_per_step": float(wide[pipeline].median()),
                "engine_over_this": float((wide["engine"] / wide[pipeline]).median()),
                "rounds": len(wide),
                "steps": int(raw["steps"].iloc[0]),
                "threads": 1 if pipeline == "classic_1thread" else torch.get_num_threads(),
            }
            for pipeline in wide.columns
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m effdl.bench.small_batch", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="batch-1 steps per pipeline and round")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--out", default="results/bench", help="folder for small_batch*.csv")
    parser.add_argument("--data", help="packed MNIST from prepare_data (results/data/mnist.pt); default: random images")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from effdl.io import write_csv

    raw = measure_small_batch(args.steps, args.repeats, log=lambda m: print(m, flush=True), data=args.data)
    summary = summarise_small_batch(raw)
    write_csv(raw, Path(args.out) / "small_batch.csv")
    write_csv(summary, Path(args.out) / "small_batch_summary.csv")
    ratio = summary.set_index("pipeline")["engine_over_this"]
    print(f"\n== batch-1 MNIST MLP step ==\n{summary.to_string(index=False)}")
    print(
        f"engine step / classic step = {ratio['classic']:.2f} ({ratio['classic_1thread']:.2f} against the classic "
        "loop on one thread); medians of per-round ratios, < 1: the engine is faster"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
