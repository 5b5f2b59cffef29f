"""Training engine: device-resident data, batched augmentation, per-epoch LR schedules, resumable checkpoints.

Follows the seed's Code Cells 1.1/1.4: CrossEntropyLoss, SGD(momentum 0.9, wd 5e-4) or Adam, the
scheduler stepped once per epoch after train+test, training loss kept per iteration and accuracies
per epoch. Metrics accumulate on the device; the host synchronises once per epoch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from effdl.data import DeviceDataset, iterate_batches
from effdl.io import CheckpointError, load_checkpoint, save_checkpoint
from effdl.plan.spec import TrainConfig


@dataclass
class TrainResult:
    """What a training run produced: per-iteration and per-epoch records, timing, divergence."""

    iterations: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    total_time_s: float = 0.0
    diverged: bool = False
    precision: str = "fp32"
    resumed_from_epoch: int = 0


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA when present, else CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> bf16 on CUDA and on CPUs with AMX bf16 units, else fp32 (bf16 is slow without them)."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16"
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    return "bf16" if device.type == "cpu" and amx else "fp32"


def autocast(precision: str, device: torch.device):
    """The autocast context for a resolved precision (a no-op for fp32)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def moving_average(a, n: int = 100) -> torch.Tensor:
    """Simple moving average with window n, as the seed: output k is mean(a[k : k+n]), length len(a)-n+1."""
    a = torch.as_tensor(a, dtype=torch.float64)
    if n < 1:
        raise ValueError(f"moving_average window must be >= 1, got {n}")
    if len(a) < n:
        return a.new_empty(0)
    cumsum = torch.cumsum(torch.cat([a.new_zeros(1), a]), dim=0)
    return (cumsum[n:] - cumsum[:-n]) / n


def make_optimizer(cfg: TrainConfig, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """SGD with momentum (the seed's Part 1/3/4) or Adam (Parts 2 and 6)."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer):
    """The seed's per-epoch schedulers; None for 'none'."""
    if cfg.scheduler == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.milestones), gamma=cfg.gamma)
    if cfg.scheduler == "cosine_annealing":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    if cfg.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)
    return None


def lr_schedule(cfg: TrainConfig) -> list[float]:
    """The learning rate used in each epoch (what the engine will apply), without training anything."""
    optimizer = make_optimizer(cfg, [nn.Parameter(torch.zeros(1))])
    scheduler = make_scheduler(cfg, optimizer)
    lrs = []
    for _ in range(cfg.epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        if scheduler is not None:
            optimizer.step()
            scheduler.step()
    return lrs


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: DeviceDataset,
    *,
    mean,
    std,
    batch_size: int = 1000,
    precision: str = "fp32",
    channels_last: bool = False,
) -> tuple[float, float]:
    """(mean cross-entropy loss, accuracy in percent) of `model` on `dataset`, in eval mode."""
    model.eval()
    device = dataset.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    for x, y in iterate_batches(dataset, batch_size, mean=mean, std=std, channels_last=channels_last):
        with autocast(precision, device):
            out = model(x)
        loss_sum += nn.functional.cross_entropy(out.float(), y, reduction="sum")
        correct += (out.argmax(1) == y).sum()
    n = len(dataset)
    return loss_sum.item() / n, 100.0 * correct.item() / n


