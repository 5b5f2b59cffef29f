"""Tests of effdl.report.deviations: a row appears exactly when the config differs from the notebook."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import yaml
from conftest import REPO
from test_config import deep_merge

from effdl.report.deviations import deviation_rows, deviations_table, network_tested_text

NOTEBOOK_LIKE = {
    "seeds": [43],
    "engine": {"batch_size": 128},
    "datasets": {"cifar10": {"subset": None}, "cinic10": {"path": None, "subset": None}},
    "schedules": {
        "lr_sweep": {"epochs": 5, "lrs": [0.0001, 0.1, 1.0]},
        "schedulers": {"epochs": 100, "milestones": [25, 50, 75], "lr": 0.1},
    },
    "quant": {
        "mnist": {"batch_size": 1, "epochs": 4, "shuffle": False, "lr": 0.001, "gamma": 0.1},
        "stochastic": {"trials": 10},
    },
    "prune": {
        "sanity": {"epochs": 5},
        "schedule": {"epochs": 100, "prune_percentage": 0.1, "prune_start": 10, "prune_every": 10, "prune_end": 50},
    },
    "finetune": {"epochs": 1, "num_classes": 1000, "allow_random_init": False, "lr": 0.01, "lora_r": 10},
    "dwconv": {"train": {"epochs": 100}},
}
RUNS = pd.DataFrame({"precision": ["fp32"], "weights": ["pretrained IMAGENET1K_V1 (sha256 ...)"]})


def settings(rows):
    return {(row["part"], row["setting"]) for row in rows}


def test_the_notebook_settings_give_no_deviation():
    assert deviation_rows(NOTEBOOK_LIKE, RUNS) == []
    assert deviations_table(NOTEBOOK_LIKE, RUNS)["setting"].tolist() == ["none"]


def test_each_changed_value_adds_its_row_and_only_that_row():
    config = copy.deepcopy(NOTEBOOK_LIKE)
    config["quant"]["mnist"]["batch_size"] = 64
    rows = deviation_rows(config, RUNS)
    assert settings(rows) == {("2", "MNIST batch size")}
    assert rows[0]["notebook"] == "1" and rows[0]["this run"] == "64"


def test_smoke_like_settings_show_precision_head_weights_subsets_and_runtime_method():
    config = copy.deepcopy(NOTEBOOK_LIKE)
    config["engine"]["batch_size"] = 32
    config["datasets"]["cifar10"]["subset"] = {"train_per_class": 32, "test_per_class": 32, "seed": 0}
    config["datasets"]["cinic10"] = {
        "path": "../shared/data/cifar10-jpeg.tar.gz",
        "subset": {"train_per_class": 8, "test_per_class": 5, "seed": 0},
    }
    config["finetune"].update(num_classes=10, allow_random_init=True)
    config["prune"]["schedule"].update(epochs=2, prune_percentage=0.25, prune_start=1, prune_every=1, prune_end=2)
    config["dwconv"]["benchmark"] = {"steps": 3, "batch_size": 8, "warmup": 1}
    runs = pd.DataFrame({"precision": ["bf16", "fp32"], "weights": ["random init, not pretrained", "x"]})
    rows = {(r["part"], r["setting"]): r for r in deviation_rows(config, runs)}
    assert rows[("all", "training precision")]["this run"] == "bf16, fp32"
    assert rows[("1, 3, 6", "training batch size")]["this run"] == "32"
    assert "subset seed 0" in rows[("1, 2, 3, 6", "CIFAR-10 data")]["this run"]
    assert ("2", "MNIST data") not in rows  # MNIST stays full
    assert rows[("4", "classifier head")]["this run"] == "10-way"
    assert rows[("4", "starting weights")]["this run"] == "random init"
    assert rows[("3.3/3.4", "pruning schedule")]["this run"] == "25% after epochs 1 and 2"
    assert rows[("4", "CINIC-10 data")]["this run"].startswith("CIFAR-10 standing in")
    assert "fixed batch of 8" in rows[("6.2", "runtime comparison")]["this run"]
    assert rows[("3.3/3.4", "pruning schedule")]["why"] == "scaled to the run length"  # no epoch after the last event
    config["dwconv"]["benchmark"]["epochs"] = 1
    config["prune"]["schedule"].update(epochs=10, prune_percentage=0.1, prune_start=3, prune_end=7)
    rows = {(r["part"], r["setting"]): r for r in deviation_rows(config, runs)}
    assert rows[("6.2", "runtime comparison")]["this run"] == "wall time of one training epoch per layer"
    assert rows[("3.3/3.4", "pruning schedule")]["this run"] == "10% after epochs 3, 4, 5, 6 and 7"
    assert rows[("3.3/3.4", "pruning schedule")]["why"].startswith("placed after 3 warm-up epochs, with 3 pruning-free")
    config["dwconv"]["benchmark"]["epochs"] = 3  # several epochs: the notebook's method, no row
    assert ("6.2", "runtime comparison") not in {(r["part"], r["setting"]) for r in deviation_rows(config, runs)}


def test_part1_settings_are_read_from_the_schedules_key():
    config = copy.deepcopy(NOTEBOOK_LIKE)
    config["schedules"]["lr_sweep"]["epochs"] = 2
    config["schedules"]["schedulers"]["milestones"] = [1]
    rows = {(r["part"], r["setting"]): r for r in deviation_rows(config, RUNS)}
    assert rows[("1.1", "epochs")]["this run"] == "2" and rows[("1.2", "MultiStep milestones")]["this run"] == "1"


# The notebook's settings as config paths (from ../shared/spec/pset2_facts.md, written out here independently of
# effdl.report.deviations): (config path, the notebook's value, the table row that must appear when they differ).
NOTEBOOK_SETTINGS = [
    (("seeds",), [43], ("all", "seeds")),
    (("engine", "batch_size"), 128, ("1, 3, 6", "training batch size")),
    (("datasets", "cifar10", "subset"), None, ("1, 2, 3, 6", "CIFAR-10 data")),
    (("datasets", "mnist", "subset"), None, ("2", "MNIST data")),
    (("schedules", "lr_sweep", "epochs"), 5, ("1.1", "epochs")),
    (("schedules", "lr_sweep", "lrs"), [0.0001, 0.1, 1.0], ("1.1", "learning rates")),
    (("schedules", "schedulers", "epochs"), 100, ("1.2", "epochs")),
    (("schedules", "schedulers", "milestones"), [25, 50, 75], ("1.2", "MultiStep milestones")),
    (("schedules", "schedulers", "lr"), 0.1, ("1.2, 3.3/3.4", "learning rate")),
    (("quant", "mnist", "batch_size"), 1, ("2", "MNIST batch size")),
    (("quant", "mnist", "shuffle"), False, ("2", "MNIST order")),
    (("quant", "mnist", "epochs"), 4, ("2", "MNIST epochs")),
    (("quant", "mnist", "lr"), 0.001, ("2", "MNIST optimizer and schedule")),
    (("quant", "mnist", "gamma"), 0.1, ("2", "MNIST optimizer and schedule")),
    (("quant", "stochastic", "trials"), 10, ("2.3", "stochastic-rounding trials")),
    (("prune", "sanity", "epochs"), 5, ("3.2", "epochs")),
    (("prune", "schedule", "epochs"), 100, ("3.3/3.4", "epochs")),
    (("prune", "schedule", "prune_percentage"), 0.1, ("3.3/3.4", "pruning schedule")),
    (("prune", "schedule", "prune_start"), 10, ("3.3/3.4", "pruning schedule")),
    (("prune", "schedule", "prune_every"), 10, ("3.3/3.4", "pruning schedule")),
    (("prune", "schedule", "prune_end"), 50, ("3.3/3.4", "pruning schedule")),
    (("finetune", "epochs"), 1, ("4", "epochs")),
    (("finetune", "num_classes"), 1000, ("4", "classifier head")),
    (("finetune", "lr"), 0.01, ("4", "learning rate")),
    (("finetune", "lora_r"), 10, ("4", "LoRA rank")),
    (("datasets", "cinic10", "subset"), None, ("4", "CINIC-10 data")),
    (("dwconv", "train", "epochs"), 100, ("6.2", "epochs")),
]


def _at(config: dict, path: tuple):
    for key in path:
        config = config.get(key) if isinstance(config, dict) else None
    return config


@pytest.mark.parametrize("overlays", [(), ("cpu.yaml",), ("smoke.yaml",), ("offline.yaml", "cpu.yaml")])
def test_the_table_lists_every_setting_where_the_resolved_config_differs_from_the_notebook(overlays):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for overlay in overlays:
        config = deep_merge(config, yaml.safe_load((REPO / "config" / overlay).read_text()))
    expected = {row for path, notebook, row in NOTEBOOK_SETTINGS if _at(config, path) != notebook}
    if _at(config, ("dwconv", "benchmark", "epochs")) < 2:  # "several epochs": fewer is a deviation
        expected.add(("6.2", "runtime comparison"))
    if "cinic10" in config["datasets"] and "cifar" in str(config["datasets"]["cinic10"].get("path") or ""):
        expected.add(("4", "CINIC-10 data"))
    runs = pd.DataFrame({"precision": ["fp32"], "weights": ["pretrained IMAGENET1K_V1 (sha256 ...)"]})
    assert settings(deviation_rows(config, runs)) == expected


def test_the_default_and_cpu_configs_train_mnist_with_the_notebooks_recipe():
    for overlays in ((), ("cpu.yaml",)):
        config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
        for overlay in overlays:
            config = deep_merge(config, yaml.safe_load((REPO / "config" / overlay).read_text()))
        rows = settings(deviation_rows(config, RUNS))
        assert not {s for s in rows if s[0] == "2" and s[1].startswith("MNIST") and s[1] != "MNIST data"}


def test_bf16_training_also_lists_bf16_evaluation():
    rows = {(r["part"], r["setting"]): r for r in deviation_rows(NOTEBOOK_LIKE, pd.DataFrame({"precision": ["bf16"]}))}
    assert rows[("all", "test-time precision")]["this run"] == "bf16"
    assert rows[("all", "training precision")]["this run"] == "bf16"


def test_a_shuffled_larger_batch_mnist_recipe_is_two_labelled_rows():
    config = copy.deepcopy(NOTEBOOK_LIKE)
    config["quant"]["mnist"].update(batch_size=64, shuffle=True)
    rows = {(r["part"], r["setting"]): r for r in deviation_rows(config, RUNS)}
    assert rows[("2", "MNIST order")]["this run"] == "reshuffled every epoch"
    assert "fewer Adam steps" in rows[("2", "MNIST batch size")]["why"]
    assert "same schedule" not in rows[("2", "MNIST batch size")]["why"]


def test_the_test_time_network_row_counts_the_runs_tested_with_batchnorm_folded():
    """A run records whether its per-epoch test ran on the BatchNorm-folded copy; the row says in how many runs,
    and disappears when none did (rows from before the column existed were tested as trained)."""
    folded = pd.DataFrame({**RUNS.iloc[[0, 0, 0]].to_dict("list"), "test_bn_folded": [True, False, True]})
    rows = {(r["part"], r["setting"]): r for r in deviation_rows(NOTEBOOK_LIKE, folded)}
    row = rows[("all", "test-time network")]
    assert row["this run"] == "BatchNorm folded into the convolution before it (2 of 3 runs)"
    as_read_back = folded.assign(test_bn_folded=["True", "True", "True"])  # a CSV's flags read back as text
    assert network_tested_text(as_read_back).endswith("(every run)")
    assert deviation_rows(NOTEBOOK_LIKE, folded.assign(test_bn_folded=False)) == []
    assert network_tested_text(RUNS) == network_tested_text(folded.assign(test_bn_folded=False))
