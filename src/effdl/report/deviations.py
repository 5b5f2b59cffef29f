"""The paper's "Deviations from the notebook" table: every setting where the resolved config differs from the seed.

A row appears only when this run's value differs from the notebook's, so the table (and any sentence built from
`differs`) follows the configuration: with the notebook's values it is empty.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from effdl.report.texgen import escape

# The notebook's settings (../shared/spec/pset2_facts.md; Fall 2025 template).
NOTEBOOK = {
    "batch_size": 128,
    "sweep_epochs": 5,
    "sweep_lrs": [0.0001, 0.1, 1.0],
    "sched_epochs": 100,
    "milestones": [25, 50, 75],
    "seeds": [43],
    "cifar10_train": 50000,
    "cifar10_test": 10000,
    "mnist_batch_size": 1,  # DataLoader(dataset): the defaults
    "mnist_shuffle": "unshuffled (original order every epoch)",
    "mnist_epochs": 4,
    "mnist_schedule": "Adam lr 0.001, StepLR(step_size=1, gamma=0.1)",
    "stochastic_trials": 10,
    "sanity_epochs": 5,
    "prune_epochs": 100,
    "prune_schedule": "10% after epochs 10, 20, 30, 40 and 50",
    "finetune_epochs": 1,
    "finetune_lr": 0.01,  # default_lr
    "lora_r": 10,  # "r=10 should suffice"
    "sched_lr": 0.1,
    "finetune_classes": 1000,
    "finetune_weights": "pretrained IMAGENET1K_V1",
    "cinic10_train": 90000,
    "cinic10_test": 90000,
    "dwconv_epochs": 100,
    "precision": "fp32",
    "eval_precision": "fp32",
    "test_network": "as trained (BatchNorm after each convolution)",
}


def _subset(config: dict, dataset: str) -> str:
    subset = (config.get("datasets", {}).get(dataset) or {}).get("subset")
    if not subset:
        return "full data set"
    return (
        f"{subset['train_per_class']} train / {subset['test_per_class']} test images per class "
        f"(subset seed {subset.get('seed', 0)})"
    )


def _schedule(schedule: dict) -> str:
    after = list(range(schedule["prune_start"], schedule["prune_end"] + 1, schedule["prune_every"]))
    epochs = ", ".join(str(e) for e in after[:-1]) + (" and " if len(after) > 1 else "") + str(after[-1])
    return f"{100 * schedule['prune_percentage']:g}% after epoch{'s' if len(after) > 1 else ''} {epochs}"


def _prune_why(schedule: dict) -> str:
    """Why the pruning events differ: scaled to a short run (no epoch left after the last), or placed after a warm-up
    with pruning-free epochs at the end (the scaled tiers)."""
    if not {"epochs", "prune_start", "prune_end", "prune_every"} <= set(schedule):
        return "scaled to the run length"
    after = list(range(schedule["prune_start"], schedule["prune_end"] + 1, schedule["prune_every"]))
    free = schedule["epochs"] - after[-1] if after else 0
    if free < 1 or schedule["epochs"] == NOTEBOOK["prune_epochs"]:
        return "scaled to the run length"
    return (
        f"placed after {after[0]} warm-up epoch{'s' if after[0] > 1 else ''}, with {free} pruning-free "
        f"epoch{'s' if free != 1 else ''} after the last event (scaled down, the notebook's would prune "
        "barely trained filters and leave no epoch between events)"
    )


def _listed(value) -> str:
    return (
        ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
        if isinstance(value, list)
        else str(value)
    )


def network_tested_text(summaries: pd.DataFrame) -> str:
    """How the runs' per-epoch tests saw the network: as trained, or with BatchNorm folded (effdl.fold) in how many
    of the runs (a run records `test_bn_folded`; older rows without it were tested as trained)."""
    if "test_bn_folded" not in summaries:
        return NOTEBOOK["test_network"]
    folded = summaries["test_bn_folded"].astype(str).str.lower().eq("true")
    if not folded.any():
        return NOTEBOOK["test_network"]
    share = "every run" if folded.all() else f"{int(folded.sum())} of {len(folded)} runs"
    return f"BatchNorm folded into the convolution before it ({share})"


def deviation_rows(config: dict, summaries: pd.DataFrame) -> list[dict]:
    """(part, setting, notebook, this run, why) for every setting that differs; plain text cells."""
    p1 = config.get("schedules", config.get("part1", {}))  # the key was renamed part1 -> schedules
    quant, prune = config.get("quant", {}), config.get("prune", {})
    finetune, dwconv = config.get("finetune", {}), config.get("dwconv", {})
    precisions = sorted(summaries["precision"].dropna().astype(str).unique()) if "precision" in summaries else []
    checks: list[tuple[str, str, object, Callable[[], object], str]] = [
        ("all", "seeds", NOTEBOOK["seeds"], lambda: config.get("seeds"), "repeated runs give intervals and tests"),
        (
            "all",
            "training precision",
            NOTEBOOK["precision"],
            lambda: ", ".join(precisions) or "n/a",
            "bf16 autocast where the hardware runs it fast (engine.precision)",
        ),
        (
            "all",
            "test-time precision",
            NOTEBOOK["eval_precision"],
            lambda: ", ".join(precisions) or "n/a",
            "each run is also evaluated under its training autocast, so test accuracy is measured in bf16 there",
        ),
        (
            "all",
            "test-time network",
            NOTEBOOK["test_network"],
            lambda: network_tested_text(summaries),
            "the same function, evaluated faster (engine.fold_batchnorm); in bf16 the folded weights round differently",
        ),
        (
            "1, 3, 6",
            "training batch size",
            NOTEBOOK["batch_size"],
            lambda: config.get("engine", {}).get("batch_size"),
            "smaller batches give more points per epoch on tiny subsets",
        ),
        (
            "1, 2, 3, 6",
            "CIFAR-10 data",
            "full data set",
            lambda: _subset(config, "cifar10"),
            "a seeded per-class subset keeps the run short",
        ),
        (
            "2",
            "MNIST data",
            "full data set",
            lambda: _subset(config, "mnist"),
            "a seeded per-class subset keeps the run short",
        ),
        ("1.1", "epochs", NOTEBOOK["sweep_epochs"], lambda: p1.get("lr_sweep", {}).get("epochs"), "run length"),
        (
            "1.1",
            "learning rates",
            _listed(NOTEBOOK["sweep_lrs"]),
            lambda: _listed(p1.get("lr_sweep", {}).get("lrs")),
            "sweep grid",
        ),
        ("1.2", "epochs", NOTEBOOK["sched_epochs"], lambda: p1.get("schedulers", {}).get("epochs"), "run length"),
        (
            "1.2",
            "MultiStep milestones",
            _listed(NOTEBOOK["milestones"]),
            lambda: _listed(p1.get("schedulers", {}).get("milestones")),
            "scaled to the run length",
        ),
        (
            "2",
            "MNIST batch size",
            NOTEBOOK["mnist_batch_size"],
            lambda: quant.get("mnist", {}).get("batch_size"),
            "faster, but a different recipe: that many times fewer Adam steps, which changes the 2-bit accuracies",
        ),
        (
            "2",
            "MNIST order",
            NOTEBOOK["mnist_shuffle"],
            lambda: _order(quant.get("mnist", {})),
            "a reshuffled order per epoch is a different recipe from the notebook's DataLoader",
        ),
        (
            "2",
            "MNIST optimizer and schedule",
            NOTEBOOK["mnist_schedule"],
            lambda: _mnist_schedule(quant.get("mnist", {})),
            "a different recipe",
        ),
        ("1.2, 3.3/3.4", "learning rate", NOTEBOOK["sched_lr"], lambda: p1.get("schedulers", {}).get("lr"), "lr"),
        ("2", "MNIST epochs", NOTEBOOK["mnist_epochs"], lambda: quant.get("mnist", {}).get("epochs"), "run length"),
        (
            "2.3",
            "stochastic-rounding trials",
            NOTEBOOK["stochastic_trials"],
            lambda: quant.get("stochastic", {}).get("trials"),
            "run length",
        ),
        ("3.2", "epochs", NOTEBOOK["sanity_epochs"], lambda: prune.get("sanity", {}).get("epochs"), "run length"),
        ("3.3/3.4", "epochs", NOTEBOOK["prune_epochs"], lambda: prune.get("schedule", {}).get("epochs"), "run length"),
        (
            "3.3/3.4",
            "pruning schedule",
            NOTEBOOK["prune_schedule"],
            lambda: _schedule(prune["schedule"]) if "schedule" in prune else None,
            _prune_why(prune.get("schedule", {})),
        ),
        ("4", "epochs", NOTEBOOK["finetune_epochs"], lambda: finetune.get("epochs"), "curves need more than one point"),
        ("4", "learning rate", NOTEBOOK["finetune_lr"], lambda: finetune.get("lr"), "learning rate"),
        ("4", "LoRA rank", NOTEBOOK["lora_r"], lambda: finetune.get("lora_r"), "a rank below the head's restricts it"),
        (
            "4",
            "classifier head",
            f"{NOTEBOOK['finetune_classes']}-way",
            lambda: f"{finetune.get('num_classes')}-way" if finetune.get("num_classes") else None,
            "the first 10 rows of the ImageNet head: outputs only CINIC-10's classes",
        ),
        (
            "4",
            "starting weights",
            NOTEBOOK["finetune_weights"],
            lambda: "random init"
            if finetune.get("allow_random_init") and _weights(summaries) == "random"
            else NOTEBOOK["finetune_weights"],
            "no weights file was available offline",
        ),
        ("4", "CINIC-10 data", "full data set", lambda: _cinic(config), "no offline CINIC-10 / a shorter run"),
        ("6.2", "epochs", NOTEBOOK["dwconv_epochs"], lambda: dwconv.get("train", {}).get("epochs"), "run length"),
        (
            "6.2",
            "runtime comparison",
            "wall time of several training epochs per layer",
            lambda: _runtime_method(dwconv.get("benchmark", {})),
            "run length (the per-step medians beside it isolate the layer from data loading)",
        ),
    ]
    rows = []
    for part, setting, notebook, here, why in checks:
        value = here()
        if value is None or str(value) == str(notebook):
            continue
        rows.append({"part": part, "setting": setting, "notebook": str(notebook), "this run": str(value), "why": why})
    return rows


def _order(mnist: dict) -> str | None:
    if "shuffle" not in mnist:
        return None
    return "reshuffled every epoch" if mnist["shuffle"] else NOTEBOOK["mnist_shuffle"]


def _mnist_schedule(mnist: dict) -> str | None:
    if "lr" not in mnist or "gamma" not in mnist:
        return None
    return f"Adam lr {mnist['lr']:g}, StepLR(step_size=1, gamma={mnist['gamma']:g})"


def _weights(summaries: pd.DataFrame) -> str:
    if "weights" not in summaries:
        return "n/a"
    labels = summaries["weights"].dropna().astype(str)
    return "random" if labels.str.contains("random").any() else "pretrained"


def _cinic(config: dict) -> str:
    source = config.get("datasets", {}).get("cinic10") or {}
    path = str(source.get("path") or "")
    stand_in = "CIFAR-10 standing in, " if "cifar" in path.lower() else ""
    return stand_in + _subset(config, "cinic10") if (stand_in or source.get("subset")) else "full data set"


def _runtime_method(bench: dict) -> str:
    """How 6.2.2 is timed: whole epochs (the notebook's way when there are several), or a step benchmark alone."""
    if not bench:
        return "wall time of several training epochs per layer"
    epochs = bench.get("epochs")
    if epochs is not None and epochs >= 2:
        return "wall time of several training epochs per layer"  # the step medians are an extra breakdown
    if epochs == 1:
        return "wall time of one training epoch per layer"
    return (
        f"median of {bench.get('steps')} timed training steps per layer on one fixed batch of "
        f"{bench.get('batch_size')} (after {bench.get('warmup')} warm-up steps)"
    )


def deviations_table(config: dict, summaries: pd.DataFrame) -> pd.DataFrame:
    """The deviation rows as TeX cells (escaped), or one row saying there are none."""
    rows = deviation_rows(config, summaries)
    if not rows:
        rows = [{"part": "--", "setting": "none", "notebook": "--", "this run": "--", "why": "--"}]
    return pd.DataFrame([{k: escape(v) for k, v in row.items()} for row in rows])
