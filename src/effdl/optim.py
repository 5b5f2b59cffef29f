"""The optimizer and learning-rate scheduler of a training run (TrainConfig), and the SGD step implementations that
compute the same step, of which the run takes the one the bench measured fastest."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from effdl.plan.spec import TrainConfig

# SGD step implementations that compute the same step bit for bit (tests/test_bench.py checks), so choosing one
# by speed changes no result; torch's own default on a CPU is the per-tensor loop ("").
SGD_IMPLS = {"": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def fastest_sgd_impl(rates: dict[str, float] | None, min_gain: float = 1.02) -> str:
    """The SGD step implementation with the highest measured training img/s (`rates`: {impl: img/s} from
    results/bench), when it beats torch's default ('') by at least `min_gain`; '' when unmeasured."""
    if not rates or not rates.get(""):
        return ""
    impl = max(sorted(rates), key=lambda name: rates[name])
    return impl if rates[impl] >= min_gain * rates[""] else ""


def make_optimizer(cfg: TrainConfig, params: Iterable[nn.Parameter], sgd_impl: str = "") -> torch.optim.Optimizer:
    """SGD with momentum (the seed's Part 1/3/4), in implementation `sgd_impl` (SGD_IMPLS), or Adam (Parts 2, 6)."""
    if cfg.optimizer == "sgd":
        kwargs = SGD_IMPLS[sgd_impl]
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **kwargs)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int = 1):
    """The configured scheduler (None for 'none'): the seed's per-epoch ones, or OneCycleLR over every batch of
    every epoch (`steps_per_epoch` batches per epoch; cfg.steps_per_batch says which way it is stepped)."""
    if cfg.scheduler == "one_cycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=cfg.lr if cfg.max_lr is None else cfg.max_lr,
            epochs=cfg.epochs,
            steps_per_epoch=steps_per_epoch,
            pct_start=cfg.pct_start,
            div_factor=cfg.div_factor,
            final_div_factor=cfg.final_div_factor,
        )
    if cfg.scheduler == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.milestones), gamma=cfg.gamma)
    if cfg.scheduler == "cosine_annealing":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    if cfg.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)
    return None


def lr_schedule(cfg: TrainConfig, steps_per_epoch: int = 1) -> list[float]:
    """The learning rate at the start of each epoch (what the engine will apply), without training anything;
    a per-batch scheduler is stepped `steps_per_epoch` times per epoch."""
    optimizer = make_optimizer(cfg, [nn.Parameter(torch.zeros(1))])
    scheduler = make_scheduler(cfg, optimizer, steps_per_epoch)
    lrs = []
    for _ in range(cfg.epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        for _ in range(steps_per_epoch if cfg.steps_per_batch else 1):
            if scheduler is not None:
                optimizer.step()
                scheduler.step()
    return lrs