def _fingerprint(cfg: TrainConfig, model: nn.Module, extra: dict | None) -> str:
    """Identifies which run a checkpoint belongs to, so a changed config never resumes a stale one."""
    shapes = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    blob = json.dumps([dataclasses.asdict(cfg), shapes, extra or {}], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def train(
    model: nn.Module,
    train_set: DeviceDataset,
    test_set: DeviceDataset,
    cfg: TrainConfig,
    device: torch.device | str,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    checkpoint_path: str | Path | None = None,
    hooks: Sequence = (),
    identity: dict | None = None,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train `model` per `cfg`, evaluating every epoch; resume from `checkpoint_path` when it holds this run.

    Hooks' `after_train_epoch(epoch, model)` run after each epoch's training and before its test.
    A non-finite training loss marks the run diverged and stops it (recorded, not raised).
    The resume state is saved atomically after every epoch, never mid-epoch: a killed run loses at most
    the epoch in progress and resumes bit-identically (same device and thread count). An unreadable or
    foreign resume checkpoint is reported and ignored (training starts over), since it is only a cache.
    """
    device = torch.device(device)
    precision = resolve_precision(cfg.precision, device)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model.to(device=device, memory_format=memory_format)
    optimizer = make_optimizer(cfg, [p for p in model.parameters() if p.requires_grad])
    scheduler = make_scheduler(cfg, optimizer)
    generator = torch.Generator().manual_seed(cfg.seed)
    step_model = torch.compile(model) if cfg.compile else model
    fingerprint = _fingerprint(cfg, model, identity)
    result = TrainResult(precision=precision)
    iter_losses: list[torch.Tensor] = []
    start_epoch = 0

    if checkpoint_path is not None and Path(checkpoint_path).is_file():
        try:
            state = load_checkpoint(checkpoint_path, map_location=device)
        except CheckpointError as err:
            log(f"WARNING: ignoring unreadable resume checkpoint, starting from scratch: {err}")
            state = None
        if state is not None and state.get("fingerprint") == fingerprint:
            model.load_state_dict(state["model"])
            with warnings.catch_warnings():  # stepping a scheduler without optimizer.step() warns
                warnings.simplefilter("ignore")
                for _ in range(state["epoch"]):
                    if scheduler is not None:
                        scheduler.step()
            optimizer.load_state_dict(state["optimizer"])
            generator.set_state(state["generator"])
            torch.set_rng_state(state["torch_rng"])
            if device.type == "cuda" and "cuda_rng" in state:
                torch.cuda.set_rng_state(state["cuda_rng"], device)
            result.epochs = state["epochs"]
            iter_losses = [state["iter_losses"]]
            result.total_time_s = state["total_time_s"]
            start_epoch = result.resumed_from_epoch = state["epoch"]
            log(f"resumed from {checkpoint_path} after epoch {start_epoch}/{cfg.epochs}")
        elif state is not None:
            log(f"WARNING: {checkpoint_path} belongs to a different run configuration; starting from scratch")

    def test_now() -> tuple[float, float]:
        return evaluate(
            model,
            test_set,
            mean=mean,
            std=std,
            batch_size=cfg.eval_batch_size,
            precision=precision,
            channels_last=cfg.channels_last,
        )

    if cfg.eval_before_training and start_epoch == 0:
        tick = time.perf_counter()
        test_loss, test_acc = test_now()
        result.total_time_s += time.perf_counter() - tick
        result.epochs.append(
            {
                "epoch": 0,
                "lr": optimizer.param_groups[0]["lr"],
                "train_loss": float("nan"),
                "train_acc": float("nan"),
                "test_loss": test_loss,
                "test_acc": test_acc,
                "epoch_time_s": 0.0,
            }
        )

    n_batches = -(-len(train_set) // cfg.batch_size)
    for epoch in range(start_epoch, cfg.epochs):
        tick = time.perf_counter()
        model.train()
        losses = torch.empty(n_batches, device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        lr_now = optimizer.param_groups[0]["lr"]
        batches = iterate_batches(
            train_set,
            cfg.batch_size,
            mean=mean,
            std=std,
            augment=cfg.augment,
            shuffle=True,
            generator=generator,
            channels_last=cfg.channels_last,
        )
        for i, (x, y) in enumerate(batches):
            with autocast(precision, device):
                out = step_model(x)
            loss = nn.functional.cross_entropy(out.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses[i] = loss.detach()
            correct += (out.argmax(1) == y).sum()
        losses = losses.cpu()  # the epoch's one host-device sync for training metrics
        train_acc = 100.0 * correct.item() / len(train_set)
        extra = {}
        for hook in hooks:
            extra.update(hook.after_train_epoch(epoch, model) or {})
        test_loss, test_acc = test_now()
        if scheduler is not None:
            scheduler.step()
        epoch_time = time.perf_counter() - tick
        result.total_time_s += epoch_time
        iter_losses.append(losses)
        result.epochs.append(
            {
                "epoch": epoch + 1,
                "lr": lr_now,
                "train_loss": losses.mean().item(),
                "train_acc": train_acc,
                "test_loss": test_loss,
                "test_acc": test_acc,
                "epoch_time_s": epoch_time,
                **extra,
            }
        )
        log(
            f"epoch {epoch + 1}/{cfg.epochs} lr {lr_now:.3g} | train loss {losses.mean():.4f} "
            f"acc {train_acc:.2f}% | test loss {test_loss:.4f} acc {test_acc:.2f}% | {epoch_time:.1f}s"
        )
        if not torch.isfinite(losses).all():
            result.diverged = True
            log(f"training diverged in epoch {epoch + 1} (non-finite loss at lr={cfg.lr}); stopping this run")
            break
        if checkpoint_path is not None:
            state = {
                "fingerprint": fingerprint,
                "epoch": epoch + 1,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "epochs": result.epochs,
                "iter_losses": torch.cat(iter_losses),
                "total_time_s": result.total_time_s,
            }
            if device.type == "cuda":
                state["cuda_rng"] = torch.cuda.get_rng_state(device)
            save_checkpoint(state, checkpoint_path)

    all_losses = torch.cat(iter_losses) if iter_losses else torch.empty(0)
    result.iterations = [
        {"iteration": i, "epoch_float": i / n_batches, "loss": float(v)} for i, v in enumerate(all_losses.tolist())
    ]
    return result
