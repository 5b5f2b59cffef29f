"""Part 4's weights are downloaded by default, through torchvision's own API, into the torch hub cache.

No network here: a `file://` "server" directory stands in for download.pytorch.org, and a torchvision
`WeightsEnum` whose URL points at it stands in for ResNet18_Weights, so the code path is torchvision's
`get_state_dict` -> torch.hub's download with its hash check -> our own hash check of the cached file.
The served file is a randomly initialised ResNet-18 (not ImageNet) named with its own sha256 prefix, the
way torchvision names its files; nothing here claims it is pretrained beyond the plumbing under test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from torchvision.models import resnet18
from torchvision.models._api import Weights, WeightsEnum

from effdl.io import sha256_file
from effdl.models import resnet as finetune
from effdl.models.resnet import WeightsError, build_resnet18, is_pretrained, weights_source
from effdl.plan import finetune as finetune_plan

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def file_hub(tmp_path, monkeypatch):
    """A file:// weights server holding resnet18-<own sha256 prefix>.pth, wired in as IMAGENET1K_V1."""
    torch.manual_seed(7)
    state_dict = resnet18(weights=None).state_dict()
    raw = tmp_path / "raw.pth"
    torch.save(state_dict, raw)
    name = f"resnet18-{sha256_file(raw)[:8]}.pth"
    served = tmp_path / "server" / name
    served.parent.mkdir()
    raw.rename(served)
    real = finetune.IMAGENET_WEIGHTS.value
    fake = WeightsEnum("FileHubWeights", {"IMAGENET1K_V1": Weights(served.as_uri(), real.transforms, real.meta)})
    monkeypatch.setattr(finetune, "IMAGENET_WEIGHTS", fake.IMAGENET1K_V1)
    monkeypatch.setattr(finetune_plan, "IMAGENET_WEIGHTS_FILE", name)
    return {"served": served, "state_dict": state_dict, "hub": tmp_path / "hub", "name": name}


def test_default_config_downloads_and_offline_configs_do_not():
    def merged(*names):
        config = {}
        for name in names:
            config.setdefault("finetune", {}).update(
                yaml.safe_load((REPO / "config" / name).read_text()).get("finetune", {})
            )
        return config["finetune"]

    assert merged("config.yaml")["download_weights"] is True
    assert merged("config.yaml", "offline.yaml")["download_weights"] is False
    assert merged("config.yaml", "smoke.yaml")["download_weights"] is False


def test_weights_are_downloaded_into_the_hub_cache_and_hash_checked(file_hub):
    hub = file_hub["hub"]
    assert finetune_plan.plan_init("pretrained", None, False, True, hub_dir=str(hub)) == "pretrained"
    model = build_resnet18("pt_net", hub_dir=str(hub), download_weights=True, num_classes=1000)
    cached = hub / "checkpoints" / file_hub["name"]
    assert cached.is_file() and sha256_file(cached) == sha256_file(file_hub["served"])
    assert is_pretrained(model) and "downloaded via torchvision" in weights_source(model)
    torch.testing.assert_close(model.state_dict(), file_hub["state_dict"], rtol=0, atol=0)
    # the second build uses the cache (the server is gone) and says so
    file_hub["served"].unlink()
    again = build_resnet18("pt_net", hub_dir=str(hub), download_weights=True, num_classes=1000)
    assert "cached" in weights_source(again)


def test_a_corrupt_download_is_refused_and_not_cached(file_hub):
    file_hub["served"].write_bytes(file_hub["served"].read_bytes()[:-10] + b"0123456789")  # same size, wrong bytes
    with pytest.raises(WeightsError, match="hash") as err:
        build_resnet18("pt_net", hub_dir=str(file_hub["hub"]), download_weights=True)
    assert "finetune.weights_path" in str(err.value)
    assert not list((file_hub["hub"] / "checkpoints").glob("*.pth"))


def test_no_network_names_the_pre_seed_fix(file_hub):
    file_hub["served"].unlink()  # the server cannot be reached
    with pytest.raises(WeightsError, match="could not download") as err:
        build_resnet18("pt_net", hub_dir=str(file_hub["hub"]), download_weights=True, allow_random_init=True)
    message = str(err.value)
    assert "checkpoints" in message and "finetune.download_weights: false" in message
    assert "config/offline.yaml" in message


def test_without_download_an_empty_cache_still_fails_or_falls_back_as_configured(file_hub):
    with pytest.raises(WeightsError, match="finetune.download_weights: true"):
        build_resnet18("pt_net", hub_dir=str(file_hub["hub"]))
    assert not is_pretrained(build_resnet18("pt_net", hub_dir=str(file_hub["hub"]), allow_random_init=True))
