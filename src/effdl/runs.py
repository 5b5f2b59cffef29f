"""One training run from a plain-dict spec: build the model and hooks, train, write tidy CSVs and the model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from effdl.data import DeviceDataset, check_run_data, load_packed
from effdl.engine import TrainResult, train
from effdl.io import save_checkpoint, write_csv
from effdl.measure import count_parameters
from effdl.models import build_model
from effdl.plan.registry import HOOKS, resolve
from effdl.plan.spec import TrainConfig, check_spec
from effdl.provenance import provenance


def build_hooks(spec: dict) -> list:
    """Instantiate the spec's engine hooks from the HOOKS registry."""
    return [resolve(HOOKS[h["name"]])(**{k: v for k, v in h.items() if k != "name"}) for h in spec.get("hooks", [])]


def build_run_model(spec: dict) -> torch.nn.Module:
    """Seed the global RNG, then build the spec's model (the seed calls torch.manual_seed before building)."""
    torch.manual_seed(spec["seed"])
    kwargs = {k: v for k, v in spec["model"].items() if k != "name"}
    return build_model(spec["model"]["name"], **kwargs)


def run_training(
    spec: dict,
    data_path: str | Path,
    device: torch.device,
    *,
    checkpoint_path: str | Path | None = None,
    log: Callable[[str], None] = print,
    **train_options,
) -> tuple[torch.nn.Module, TrainResult, dict]:
    """Train the run described by `spec` on the packed data set at `data_path`; returns (model, result, data meta).

    `train_options` go to effdl.engine.train (`progress`, `cpu_compile_gain`, `sgd_rates`)."""
    check_spec(spec)
    cfg = TrainConfig.from_dict({**spec["train"], "seed": spec["seed"]})
    packed = load_packed(data_path)
    check_run_data(packed, spec, data_path)  # channels, image size and classes fit the normalisation and model
    model = build_run_model(spec)
    hooks = build_hooks(spec)
    train_set = DeviceDataset.from_packed(packed, "train", device)
    test_set = DeviceDataset.from_packed(packed, "test", device)
    log(
        f"run {spec['part']}/{spec['run']}: {len(train_set)} train / {len(test_set)} test images of "
        f"{packed['source']} on {device}"
    )
    result = train(
        model,
        train_set,
        test_set,
        cfg,
        device,
        mean=spec["mean"],
        std=spec["std"],
        checkpoint_path=checkpoint_path,
        hooks=hooks,
        # the data read is part of which run this is: a resume on other data (a changed subset) starts over
        identity={**spec, "data_sha256": packed["sha256"], "data_subset": packed.get("subset")},
        log=log,
        **train_options,
    )
    meta = {
        "source": packed["source"],
        "sha256": packed["sha256"],
        "subset": packed.get("subset"),
        "n_train": len(train_set),
        "n_test": len(test_set),
    }
    return model, result, meta


def identifiers(spec: dict) -> dict:
    """The columns that say which run a row belongs to (part, run, model, lr, scheduler, labels...)."""
    cols = {
        "part": spec["part"],
        "run": spec["run"],
        "model": spec["model"]["name"],
        "dataset": spec["dataset"],
        "lr": spec["train"]["lr"],
        "optimizer": spec["train"].get("optimizer", "sgd"),
        "scheduler": spec["train"].get("scheduler", "none"),
        "epochs_planned": spec["train"]["epochs"],
        "batch_size": spec["train"]["batch_size"],
    }
    cols.update(spec.get("labels", {}))
    return cols


def write_run_outputs(
    spec: dict,
    model: torch.nn.Module,
    result: TrainResult,
    meta: dict,
    device: torch.device,
    config: dict,
    *,
    iters_csv,
    epochs_csv,
    summary_csv,
    model_path,
) -> None:
    """Write the run's tidy CSVs (every row with provenance) and its final model, each atomically."""
    prov = provenance(device, spec["seed"], config, meta)
    ident = identifiers(spec)
    run_cols = {
        **ident,
        "precision": result.precision,
        "compiled": result.compiled,
        "test_bn_folded": result.test_bn_folded,
        **prov,
    }
    write_csv(
        pd.DataFrame(
            [{**run_cols, **row} for row in result.iterations]
            or [{**run_cols, "iteration": None, "epoch_float": None, "loss": None}]
        ),
        iters_csv,
    )
    write_csv(pd.DataFrame([{**run_cols, **row} for row in result.epochs]), epochs_csv)
    total, trainable = count_parameters(model), count_parameters(model, trainable=True)
    last = result.epochs[-1] if result.epochs else {}
    summary = {
        **run_cols,
        "epochs_completed": max((r["epoch"] for r in result.epochs), default=0),
        "diverged": result.diverged,
        "final_test_acc": last.get("test_acc"),
        "best_test_acc": max((r["test_acc"] for r in result.epochs), default=None),
        "final_train_loss": last.get("train_loss"),
        "total_time_s": result.total_time_s,
        "resumed_from_epoch": result.resumed_from_epoch,
        "n_train": meta["n_train"],
        "n_test": meta["n_test"],
        "params_total": total,
        "params_trainable": trainable,
    }
    write_csv(pd.DataFrame([summary]), summary_csv)
    # plain types only: load_checkpoint's weights_only=True refuses str subclasses such as torch.__version__
    plain_prov = {k: v if v is None or isinstance(v, (bool, int, float)) else str(v) for k, v in prov.items()}
    save_checkpoint(
        {
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "spec": spec,
            "provenance": plain_prov,
        },
        model_path,
    )


def load_run_model(path) -> tuple[torch.nn.Module, dict]:
    """Rebuild a train_model run's model from its model.pt ({'state_dict', 'spec', 'provenance'}): (model, spec)."""
    from effdl.io import load_checkpoint

    run = load_checkpoint(path)
    model = build_model(**run["spec"]["model"])
    model.load_state_dict(run["state_dict"])
    return model, run["spec"]
