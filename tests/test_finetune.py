"""Tests for effdl.models.resnet: the three ResNet-18 variants, freezing, the LoRA head and weight checks.

No network and no real ImageNet weights here: the pretrained path is exercised with a *simulated*
weights file (a randomly initialised resnet18 state_dict saved to disk). The hash it is checked
against is torchvision's real published prefix (from ResNet18_Weights.IMAGENET1K_V1.url) in the
rejection tests, and a monkeypatched prefix equal to the fake file's own sha256 in the acceptance
tests.
"""

import copy
import functools
import io
import json
import tarfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import torch
from torch import nn
from torchvision.models import ResNet18_Weights, resnet18

from effdl import archives
from effdl.compress.lora import LoRALinear
from effdl.data import DataError
from effdl.io import sha256_file
from effdl.measure import count_parameters
from effdl.models import build_model
from effdl.models import resnet as finetune
from effdl.models.resnet import (
    DEFAULT_FREEZE,
    WeightsError,
    build_resnet18,
    is_pretrained,
    weights_source,
)
from effdl.plan import finetune as finetune_plan
from effdl.plan.finetune import RANDOM_INIT_LABEL
from effdl.report import part4 as finetune_report

RANDOM = {"init": "random"}


def counts(model) -> tuple[int, int]:
    """(total, trainable) parameters."""
    return count_parameters(model), count_parameters(model, trainable=True)


@functools.cache
def _build_cached(variant, kwargs_items):
    torch.manual_seed(0)
    return build_resnet18(variant, **{**RANDOM, **dict(kwargs_items)})


def build(variant, **kwargs):
    """A random-init model, built once per argument set (seed 0) and copied: building costs ~0.3 s."""
    hashable = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items()))
    return copy.deepcopy(_build_cached(variant, hashable))


@pytest.fixture(scope="module")
def fake_weights(tmp_path_factory):
    """A state_dict file with the right keys and shapes but random values (not ImageNet)."""
    torch.manual_seed(123)
    state_dict = resnet18(weights=None).state_dict()
    path = tmp_path_factory.mktemp("weights") / "resnet18-fake.pth"
    torch.save(state_dict, path)
    return path, state_dict


@pytest.fixture
def accept_fake_hash(monkeypatch, fake_weights):
    """Simulate a genuine file: make the expected sha256 prefix equal to the fake file's own."""
    digest = sha256_file(fake_weights[0])
    monkeypatch.setattr(finetune, "expected_hash_prefix", lambda: digest[:8])


@pytest.mark.parametrize("variant", finetune_plan.VARIANTS)
def test_forward_on_32x32_gives_10_logits(variant):
    model = build(variant).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert model.variant == variant


def test_thousand_way_head_is_torchvision_resnet18():
    model = build("pt_net", num_classes=1000)
    # torchvision publishes the parameter count of its ResNet-18 in the weights' metadata
    assert counts(model) == (ResNet18_Weights.IMAGENET1K_V1.meta["num_params"],) * 2


def test_trainable_counts_follow_the_freeze_list():
    reference = resnet18(weights=None, num_classes=10)
    total = count_parameters(reference)
    frozen = sum(count_parameters(getattr(reference, name)) for name in DEFAULT_FREEZE)
    head = 512 * 10 + 10
    r = 10
    assert counts(build("pt_net")) == (total, total)
    assert counts(build("net_freeze")) == (total, total - frozen)
    lora = counts(build("net_freeze_lora", lora_r=r))
    # the LoRA head adds r*(in+out) trainable parameters and freezes the 10-way fc
    assert lora == (total + r * (512 + 10), total - frozen - head + r * (512 + 10))
    custom = counts(build("net_freeze", freeze=["conv1", "bn1"]))
    assert custom[1] == total - count_parameters(reference.conv1) - count_parameters(reference.bn1)


def test_variants_start_from_the_same_function():
    # B = 0, so net_freeze_lora computes exactly what net_freeze (and pt_net) compute at the start
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    outputs = [build(v).eval()(x) for v in finetune_plan.VARIANTS]
    assert torch.equal(outputs[0], outputs[1]) and torch.equal(outputs[1], outputs[2])


@pytest.mark.parametrize("variant", finetune_plan.VARIANTS)
def test_training_step_changes_only_intended_parameters(variant):
    model = build(variant)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    # the notebook's optimizer; frozen parameters have no grad, so SGD skips them (decay included)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 3])
    model.train()
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    frozen_prefixes = () if variant == "pt_net" else tuple(f"{m}." for m in DEFAULT_FREEZE)
    if variant == "net_freeze_lora":
        frozen_prefixes += ("fc.base.",)
    for name, p in model.named_parameters():
        if name.startswith(frozen_prefixes):
            assert not p.requires_grad and torch.equal(p, before[name]), f"{name} changed"
        else:
            assert p.requires_grad and not torch.equal(p, before[name]), f"{name} did not train"


