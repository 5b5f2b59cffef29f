"""Training engine: device-resident data, batched augmentation, per-epoch/per-batch LR schedules, resumable checkpoints.

Follows the seed's Code Cells 1.1/1.4: CrossEntropyLoss, SGD(momentum 0.9, wd 5e-4) or Adam, the
scheduler stepped once per epoch after train+test (a per-batch scheduler such as OneCycleLR after every
optimizer step; effdl.plan.registry.SCHEDULERS says which), training loss kept per iteration and accuracies
per epoch. Metrics accumulate on the device; the host synchronises once per epoch.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from effdl.autotune import plan_evaluation
from effdl.data import DeviceDataset, iterate_batches
from effdl.execution import autocast, flush_denormals, resolve_compile, resolve_precision, step_threads
from effdl.fold import evaluation_network
from effdl.io import CheckpointError, load_checkpoint, save_checkpoint
from effdl.optim import fastest_sgd_impl, make_optimizer, make_scheduler
from effdl.plan.spec import TrainConfig, identity_settings
from effdl.progress import eta_seconds, timing_text


@dataclass(frozen=True)
class HookContext:
    """What the engine offers a hook with an `attach(context)` method, once before training: the run's test and its
    training batches, with the run's precision, layout and normalisation (so a hook can measure without retraining).

    `test(model)` -> (loss, accuracy %) on the test set, exactly as the engine tests each epoch.
    `train_batches(seed)` yields normalised, unaugmented training batches in an order drawn from its own
    generator seeded with `seed`: the run's generator and the global RNG are never touched.
    """

    test: Callable[[nn.Module], tuple[float, float]]
    train_batches: Callable[[int], Iterable[tuple[torch.Tensor, torch.Tensor]]]
    precision: str
    device: torch.device


@dataclass
class TrainResult:
    """What a training run produced: per-iteration and per-epoch records, timing, divergence."""

    iterations: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    total_time_s: float = 0.0
    diverged: bool = False
    precision: str = "fp32"
    resumed_from_epoch: int = 0
    compiled: bool = False
    test_bn_folded: bool = False  # the per-epoch test ran on the BatchNorm-folded copy (effdl.fold)


def _evaluation_pass(model, dataset, *, mean, std, batch_size, precision, channels_last, limit=None):
    """Summed cross-entropy and correct count (device tensors, no sync) over the first `limit` images."""
    device = dataset.device
    if limit is not None and limit < len(dataset):
        dataset = DeviceDataset(dataset.images[:limit], dataset.labels[:limit], device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    for x, y in iterate_batches(dataset, batch_size, mean=mean, std=std, channels_last=channels_last):
        with autocast(precision, device):
            out = model(x)
        loss_sum += nn.functional.cross_entropy(out.float(), y, reduction="sum")
        correct += (out.argmax(1) == y).sum()
    return loss_sum, correct


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: DeviceDataset,
    *,
    mean,
    std,
    batch_size: int | str = "auto",
    precision: str = "fp32",
    channels_last: bool = False,
    tune_cache: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    fold_batchnorm: bool = False,
) -> tuple[float, float]:
    """(mean cross-entropy loss, accuracy in percent) of `model` on `dataset`, in eval mode, in `precision`.

    `batch_size` 'auto' takes the batch size and memory layout a short probe measured fastest for this model,
    precision and machine (effdl.autotune, cached in this process and in `tune_cache`); an integer fixes the
    batch, in the `channels_last` layout given. Neither changes the arithmetic's precision (fp32 stays fp32).
    `log` receives the plan when it was probed just now. `fold_batchnorm` evaluates the BatchNorm-folded copy of a
    plain float network (effdl.fold.evaluation_network: the same function, faster; `model` is left as it is).
    """
    model.eval()
    if fold_batchnorm:
        model = evaluation_network(model)
    kwargs = dict(mean=mean, std=std, precision=precision)
    plan = plan_evaluation(
        batch_size,
        model,
        dataset.images,
        precision=precision,
        channels_last=channels_last,
        run_pass=lambda b, cl, n: _evaluation_pass(model, dataset, batch_size=b, channels_last=cl, limit=n, **kwargs),
        cache_path=tune_cache,
    )
    if log is not None and plan.source == "probe":
        measured = ", ".join(f"{b}{' cl' if cl else ''} {r:.0f}" for b, cl, r in plan.rates)
        log(f"{plan.describe()}; probe img/s: {measured}")
    loss_sum, correct = _evaluation_pass(
        model, dataset, batch_size=plan.batch_size, channels_last=plan.channels_last, **kwargs
    )
    n = len(dataset)
    return loss_sum.item() / n, 100.0 * correct.item() / n


def _fingerprint(cfg: TrainConfig, model: nn.Module, extra: dict | None) -> str:
    """Identifies which run a checkpoint belongs to, so a changed config never resumes a stale one."""
    shapes = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    blob = json.dumps([identity_settings(cfg), shapes, extra or {}], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def training_step(
    step_model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    precision: str,
    batch_scheduler=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step on a batch (the seed's Code Cell 1.4 step), then `batch_scheduler.step()` when the schedule
    is per batch: (detached loss, logits). No host-device sync."""
    with autocast(precision, x.device):
        out = step_model(x)
    loss = nn.functional.cross_entropy(out.float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if batch_scheduler is not None:
        batch_scheduler.step()
    return loss.detach(), out


def train_epoch(
    model,
    step_model,
    optimizer,
    train_set: DeviceDataset,
    cfg: TrainConfig,
    precision: str,
    generator: torch.Generator,
    *,
    mean,
    std,
    batch_scheduler=None,
) -> tuple[torch.Tensor, float]:
    """One pass over `train_set`: (per-iteration losses on the CPU, training accuracy in percent); a per-batch
    `batch_scheduler` steps after every optimizer step.

    The step loop does only the step: losses, logits and labels are kept as they come (no per-step device
    operation for the metrics) and reduced once after the pass; small batches run on one CPU thread
    (step_threads)."""
    model.train()
    batches = iterate_batches(
        train_set,
        cfg.batch_size,
        mean=mean,
        std=std,
        augment=cfg.augment,
        shuffle=cfg.shuffle,
        generator=generator,
        channels_last=cfg.channels_last,
    )
    losses, logits, labels = [], [], []
    with step_threads(cfg.batch_size, train_set.device), flush_denormals(cfg.batch_size, train_set.device):
        for x, y in batches:
            loss, out = training_step(step_model, optimizer, x, y, precision, batch_scheduler)
            losses.append(loss)
            logits.append(out.detach())
            labels.append(y)
    if not losses:
        return torch.empty(0), float("nan")
    correct = (torch.cat(logits).argmax(1) == torch.cat(labels)).sum()
    return torch.stack(losses).float().cpu(), 100.0 * correct.item() / len(train_set)  # the epoch's one sync


def _resume(
    checkpoint_path, fingerprint: str, device: torch.device, log, data_sha256: str | None = None
) -> dict | None:
    """The saved state of this very run (matching fingerprint), or None: missing, unreadable or foreign.

    The fingerprint covers the run's identity, which includes the data's sha256 (effdl.runs): a checkpoint
    of the same run on other data (a changed subset, a replaced archive) is foreign, and the warning says so.
    """
    if checkpoint_path is None or not Path(checkpoint_path).is_file():
        return None
    try:
        state = load_checkpoint(checkpoint_path, map_location=device)
    except CheckpointError as err:
        log(f"WARNING: ignoring unreadable resume checkpoint, starting from scratch: {err}")
        return None
    if state.get("fingerprint") != fingerprint:
        saved = state.get("data_sha256")
        if saved and data_sha256 and saved != data_sha256:
            log(
                f"WARNING: {checkpoint_path} was trained on other data (sha256 {saved[:16]}..., this run reads "
                f"{data_sha256[:16]}...: a changed data set or subset); starting from scratch"
            )
        else:
            log(f"WARNING: {checkpoint_path} belongs to a different run configuration; starting from scratch")
        return None
    return state


def _restore(
    state: dict, model, optimizer, scheduler, cfg: TrainConfig, generator: torch.Generator, device: torch.device
) -> None:
    """Put model, optimizer, scheduler and every random generator back where the saved epoch left them.

    The scheduler's own state_dict is restored (exact for any scheduler, per batch or per epoch). A checkpoint
    written before schedulers were saved has none: a per-epoch scheduler is then replayed epoch by epoch (what
    such checkpoints always did, so they resume as before); a per-batch one cannot have such a checkpoint."""
    model.load_state_dict(state["model"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    elif scheduler is not None:
        if cfg.steps_per_batch:
            raise CheckpointError("checkpoint has no scheduler state, which a per-batch scheduler needs to resume")
        with warnings.catch_warnings():  # stepping a scheduler without optimizer.step() warns
            warnings.simplefilter("ignore")
            for _ in range(state["epoch"]):
                scheduler.step()
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    if device.type == "cuda" and "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"], device)


def _save_state(
    path,
    fingerprint: str,
    model,
    optimizer,
    scheduler,
    generator,
    result: TrainResult,
    iter_losses,
    device: torch.device,
    data_sha256: str | None = None,
) -> None:
    """Write the resume state after a completed epoch (atomically): model, optimizer and scheduler state_dicts,
    generators, and the records so far."""
    state = {
        "fingerprint": fingerprint,
        "data_sha256": data_sha256,
        "epoch": sum(1 for row in result.epochs if row["epoch"] >= 1),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "epochs": result.epochs,
        "iter_losses": torch.cat(iter_losses),
        "total_time_s": result.total_time_s,
    }
    if device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(device)
    save_checkpoint(state, path)


EPOCH_COLUMNS = ("epoch", "epoch_lr", "train_loss", "train_acc", "test_loss", "test_acc", "epoch_time_s")


def _epoch_row(epoch, lr, train_loss, train_acc, test_loss, test_acc, epoch_time_s) -> dict:
    """One row of TrainResult.epochs (the epochs.csv columns before hook columns); `epoch_lr` is the rate at the
    epoch's start (the configured rate is the runs' `lr` column)."""
    values = (epoch, lr, train_loss, train_acc, test_loss, test_acc, epoch_time_s)
    return dict(zip(EPOCH_COLUMNS, values, strict=True))


def _progress_record(result: TrainResult, epoch_done: int, epochs: int, epoch_times: list[float]) -> dict:
    """What a `progress` callback receives: where the run stands, its last accuracy and its ETA."""
    last = result.epochs[-1] if result.epochs else {}
    return {
        "state": "running",
        "epoch": epoch_done,
        "epochs": epochs,
        "test_acc": last.get("test_acc"),
        "train_loss": last.get("train_loss"),
        "elapsed_s": result.total_time_s,
        "eta_s": eta_seconds(epoch_done, epochs, epoch_times),
        "epoch_time_s": epoch_times[-1] if epoch_times else None,
        "compiled": result.compiled,
        "precision": result.precision,
    }


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
    progress: Callable[[dict], None] | None = None,
    cpu_compile_gain: float | None = None,
    tune_cache: str | Path | None = None,
    sgd_rates: dict[str, float] | None = None,
) -> TrainResult:
    """Train `model` per `cfg`, evaluating every epoch; resume from `checkpoint_path` when it holds this run.

    Hooks' `after_train_epoch(epoch, model)` run after each epoch's training and before its test; a hook with an
    `attach(context)` method gets a HookContext first (the run's test and training batches).
    A non-finite training loss marks the run diverged and stops it (recorded, not raised).
    The resume state is saved atomically after every epoch, never mid-epoch: a killed run loses at most
    the epoch in progress and resumes bit-identically (same device and thread count). An unreadable or
    foreign resume checkpoint is reported and ignored (training starts over), since it is only a cache.
    Every epoch line carries the run's elapsed training time and an ETA; `progress(record)` is called once
    before the first epoch and after every epoch (after its checkpoint is saved) with epoch, epochs,
    test_acc, elapsed_s, eta_s. `cfg.compile` 'auto' is resolved by resolve_compile (with `cpu_compile_gain`);
    `cfg.eval_batch_size` 'auto' by effdl.autotune's probe (cached in `tune_cache`, a JSON file, when given);
    the SGD step's implementation by fastest_sgd_impl over the benchmark's `sgd_rates` (the same arithmetic).
    """
    device = torch.device(device)
    precision = resolve_precision(cfg.precision, device)
    model.to(device=device, memory_format=torch.channels_last if cfg.channels_last else torch.contiguous_format)
    sgd_impl = fastest_sgd_impl(sgd_rates) if cfg.optimizer == "sgd" else ""
    optimizer = make_optimizer(cfg, [p for p in model.parameters() if p.requires_grad], sgd_impl)
    scheduler = make_scheduler(cfg, optimizer, steps_per_epoch=-(-len(train_set) // cfg.batch_size))
    batch_scheduler = scheduler if cfg.steps_per_batch else None
    generator = torch.Generator().manual_seed(cfg.seed)
    compiled = resolve_compile(cfg.compile, device, cfg.epochs, cpu_compile_gain)
    step_model = torch.compile(model) if compiled else model
    fingerprint = _fingerprint(cfg, model, identity)
    result, iter_losses = TrainResult(precision=precision, compiled=compiled), []
    result.test_bn_folded = cfg.fold_batchnorm and evaluation_network(model) is not model
    layout, compile_state = ("channels_last" if cfg.channels_last else "NCHW"), ("on" if compiled else "off")
    step = f", {sgd_impl} SGD step (measured fastest)" if sgd_impl else ""
    log(f"precision {precision} (engine.precision: {cfg.precision}), {layout}, torch.compile {compile_state}{step}")
    data_sha256 = (identity or {}).get("data_sha256")
    state = _resume(checkpoint_path, fingerprint, device, log, data_sha256)
    if state is not None:
        _restore(state, model, optimizer, scheduler, cfg, generator, device)
        result.epochs, iter_losses, result.total_time_s = state["epochs"], [state["iter_losses"]], state["total_time_s"]
        result.resumed_from_epoch = state["epoch"]
        log(f"resumed from {checkpoint_path} after epoch {state['epoch']}/{cfg.epochs}")

    def test_model(net: nn.Module, **probe) -> tuple[float, float]:  # probe: the evaluation batch's tune_cache, log
        kwargs = dict(batch_size=cfg.eval_batch_size, precision=precision, channels_last=cfg.channels_last)
        return evaluate(net, test_set, mean=mean, std=std, fold_batchnorm=cfg.fold_batchnorm, **kwargs, **probe)

    def test_now() -> tuple[float, float]:
        return test_model(model, tune_cache=tune_cache, log=log)

    def report(epoch_done: int) -> None:
        if progress is not None:
            progress(_progress_record(result, epoch_done, cfg.epochs, epoch_times))

    def train_batches(seed: int):
        own = torch.Generator().manual_seed(seed)
        kwargs = dict(mean=mean, std=std, shuffle=True, generator=own, channels_last=cfg.channels_last)
        return iterate_batches(train_set, cfg.batch_size, **kwargs)

    context = HookContext(test=test_model, train_batches=train_batches, precision=precision, device=device)
    for hook in hooks:
        if hasattr(hook, "attach"):
            hook.attach(context)

    if cfg.eval_before_training and not result.epochs:
        tick = time.perf_counter()
        test_loss, test_acc = test_now()
        result.total_time_s += time.perf_counter() - tick
        nan = float("nan")
        result.epochs.append(_epoch_row(0, optimizer.param_groups[0]["lr"], nan, nan, test_loss, test_acc, 0.0))

    epoch_times: list[float] = []  # this process's epochs (a resumed run's earlier ones ran elsewhere)
    report(result.resumed_from_epoch)
    for epoch in range(result.resumed_from_epoch, cfg.epochs):
        tick, lr_now = time.perf_counter(), optimizer.param_groups[0]["lr"]
        losses, train_acc = train_epoch(
            model,
            step_model,
            optimizer,
            train_set,
            cfg,
            precision,
            generator,
            mean=mean,
            std=std,
            batch_scheduler=batch_scheduler,
        )
        extra = {key: value for hook in hooks for key, value in (hook.after_train_epoch(epoch, model) or {}).items()}
        test_loss, test_acc = test_now()
        if scheduler is not None and batch_scheduler is None:
            scheduler.step()
        epoch_times.append(time.perf_counter() - tick)
        result.total_time_s += epoch_times[-1]
        iter_losses.append(losses)
        row = _epoch_row(epoch + 1, lr_now, losses.mean().item(), train_acc, test_loss, test_acc, epoch_times[-1])
        result.epochs.append({**row, **extra})
        log(
            f"epoch {epoch + 1}/{cfg.epochs} lr {lr_now:.3g} | train loss {row['train_loss']:.4f} "
            f"acc {train_acc:.2f}% | test loss {test_loss:.4f} acc {test_acc:.2f}% | {epoch_times[-1]:.1f}s | "
            + timing_text(epoch + 1, cfg.epochs, result.total_time_s, epoch_times)
        )
        if not torch.isfinite(losses).all():
            result.diverged = True
            log(f"training diverged in epoch {epoch + 1} (non-finite loss at lr={cfg.lr}); stopping this run")
            break
        if checkpoint_path is not None:
            _save_state(
                checkpoint_path,
                fingerprint,
                model,
                optimizer,
                scheduler,
                generator,
                result,
                iter_losses,
                device,
                data_sha256,
            )
        report(epoch + 1)

    n_batches = -(-len(train_set) // cfg.batch_size)
    all_losses = torch.cat(iter_losses) if iter_losses else torch.empty(0)
    result.iterations = [
        {"iteration": i, "epoch_float": i / n_batches, "loss": float(v)} for i, v in enumerate(all_losses.tolist())
    ]
    return result
