"""The torch-free cost count of a configuration: images per model family, checked by hand for the CPU tier."""

from __future__ import annotations

import pytest
from conftest import REPO

from effdl.plan.cost import count_cost, load_merged_config, project_seconds, split_sizes

CONFIGS = [REPO / "config" / name for name in ("config.yaml", "offline.yaml", "cpu.yaml")]


@pytest.fixture(scope="module")
def cpu_config() -> dict:
    return load_merged_config(CONFIGS)


def test_cpu_tier_keeps_the_test_sets_whole_and_subsets_cifar10_training(cpu_config):
    assert split_sizes(cpu_config, "cifar10") == (10_000, 10_000)
    assert split_sizes(cpu_config, "mnist") == (60_000, 10_000)
    assert cpu_config["datasets"]["cifar10"]["source"] == "imagefolder"  # the offline overlay still applies


def test_convnet_training_images_match_a_hand_count(cpu_config):
    cost = count_cost(cpu_config)
    images = 10_000
    # 1.1 sweep, 1.2, 3.2 sanity, 3.3/3.4, and 3's unpruned control (one SparseConvNet per seed, 10 epochs)
    by_hand = (3 * 3 * 5 + 2 * 3 * 10 + 3 * 5 + 2 * 3 * 10 + 3 * 10) * images
    assert cost.train["convnet"] == by_hand == 2_100_000
    assert cost.runs["convnet"] == 9 + 6 + 3 + 6 + 3
    assert cost.train["mnist_mlp"] == 3 * 4 * 60_000


def test_cpu_tier_keeps_the_seeds_epochs_where_cheap_and_two_seeds_or_more(cpu_config):
    assert cpu_config["schedules"]["lr_sweep"]["epochs"] == 5 and cpu_config["prune"]["sanity"]["epochs"] == 5
    assert cpu_config["quant"]["mnist"]["epochs"] == 4
    assert len(cpu_config["seeds"]) >= 2 and len(cpu_config["dwconv"]["train"]["seeds"]) >= 2
    assert len(cpu_config["finetune"]["seeds"]) >= 2
    epochs = cpu_config["schedules"]["schedulers"]["epochs"]
    scale = epochs / 100  # milestones and pruning events scaled with the epochs
    assert cpu_config["schedules"]["schedulers"]["milestones"] == [round(m * scale + 0.49) for m in (25, 50, 75)]
    schedule = cpu_config["prune"]["schedule"]
    events = list(range(schedule["prune_start"], schedule["prune_end"] + 1, schedule["prune_every"]))
    # the seed's five 10% events, placed after a warm-up at the first milestone and ending with epochs to spare
    # (scaling 10..50 by 1/10 would prune after one epoch and leave no pruning-free epoch between events)
    assert len(events) == 5 and schedule["prune_percentage"] == 0.1
    assert events[0] >= schedule["milestones"][0] and events[-1] <= schedule["epochs"] - 1


def test_the_bn_control_adds_two_test_passes_and_its_batches_per_event(cpu_config):
    with_control = count_cost(cpu_config)
    off = load_merged_config(CONFIGS)
    off["prune"]["controls"] = {"bn_batches": 0, "unpruned": False}
    without = count_cost(off)
    events, batch = 5, cpu_config["engine"]["batch_size"]
    per_event = 2 * 10_000 + cpu_config["prune"]["controls"]["bn_batches"] * batch
    assert with_control.eval["convnet"] - without.eval["convnet"] == 2 * 3 * events * per_event + 3 * 10 * 10_000


def test_projection_scales_with_the_measured_rate(cpu_config):
    cost = count_cost(cpu_config)
    fast, slow = project_seconds(cost, 1000, 2600), project_seconds(cost, 100, 260)
    assert slow["convnet"] == pytest.approx(10 * fast["convnet"])
    assert fast["total"] == pytest.approx(sum(v for k, v in fast.items() if k != "total"))
    assert 30 * 60 < fast["total"] < 75 * 60  # sized for the AMX CPU's ~1,000 img/s