def test_lora_head_wraps_the_net_freeze_head():
    model = build("net_freeze_lora", lora_r=4, lora_alpha=8.0)
    assert isinstance(model.fc, LoRALinear)
    assert (model.fc.r, model.fc.scaling) == (4, 2.0)
    torch.testing.assert_close(model.fc.base.weight, build("net_freeze").fc.weight, rtol=0, atol=0)


def test_random_init_is_labelled():
    model = build("pt_net")
    assert weights_source(model) == RANDOM_INIT_LABEL and not is_pretrained(model)


def test_missing_weights_fail_with_the_config_keys(tmp_path):
    with pytest.raises(WeightsError, match="finetune.weights_path") as err:
        build_resnet18("pt_net", init="pretrained", hub_dir=str(tmp_path))
    assert "finetune.allow_random_init" in str(err.value)


def test_missing_weights_allowed_fall_back_to_labelled_random_init(tmp_path):
    model = build_resnet18("pt_net", init="pretrained", hub_dir=str(tmp_path), allow_random_init=True)
    assert weights_source(model) == RANDOM_INIT_LABEL


def test_weights_path_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(WeightsError, match="finetune.weights_path"):
        build_resnet18(weights_path=str(tmp_path / "nope.pth"), allow_random_init=True)


def test_expected_hash_comes_from_torchvision_url():
    prefix = finetune.expected_hash_prefix()
    assert f"resnet18-{prefix}.pth" in ResNet18_Weights.IMAGENET1K_V1.url


def test_wrong_hash_weights_file_is_rejected(fake_weights):
    # real torchvision prefix vs. a fake file: must be rejected even when random init is allowed
    with pytest.raises(WeightsError, match="sha256"):
        build_resnet18(weights_path=str(fake_weights[0]), allow_random_init=True)


def test_wrong_hash_in_hub_cache_is_rejected(tmp_path, fake_weights):
    # simulated torch hub cache: the real file name, fake contents
    cached = finetune_plan.hub_weights_file(str(tmp_path))
    cached.parent.mkdir(parents=True)
    cached.write_bytes(fake_weights[0].read_bytes())
    with pytest.raises(WeightsError, match="sha256"):
        build_resnet18(hub_dir=str(tmp_path), allow_random_init=True)


def test_matching_weights_file_is_loaded(fake_weights, accept_fake_hash):
    path, state_dict = fake_weights
    model = build_resnet18("net_freeze", weights_path=str(path))
    assert is_pretrained(model) and path.name in weights_source(model) and str(path) not in weights_source(model)
    torch.testing.assert_close(model.layer3[0].conv1.weight, state_dict["layer3.0.conv1.weight"], rtol=0, atol=0)
    # the 10-way head keeps the first 10 rows of the 1000-way head
    torch.testing.assert_close(model.fc.weight, state_dict["fc.weight"][:10], rtol=0, atol=0)
    torch.testing.assert_close(model.fc.bias, state_dict["fc.bias"][:10], rtol=0, atol=0)


