"""Tests of the data layer: ImageFolder archives and directories, order recovery, subsets, clear errors."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import torch
from conftest import SHARED_DATA
from PIL import Image

from effdl.data import DataError, order_items, prepare_dataset, read_imagefolder


def _png(value: int, mode: str = "L") -> bytes:
    size = (28, 28) if mode == "L" else (32, 32)
    image = Image.new(mode, size, color=value if mode == "L" else (value, 255 - value, 7))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _make_tree(root, layout, mode="L"):
    """layout: {split: [(class, file name, pixel value), ...]} written as an ImageFolder directory."""
    for split, files in layout.items():
        for cls, name, value in files:
            path = root / "top" / split / cls / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_png(value, mode))


MNIST_LIKE = {  # numeric names = original indices, spread over class folders
    "train": [("0", "1.png", 10), ("1", "3.png", 30), ("5", "0.png", 0), ("4", "2.png", 20), ("0", "4.png", 40)],
    "test": [("7", "1.png", 71), ("2", "0.png", 70)],
}


def test_numeric_names_recover_original_order(tmp_path):
    _make_tree(tmp_path, MNIST_LIKE)
    packed = read_imagefolder(tmp_path / "top")
    assert packed["classes"] == ["0", "1", "2", "4", "5", "7"]
    names = [packed["classes"][i] for i in packed["train"]["labels"]]
    assert names == ["5", "0", "4", "1", "0"]  # file order 0.png, 1.png, 2.png, 3.png, 4.png
    assert packed["train"]["images"].shape == (5, 1, 28, 28)
    assert packed["train"]["images"][:, 0, 0, 0].tolist() == [0, 10, 20, 30, 40]


def test_archive_and_directory_give_the_same_pixels(tmp_path):
    _make_tree(tmp_path, MNIST_LIKE)
    archive = tmp_path / "tree.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "top", arcname="top")
    from_dir, from_tar = read_imagefolder(tmp_path / "top"), read_imagefolder(archive)
    for split in ("train", "test"):
        assert torch.equal(from_dir[split]["images"], from_tar[split]["images"])
        assert torch.equal(from_dir[split]["labels"], from_tar[split]["labels"])
    assert len(from_tar["sha256"]) == 64 and from_tar["sha256"] != from_dir["sha256"]


def test_rgb_subset_is_seeded_and_per_class(tmp_path):
    layout = {
        split: [(cls, f"{cls}_{i}.png", i) for cls in ("cat", "dog") for i in range(6)] for split in ("train", "test")
    }
    _make_tree(tmp_path, layout, mode="RGB")
    subset = {"train_per_class": 2, "test_per_class": 1, "seed": 3}
    a = read_imagefolder(tmp_path / "top", subset)
    b = read_imagefolder(tmp_path / "top", subset)
    assert a["train"]["images"].shape == (4, 3, 32, 32)
    assert torch.bincount(a["train"]["labels"]).tolist() == [2, 2]
    assert torch.equal(a["train"]["images"], b["train"]["images"])
    c = read_imagefolder(tmp_path / "top", {**subset, "seed": 4})
    assert not torch.equal(a["train"]["images"], c["train"]["images"])


def test_missing_local_copy_names_the_config_key(tmp_path):
    with pytest.raises(DataError, match=r"datasets\.cifar10\.path.*does not exist"):
        prepare_dataset("cifar10", {"source": "imagefolder", "path": str(tmp_path / "nope.tar.gz")})


def test_failed_download_names_the_fix(tmp_path, monkeypatch):
    import torchvision

    def offline(*args, **kwargs):
        raise RuntimeError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(DataError, match=r"datasets\.mnist\.source: imagefolder"):
        prepare_dataset("mnist", {"source": "torchvision", "root": str(tmp_path)})


def test_real_mnist_copy_orders_like_torchvision():
    """The offline copy's class folders, ordered by our rule, give torchvision's first MNIST labels."""
    if not (SHARED_DATA / "mnist-png.tar.gz").exists():  # a clone has only .test/'s subset (tests/test_test_data.py)
        pytest.skip(f"needs the full offline MNIST copy at {SHARED_DATA}, which is not part of a clone")
    with tarfile.open(SHARED_DATA / "mnist-png.tar.gz") as tar:
        items = [
            (m.name.rsplit("/", 1)[1], int(m.name.split("/")[-2])) for m in tar if m.isfile() and "/train/" in m.name
        ]
    ordered = order_items(items)
    assert [label for _, label in ordered[:8]] == [5, 0, 4, 1, 9, 2, 1, 3]
    assert [int(name[:-4]) for name, _ in ordered] == list(range(60000))


SUBSET_LAYOUT = {
    split: [(cls, f"{cls}_{i}.png", i) for cls in ("cat", "dog") for i in range(6)] for split in ("train", "test")
}
SUBSET_LAYOUT["test"] = SUBSET_LAYOUT["test"][:9]  # unbalanced test split (6 cats, 3 dogs), as MNIST's


@pytest.mark.parametrize("subset", [{"train_per_class": 2, "seed": 1}, {"train_per_class": 2, "test_per_class": "all"}])
def test_a_subset_can_limit_the_training_split_alone(tmp_path, subset):
    _make_tree(tmp_path, SUBSET_LAYOUT, mode="RGB")
    packed = read_imagefolder(tmp_path / "top", subset)
    assert torch.bincount(packed["train"]["labels"]).tolist() == [2, 2]
    assert torch.bincount(packed["test"]["labels"]).tolist() == [6, 3]  # the whole, unbalanced test split
    whole = read_imagefolder(tmp_path / "top")
    assert torch.equal(packed["test"]["images"], whole["test"]["images"])


@pytest.mark.parametrize("value", [0, "half", 2.5, True])
def test_a_bad_per_class_value_names_the_key_and_the_fix(tmp_path, value):
    _make_tree(tmp_path, SUBSET_LAYOUT, mode="RGB")
    with pytest.raises(DataError, match=r"subset\.test_per_class = .* 'all'"):
        read_imagefolder(tmp_path / "top", {"train_per_class": 2, "test_per_class": value})


def _packed_file(path, n: int = 64) -> dict:
    """A small packed data set written as prepare_data writes one (effdl.io.save_checkpoint)."""
    from effdl.io import save_checkpoint

    generator = torch.Generator().manual_seed(0)
    split = {
        "images": torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=generator),
        "labels": torch.randint(0, 10, (n,), generator=generator),
    }
    packed = {"train": split, "test": split, "classes": list("abcdefghij"), "source": "synthetic", "sha256": "x"}
    save_checkpoint(packed, path)
    return packed


def test_packed_data_is_memory_mapped_not_read(tmp_path):
    """load_packed maps the file (torch.load mmap=True): the file shows in the process's memory maps, the
    tensors equal what was saved, and a data set on the CPU is used in place, not copied."""
    from effdl.data import DeviceDataset, load_packed

    path = tmp_path / "mapped_data.pt"
    packed = _packed_file(path)
    loaded = load_packed(path)
    assert str(path) in Path("/proc/self/maps").read_text()  # Linux: a mapped file is listed there
    for split in ("train", "test"):
        assert torch.equal(loaded[split]["images"], packed[split]["images"])
        assert torch.equal(loaded[split]["labels"], packed[split]["labels"])
    train = DeviceDataset.from_packed(loaded, "train", "cpu")
    assert train.images.data_ptr() == loaded["train"]["images"].data_ptr()
    read_whole = load_packed(path, mmap=False)  # the old way still works and gives the same tensors
    assert torch.equal(read_whole["train"]["images"], loaded["train"]["images"])


def test_a_legacy_or_corrupt_packed_file_still_loads_or_fails_clearly(tmp_path):
    """A file in torch's legacy (non-zip) format cannot be mapped: it is read whole instead. A truncated one
    raises CheckpointError naming the file, as before."""
    from effdl.data import load_packed
    from effdl.io import CheckpointError

    packed = _packed_file(tmp_path / "new.pt")
    torch.save(packed, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    assert torch.equal(load_packed(tmp_path / "legacy.pt")["test"]["images"], packed["test"]["images"])
    blob = (tmp_path / "new.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pt is corrupt"):
        load_packed(tmp_path / "cut.pt")
