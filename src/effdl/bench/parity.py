"""Parity with the notebook: the seed's classic pipeline and the engine trained on the same data, seeds and settings.

Classic = Code Cells 1.1-1.4 as written: PIL images, torchvision RandomCrop/RandomHorizontalFlip/ToTensor/Normalize,
a shuffled DataLoader (batch 128, 2 workers), fp32, SGD(momentum 0.9, weight decay 5e-4), CrossEntropyLoss, one
train pass then one test pass per epoch, constant lr (Part 1.1). Engine = effdl.engine.train with the config's
engine defaults (precision auto, channels_last). Each pipeline trains k seeds; the final test accuracies are
compared with Welch's t-test (scipy.stats.ttest_ind, equal_var=False).

Run:  python -m effdl.bench --parity [--parity-train-per-class 1000] [--parity-epochs 5] [--parity-seeds 43 44 45]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from effdl.bench.classic import classic_loader
from effdl.data import DeviceDataset
from effdl.engine import TrainConfig, train
from effdl.execution import resolve_precision
from effdl.models import build_model

ALPHA = 0.05


@dataclass(frozen=True)
class ParitySettings:
    """One parity comparison; the defaults are the issue's: 1,000 images per class, full test set, 5 epochs."""

    train_per_class: int = 1000
    test_per_class: int | None = None  # None = the whole test split
    epochs: int = 5
    lr: float = 0.1
    seeds: tuple[int, ...] = (43, 44, 45)
    batch_size: int = 128  # the seed's
    num_workers: int = 2  # the seed's DataLoaders
    precision: str = "auto"  # the engine's; the classic pipeline is fp32 as the notebook
    channels_last: bool = True  # the engine's default
    mean: tuple[float, ...] = (0.4914, 0.4822, 0.4465)
    std: tuple[float, ...] = (0.2023, 0.1994, 0.2010)

    def __post_init__(self):
        if len(self.seeds) < 2:
            raise ValueError(
                f"parity needs at least 2 seeds per pipeline for a t-test, got {self.seeds}. "
                "Fix: pass --parity-seeds with two or more seeds."
            )
        if min(self.epochs, self.batch_size, self.train_per_class) < 1 or not self.lr > 0:
            raise ValueError("parity epochs, batch size and train_per_class must be >= 1 and lr > 0")


def classic_run(data: dict, settings: ParitySettings, seed: int, device: torch.device) -> dict:
    """Code Cells 1.1-1.4 on `data`: returns the final test accuracy (percent) and the wall time."""
    mean, std = list(settings.mean), list(settings.std)
    torch.manual_seed(seed)  # Code Cell 1.4 seeds before building the net
    net = build_model("convnet").to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=settings.lr, momentum=0.9, weight_decay=5e-4)
    train_loader, test_loader = (
        classic_loader(
            data[split],
            settings.batch_size,
            mean=mean,
            std=std,
            augment=train,
            shuffle=train,
            num_workers=settings.num_workers,
            seed=seed,
        )
        for split, train in (("train", True), ("test", False))
    )
    tick = time.perf_counter()
    acc = float("nan")
    for _ in range(settings.epochs):
        net.train()
        for inputs, targets in train_loader:
            inputs, targets = inputs.to(device), targets.to(device)
            optimizer.zero_grad()
            loss = criterion(net(inputs), targets)
            loss.backward()
            optimizer.step()
        net.eval()
        correct = total = 0
        with torch.no_grad():
            for inputs, targets in test_loader:
                outputs = net(inputs.to(device))
                correct += outputs.argmax(1).eq(targets.to(device)).sum().item()
                total += len(targets)
        acc = 100.0 * correct / total
    return {"final_test_acc": acc, "time_s": time.perf_counter() - tick, "precision": "fp32"}


def engine_run(data: dict, settings: ParitySettings, seed: int, device: torch.device) -> dict:
    """effdl.engine.train with the same data, seed and hyper-parameters."""
    cfg = TrainConfig(
        epochs=settings.epochs,
        lr=settings.lr,
        seed=seed,
        scheduler="none",
        batch_size=settings.batch_size,
        precision=settings.precision,
        channels_last=settings.channels_last,
    )
    torch.manual_seed(seed)
    model = build_model("convnet")
    train_set = DeviceDataset(data["train"]["images"], data["train"]["labels"], device)
    test_set = DeviceDataset(data["test"]["images"], data["test"]["labels"], device)
    result = train(
        model, train_set, test_set, cfg, device, mean=list(settings.mean), std=list(settings.std), log=lambda _: None
    )
    return {
        "final_test_acc": result.epochs[-1]["test_acc"],
        "time_s": result.total_time_s,
        "precision": resolve_precision(settings.precision, torch.device(device)),
    }


def welch(a, b) -> float:
    """Two-sided Welch t-test p-value of mean(a) vs mean(b); exact (0 or 1) when both samples are constant."""
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.var() == 0 and b.var() == 0:
        return 0.0 if a.mean() != b.mean() else 1.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def run_parity(
    data: dict, settings: ParitySettings, device: torch.device | str, log: Callable[[str], None] = print
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train both pipelines for every seed (interleaved, so load from other processes hits both alike).

    Returns (runs, summary): one row per (pipeline, seed), and per pipeline the mean, sd and count with the
    Welch p-value of classic vs engine and the verdict ('within noise' when p >= ALPHA, else 'different').
    """
    device = torch.device(device)
    rows = []
    for seed in settings.seeds:
        for pipeline, fn in (("classic", classic_run), ("engine", engine_run)):
            row = {
                "pipeline": pipeline,
                "seed": seed,
                **fn(data, settings, seed, device),
                "n_train": len(data["train"]["labels"]),
                "n_test": len(data["test"]["labels"]),
                "epochs": settings.epochs,
                "lr": settings.lr,
                "batch_size": settings.batch_size,
                "device": str(device),
            }
            log(
                f"parity {pipeline} seed {seed}: final test acc {row['final_test_acc']:.2f}% "
                f"({row['precision']}, {row['time_s']:.0f} s)"
            )
            rows.append(row)
    runs = pd.DataFrame(rows)
    accs = {p: runs.loc[runs["pipeline"] == p, "final_test_acc"].tolist() for p in ("classic", "engine")}
    p_value = welch(accs["classic"], accs["engine"])
    summary = pd.DataFrame(
        [
            {
                "pipeline": p,
                "seeds": len(a),
                "acc_mean": float(np.mean(a)),
                "acc_sd": float(np.std(a, ddof=1)),
                "time_s_mean": float(runs.loc[runs["pipeline"] == p, "time_s"].mean()),
                "welch_p": p_value,
                "verdict": "within noise" if p_value >= ALPHA else "different",
                **{f"setting_{k}": str(v) for k, v in asdict(settings).items()},
            }
            for p, a in accs.items()
        ]
    )
    return runs, summary