def test_matching_hub_cache_is_loaded_through_torchvision(tmp_path, fake_weights, accept_fake_hash):
    path, state_dict = fake_weights
    cached = finetune_plan.hub_weights_file(str(tmp_path))
    cached.parent.mkdir(parents=True)
    cached.write_bytes(path.read_bytes())
    model = build_resnet18("pt_net", hub_dir=str(tmp_path), num_classes=1000)
    assert "via torchvision" in weights_source(model)
    torch.testing.assert_close(model.state_dict(), state_dict, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"variant": "net_lora"}, "variant"),
        ({"init": "imagenet"}, "init"),
        ({"variant": "net_freeze", "freeze": ["layer5"]}, "layer5"),
        ({"variant": "net_freeze", "freeze": ["layer3", "fc"]}, "fc"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_resnet18(**{**RANDOM, **kwargs})


def test_plan_init_prefers_weights_and_only_falls_back_when_allowed(tmp_path, fake_weights):
    empty_hub = str(tmp_path)
    assert finetune_plan.plan_init("random") == "random"
    assert finetune_plan.plan_init("pretrained", hub_dir=empty_hub, allow_random_init=True) == "random"
    # not allowed: stay "pretrained" so the job fails loudly instead of silently degrading
    assert finetune_plan.plan_init("pretrained", hub_dir=empty_hub) == "pretrained"
    assert finetune_plan.plan_init("pretrained", str(fake_weights[0]), True, hub_dir=empty_hub) == "pretrained"
    assert finetune_plan.plan_init("pretrained", None, True, download_weights=True, hub_dir=empty_hub) == "pretrained"
    cached = finetune_plan.hub_weights_file(empty_hub)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")  # the plan only looks for the file; the job checks its hash
    assert finetune_plan.plan_init("pretrained", hub_dir=empty_hub, allow_random_init=True) == "pretrained"
    assert finetune_plan.init_label("random") == RANDOM_INIT_LABEL


def make_imagefolder_tar(path, classes, splits=("train", "test")):
    with tarfile.open(path, "w:gz") as archive:
        for split in splits:
            for cls in classes:
                info = tarfile.TarInfo(f"{split}/{cls}/img0.png")
                info.size = 3
                archive.addfile(info, io.BytesIO(b"png"))


def test_fetch_archive_downloads_and_checks_hash(tmp_path):
    # a file:// URL stands in for the CINIC-10 server (no network here); the code path is urllib's
    source = tmp_path / "CINIC-10.tar.gz"
    make_imagefolder_tar(source, archives.CINIC10_CLASSES)
    url = source.as_uri()
    digest = archives.fetch_archive(url, tmp_path / "out" / "a.tar.gz")
    assert digest == sha256_file(source) == sha256_file(tmp_path / "out" / "a.tar.gz")
    counts = archives.check_imagefolder_archive(tmp_path / "out" / "a.tar.gz")
    assert sum(counts["train"].values()) == sum(counts["test"].values()) == 10
    with pytest.raises(DataError, match="sha256"):
        archives.fetch_archive(url, tmp_path / "bad.tar.gz", sha256="0" * 64)
    assert not (tmp_path / "bad.tar.gz").exists()  # nothing half-written is left behind
    with pytest.raises(DataError, match="datasets.cinic10"):
        archives.fetch_archive((tmp_path / "missing.tar.gz").as_uri(), tmp_path / "c.tar.gz")


def test_archive_check_rejects_missing_classes_and_non_archives(tmp_path):
    partial = tmp_path / "partial.tar.gz"
    make_imagefolder_tar(partial, archives.CINIC10_CLASSES[:9])
    with pytest.raises(DataError, match="truck"):
        archives.check_imagefolder_archive(partial)
    html = tmp_path / "error.tar.gz"
    html.write_text("<html>503</html>")
    with pytest.raises(DataError, match="not a readable"):
        archives.check_imagefolder_archive(html)


def fake_results(weights=RANDOM_INIT_LABEL, source="imagefolder:../shared/data/cifar10-jpeg.tar.gz"):
    """Synthetic run CSVs (two seeds, epochs 0..2) shaped like aggregate_runs' output."""
    summary, epochs = [], []
    for i, variant in enumerate(finetune_plan.VARIANTS):
        for seed in (43, 44):
            common = {
                "variant": variant,
                "seed": seed,
                "weights": weights,
                "data_source": source,
                "run": f"{variant}_seed{seed}",
                "device": "cpu",
                "epochs_planned": 2,
                "lr": 0.01,
            }
            summary.append(
                {
                    **common,
                    "final_test_acc": 50.0 + 10 * i + seed - 43,
                    "n_train": 80,
                    "n_test": 50,
                    "params_total": 1000 + i,
                    "params_trainable": 500 - 100 * i,
                }
            )
            for epoch in range(3):
                epochs.append(
                    {
                        **common,
                        "epoch": epoch,
                        "test_acc": 10.0 + 20 * epoch + i,
                        "epoch_time_s": 0.0 if epoch == 0 else 4.0 - i,
                        "git_commit": "abc",
                    }
                )
    return pd.DataFrame(summary), pd.DataFrame(epochs)


def test_report_labels_random_init_and_stand_in_data():
    summary, epochs = fake_results()
    macros = finetune_report.finetune_macros(summary, epochs, num_classes=10, lora_r=10, lora_alpha=10)
    assert "random init" in macros["PfourWeights"] and "random initialisation" in macros["PfourRandomInitNote"]
    assert macros["PfourData"] == "CIFAR-10 standing in for CINIC-10"
    assert macros["PfourPreAccPtNet"] == "10.00"  # epoch 0 = before fine-tuning
    assert macros["PfourAccNetFreezeLora"].startswith("70.50")  # mean of 70 and 71
    # epoch 0 (evaluation only) excluded from the epoch times: 3 s frozen against 4 s in full
    assert "(3.0 against 4.0\\,s)" in macros["PfourFreezeSpeedSentence"]
    assert "\\texttt{net\\_freeze\\_lora}" in macros["PfourBestSentence"]
    assert "PfourEpochTimePtNet" not in macros and "PfourPreAccNetFreeze" not in macros  # the paper quotes neither
    pretrained, _ = fake_results(
        weights=finetune_plan.PRETRAINED_LABEL, source="imagefolder:data/cinic10/CINIC-10.tar.gz"
    )
    macros = finetune_report.finetune_macros(pretrained, epochs, num_classes=10, lora_r=10, lora_alpha=10)
    assert macros["PfourRandomInitNote"] == "" and macros["PfourData"] == "CINIC-10"


def test_report_head_sizes_match_lora_linear():
    for num_classes in (10, 1000):
        heads = finetune_report.head_parameters(num_classes, lora_r=10)
        lora = LoRALinear(nn.Linear(512, num_classes), r=10)
        assert count_parameters(lora.base) == heads["plain"]
        assert count_parameters(lora, trainable=True) == heads["lora"]


def test_report_table_and_figure(tmp_path):
    summary, epochs = fake_results()
    table = finetune_report.finetune_table(summary, epochs)
    assert len(table) == 3 and table["acc. before (\\%)"].iloc[0].startswith("10.00")
    fig = finetune_report.finetune_figure(epochs)
    assert "random init, not pretrained" in fig.axes[0].get_title()
    assert len(fig.axes[0].get_lines()) >= 3  # one line per model
    plt.close(fig)


def test_built_through_the_model_registry_from_plain_config():
    kwargs = {
        "variant": "net_freeze_lora",
        "init": "random",
        "weights_path": None,
        "download_weights": False,
        "num_classes": 10,
        "freeze": ["conv1", "bn1"],
        "lora_r": 4,
        "lora_alpha": 4,
    }
    json.dumps(kwargs)  # a run spec travels as JSON-like params
    torch.manual_seed(0)
    model = build_model("resnet18", **kwargs)
    assert isinstance(model.fc, LoRALinear) and not model.conv1.weight.requires_grad
    assert model.layer1[0].conv1.weight.requires_grad


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"TORCH_HOME": "/opt/th"},
        {"XDG_CACHE_HOME": "/var/cache/x"},
        {"TORCH_HOME": "~/th", "XDG_CACHE_HOME": "/var/cache/x"},
    ],
)
def test_torch_free_plan_agrees_with_torch_and_torchvision(monkeypatch, env):
    """finetune_plan spells out torch's hub directory and torchvision's file name (to stay torch-free at DAG build)."""
    for name in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert finetune_plan.torch_hub_dir() == Path(torch.hub.get_dir())
    assert finetune_plan.IMAGENET_WEIGHTS_FILE == ResNet18_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1]


