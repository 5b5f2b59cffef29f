"""Known answers for the data sources' success paths: torchvision (a stand-in class), ImageFolder and download."""

from __future__ import annotations

import hashlib
import tarfile

import numpy as np
import pytest
import torch
from test_data import _make_tree

from effdl.data import DataError, prepare_dataset, read_imagefolder, read_torchvision

# numeric names (original order) spread over class folders; every test class also has train images
TREE = {
    "train": [("0", "1.png", 10), ("1", "3.png", 30), ("1", "0.png", 0), ("0", "2.png", 20), ("0", "4.png", 40)],
    "test": [("1", "1.png", 71), ("0", "0.png", 70)],
}


class FakeTorchvisionSet:
    """What read_torchvision uses of a torchvision data set: .data (N, H, W[, C]) uint8, .targets, .classes."""

    calls: list = []
    channels = 3

    def __init__(self, root, train, download):
        type(self).calls.append((root, train, download))
        n = 6 if train else 4
        shape = (n, 2, 3, self.channels) if self.channels > 1 else (n, 2, 3)
        self.data = (np.arange(np.prod(shape)) % 251).astype(np.uint8).reshape(shape) + (0 if train else 100)
        self.targets = [i % 2 for i in range(n)]
        self.classes = ["cat", "dog"]


@pytest.fixture
def fake_cifar(monkeypatch):
    import torchvision

    class Fake(FakeTorchvisionSet):
        calls = []

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", Fake)
    return Fake


def test_torchvision_source_packs_channels_first_with_a_content_hash(fake_cifar, tmp_path):
    packed = read_torchvision("cifar10", tmp_path / "tv")
    assert fake_cifar.calls == [(str(tmp_path / "tv"), True, True), (str(tmp_path / "tv"), False, True)]
    raw_train, raw_test = fake_cifar(None, True, False).data, fake_cifar(None, False, False).data
    assert packed["train"]["images"].shape == (6, 3, 2, 3) and packed["train"]["images"].dtype == torch.uint8
    assert torch.equal(packed["train"]["images"], torch.from_numpy(raw_train).permute(0, 3, 1, 2))
    assert torch.equal(packed["test"]["images"], torch.from_numpy(raw_test).permute(0, 3, 1, 2))
    assert packed["train"]["labels"].tolist() == [0, 1, 0, 1, 0, 1] and packed["test"]["labels"].tolist() == [0, 1] * 2
    assert packed["classes"] == ["cat", "dog"] and packed["source"] == "torchvision:CIFAR10"
    digest = hashlib.sha256()
    for raw, n in ((raw_train, 6), (raw_test, 4)):
        labels = np.array([i % 2 for i in range(n)], dtype=np.int64)
        digest.update(np.ascontiguousarray(raw.transpose(0, 3, 1, 2)).tobytes() + labels.tobytes())
    assert packed["sha256"] == digest.hexdigest()


def test_torchvision_source_grayscale_and_subset(monkeypatch, tmp_path):
    import torchvision

    class FakeMnist(FakeTorchvisionSet):
        calls = []
        channels = 1

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMnist)
    packed = read_torchvision("mnist", tmp_path, {"train_per_class": 2, "test_per_class": 1, "seed": 0})
    assert packed["train"]["images"].shape == (4, 1, 2, 3)
    assert torch.bincount(packed["train"]["labels"]).tolist() == [2, 2]
    assert torch.bincount(packed["test"]["labels"]).tolist() == [1, 1]  # the test split uses test_per_class
    raw = torch.from_numpy(FakeMnist(None, True, False).data)[:, None]
    rows = {tuple(img.flatten().tolist()) for img in raw}
    assert all(tuple(img.flatten().tolist()) in rows for img in packed["train"]["images"])


def test_prepare_dataset_imagefolder_names_and_records_the_subset(tmp_path):
    _make_tree(tmp_path, TREE)
    with pytest.raises(
        DataError, match=r"datasets\.mnist\.subset\.train_per_class = 3, but class '1' has only 2 train"
    ):
        prepare_dataset(
            "mnist",
            {"source": "imagefolder", "path": str(tmp_path / "top"), "subset": {"train_per_class": 3}},
        )
    packed = prepare_dataset("mnist", {"source": "imagefolder", "path": str(tmp_path / "top")})
    direct = read_imagefolder(tmp_path / "top")
    assert packed["name"] == "mnist" and packed["subset"] is None
    assert torch.equal(packed["train"]["images"], direct["train"]["images"])
    assert packed["sha256"] == direct["sha256"] and packed["classes"] == direct["classes"]


def test_prepare_dataset_download_reads_the_fetched_archive(tmp_path):
    _make_tree(tmp_path, TREE)
    root = tmp_path / "data" / "cinic10"
    root.mkdir(parents=True)
    with tarfile.open(root / "CINIC-10.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "top", arcname="top")
    cfg = {"source": "download", "root": str(root), "url": "https://example.invalid/x/CINIC-10.tar.gz"}
    packed = prepare_dataset("cinic10", cfg)
    assert packed["name"] == "cinic10" and packed["source"] == f"imagefolder:{root / 'CINIC-10.tar.gz'}"
    assert packed["train"]["images"][:, 0, 0, 0].tolist() == [0, 10, 20, 30, 40]
    subset = {"train_per_class": 1, "test_per_class": 1, "seed": 0}
    tree = tmp_path / "two"
    _make_tree(tree, {s: [(c, f"{c}{i}.png", 9 * i) for c in ("a", "b") for i in range(2)] for s in ("train", "test")})
    packed = prepare_dataset("x", {"source": "imagefolder", "path": str(tree / "top"), "subset": subset})
    assert packed["subset"] == subset and packed["subset"] is not subset
    assert packed["train"]["labels"].tolist() == [0, 1]
    with pytest.raises(DataError, match=r"downloaded archive .*nope\.tar\.gz is missing"):
        prepare_dataset("cinic10", {**cfg, "url": "https://example.invalid/nope.tar.gz"})


def test_prepare_dataset_rejects_unknown_sources_and_names():
    with pytest.raises(DataError, match=r"datasets\.x\.source = 'ftp' is unknown"):
        prepare_dataset("x", {"source": "ftp"})
    with pytest.raises(DataError, match=r"torchvision has no 'cinic10' loader"):
        prepare_dataset("cinic10", {"source": "torchvision"})
