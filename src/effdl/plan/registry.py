"""The study's lists, each in one place: models, engine hooks, schedulers, PTQ roundings/granularities, pruning modes.

The schema (workflow/schemas: `$registry: <list>` becomes that list's enum), the run specs, the figures' colours and
labels (effdl.report.names, effdl.report.plotting), the paper's wording and the tests all read these, so adding a
scheduler or a pruning mode is one entry here (plus its code). Bit widths are config only (quant.bits).

Models and hooks map a name to "module:attribute", resolved lazily: the workflow checks run specs against these
names while Snakemake builds the DAG, so this module must not import torch (a torch import costs ~3 s, paid by every
`snakemake -n` and every cluster job's DAG build).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

MODELS = {
    "convnet": "effdl.models.convnet:ConvNet",
    "mnist_mlp": "effdl.models.convnet:MNISTNet",
    "sparse_convnet": "effdl.compress.prune:SparseConvNet",
    "dwconvnet": "effdl.models.dwconv:DWConvNet",
    "resnet18": "effdl.models.resnet:build_resnet18",
}

# Engine hooks a spec can ask for by name: {"name": "prune", **kwargs} -> PruningHook(**kwargs).
HOOKS = {
    "prune": "effdl.compress.prune:PruningHook",
    # Part 3's BatchNorm control: PruningHook that also tests each event before it and with re-estimated BatchNorm
    "prune_bn_control": "effdl.compress.prune_controls:BatchNormControlPruningHook",
}


@dataclass(frozen=True)
class Choice:
    """One value of a configurable list: its reader's name and its colour in every figure.

    `colour` indexes seaborn's 10-colour "colorblind" palette (kept as an index so this module needs no seaborn);
    None lets the figure pick a colour no other value in it uses."""

    display: str
    colour: int | None = None


@dataclass(frozen=True)
class Scheduler(Choice):
    """A learning-rate scheduler: `step` 'epoch' steps after each epoch's test (the seed's Code Cell 1.4), 'batch'
    after every optimizer step; `compared` lets it into Part 1.2's comparison (schedules.schedulers.names)."""

    step: str = "epoch"
    compared: bool = False
    how: str = ""  # what it does to the rate, for the paper's prose ("decays it smoothly to zero")


SCHEDULERS = {
    "none": Scheduler("constant rate", how="keeps it constant"),
    "multistep": Scheduler("MultiStep", colour=0, compared=True, how="divides it at fixed milestones"),
    "cosine_annealing": Scheduler("cosine annealing", colour=1, compared=True, how="decays it smoothly to zero"),
    "one_cycle": Scheduler(
        "OneCycleLR",
        colour=8,
        step="batch",
        compared=True,
        how="raises it to a peak and then anneals it, stepping after every batch",
    ),
    "step": Scheduler("StepLR"),  # Part 2's MNIST MLP (the seed's StepLR(step_size=1)); not configurable by name
}
# The schedules a config may name for a single run (schedules.lr_sweep.scheduler, prune.sanity.scheduler).
RUN_SCHEDULERS = tuple(name for name in SCHEDULERS if name != "step")
COMPARED_SCHEDULERS = tuple(name for name, entry in SCHEDULERS.items() if entry.compared)

# PTQ (Part 2): how values are rounded to the grid and how many shift/scale pairs a tensor gets.
ROUNDINGS = {"nearest": Choice("nearest"), "stochastic": Choice("stochastic")}
GRANULARITIES = {"tensor": Choice("tensor", colour=0), "channel": Choice("channel", colour=1)}
BATCHNORM_MODES = {
    "keep": Choice("BatchNorm kept in fp32"),
    "params": Choice("BatchNorm weight and bias quantized"),
    "all": Choice("BatchNorm parameters and running statistics quantized"),
}

# Part 3's pruning modes (effdl.compress.prune.SparseConvNet(mode=...)).
PRUNE_MODES = {"structured": Choice("structured", colour=2), "unstructured": Choice("unstructured", colour=3)}

# Model families' reader's names and colours (figures that compare models; keys as in MODELS or the CSV's labels).
MODEL_NAMES = {
    "convnet": Choice("ConvNet (Part 1.1, same lr)"),
    "sparse_convnet": Choice("SparseConvNet (Part 3.2, unpruned)", colour=7),
    "mnist_mlp": Choice("MNIST MLP"),
    "dwconvnet": Choice("DWConvNet"),
    "resnet18": Choice("ResNet-18"),
}

# Every list the schema may name with `$registry: <name>`.
ENUMS = {
    "schedulers": RUN_SCHEDULERS,
    "compared_schedulers": COMPARED_SCHEDULERS,
    "roundings": tuple(ROUNDINGS),
    "granularities": tuple(GRANULARITIES),
    "batchnorm_modes": tuple(BATCHNORM_MODES),
    "prune_modes": tuple(PRUNE_MODES),
}


def choices() -> dict[str, Choice]:
    """Every value a figure or the text names (schedulers, granularities, pruning modes, models) with its display
    name and colour; an earlier list wins a name two lists share."""
    merged: dict[str, Choice] = {}
    for table in (SCHEDULERS, GRANULARITIES, PRUNE_MODES, MODEL_NAMES):
        for name, entry in table.items():
            merged.setdefault(name, entry)
    return merged


def scheduler_steps_per_batch(name: str) -> bool:
    """True when scheduler `name` steps after every optimizer step rather than after every epoch."""
    return SCHEDULERS[name].step == "batch"


def resolve(target: str):
    """'package.module:attribute' -> the attribute."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