def test_best_sentence_names_every_model_tied_for_the_highest_accuracy():
    summary, epochs = fake_results()
    untied = finetune_report.finetune_macros(summary, epochs, num_classes=10, lora_r=10, lora_alpha=10)
    assert "tie" not in untied["PfourBestSentence"] and "net\\_freeze\\_lora" in untied["PfourBestSentence"]
    tied = summary.assign(final_test_acc=50.0)
    macros = finetune_report.finetune_macros(tied, epochs, num_classes=10, lora_r=10, lora_alpha=10)
    assert macros["PfourBestSentence"].endswith("tie for the highest accuracy")
    assert macros["PfourBestSentence"].count("\\texttt") == summary["variant"].nunique()


def test_a_slower_frozen_epoch_is_not_called_faster():
    """'N x as fast' only when freezing made the epoch faster; a slower one (a loaded machine) is said so."""
    summary, epochs = fake_results()  # net_freeze's epochs take 3 s against pt_net's 4 s
    macros = finetune_report.finetune_macros(summary, epochs, num_classes=10, lora_r=10, lora_alpha=10)
    assert macros["PfourFreezeSpeedSentence"].startswith("makes an epoch 1.33$\\times$")  # 4 s / 3 s
    slower = epochs.assign(epoch_time_s=epochs["epoch_time_s"].where(epochs["variant"] != "net_freeze", 9.0))
    macros = finetune_report.finetune_macros(summary, slower, num_classes=10, lora_r=10, lora_alpha=10)
    assert macros["PfourFreezeSpeedSentence"].startswith("did not make an epoch faster in this run (9.0 against 4.0")
    assert "as fast" not in macros["PfourFreezeSpeedSentence"]
