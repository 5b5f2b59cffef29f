"""The data contract and read errors: one DataError naming the file or member, the config key and the fix."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from effdl.data import DataError, check_run_data, prepare_dataset, summarize, write_meta
from effdl.plan.contract import check_model_fit, read_meta
from effdl.runs import run_training


def image_folder(root: Path, *, classes=("cat", "dog"), per_class=3, size=(32, 32), mode="RGB", splits=None) -> Path:
    """A tiny ImageFolder tree: root/<split>/<class>/<i>.png."""
    rng = np.random.default_rng(0)
    for split in splits or ("train", "test"):
        for cls in classes:
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                shape = (size[1], size[0]) + ((3,) if mode == "RGB" else ())
                Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(folder / f"{i}.png")
    return root


def tar_of(folder: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz") as archive:
        archive.add(folder, arcname="data")
    return dest


def source(path, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), subset=None) -> dict:
    return {"source": "imagefolder", "path": str(path), "subset": subset, "mean": list(mean), "std": list(std)}


def test_good_data_set_packs_and_summarises(tmp_path):
    packed = prepare_dataset("cifar10", source(image_folder(tmp_path / "d")))
    summary = summarize(packed)
    assert (summary["channels"], summary["height"], summary["width"]) == (3, 32, 32)
    assert summary["counts"] == {"train": [3, 3], "test": [3, 3]} and summary["classes"] == ["cat", "dog"]
    meta = write_meta(packed, tmp_path / "results" / "data" / "cifar10.pt")
    assert meta.name == "cifar10.meta.json" and read_meta(tmp_path / "results" / "data" / "cifar10.pt") == {
        **summary,
        "source_config": None,
    }


def test_mean_of_the_wrong_length_fails_at_preparation(tmp_path):
    folder = image_folder(tmp_path / "d")
    with pytest.raises(
        DataError,
        match=r"has 3x32x32 images .* datasets\.cifar10\.mean has 1 value\(s\) and "
        r"datasets\.cifar10\.std has 1\. Fix: give",
    ) as info:
        prepare_dataset("cifar10", source(folder, mean=[0.5], std=[0.25]))
    assert str(folder) in str(info.value)


def test_three_channel_data_given_for_a_one_channel_data_set_fails_at_preparation(tmp_path):
    folder = image_folder(tmp_path / "cifar-copy")  # RGB, given as MNIST (mean/std of one channel)
    with pytest.raises(
        DataError,
        match=r"data set 'mnist' .*\(3 channel\(s\)\).*datasets\.mnist\.mean.*"
        r"or point datasets\.mnist\.path at a 1-channel data set",
    ):
        prepare_dataset("mnist", source(folder, mean=[0.1307], std=[0.3081]))


def test_class_missing_from_one_split_fails(tmp_path):
    folder = image_folder(tmp_path / "d", classes=("cat", "dog", "emu"))
    for png in (folder / "test" / "emu").iterdir():
        png.unlink()
    (folder / "test" / "emu").rmdir()
    with pytest.raises(
        DataError,
        match=r"class\(es\) \['emu'\] have train images but no test images.*"
        r"Fix: add test/<class>/ images for them to datasets\.cifar10\.path",
    ):
        prepare_dataset("cifar10", source(folder))


def run_spec(model: dict, dataset="cifar10", mean=(0.5,) * 3, std=(0.25,) * 3) -> dict:
    return {
        "part": "t",
        "run": "r",
        "dataset": dataset,
        "seed": 0,
        "model": model,
        "train": {"lr": 0.1, "epochs": 1, "batch_size": 4, "precision": "fp32"},
        "hooks": [],
        "labels": {},
        "mean": list(mean),
        "std": list(std),
    }


def test_image_size_the_model_does_not_take_fails_at_run_start(tmp_path):
    packed = prepare_dataset("cifar10", source(image_folder(tmp_path / "d", size=(28, 28))))
    with pytest.raises(
        DataError,
        match=r"run t/r: model 'convnet' needs 3x32x32 images, but data set 'cifar10' "
        r"\(results/data/cifar10\.pt\) holds 3x28x28 images\. Fix: point "
        r"datasets\.cifar10\.path",
    ):
        check_run_data(packed, run_spec({"name": "convnet"}), "results/data/cifar10.pt")


def test_wrong_data_set_for_the_model_fails_before_training(tmp_path):
    """A 3-channel set under mnist's name: run_training refuses before building the model or training."""
    packed = prepare_dataset("mnist", source(image_folder(tmp_path / "d"), mean=(0.5,) * 3, std=(0.2,) * 3))
    data = tmp_path / "mnist.pt"
    torch.save(packed, data)
    spec = run_spec({"name": "mnist_mlp", "hidden": 8}, dataset="mnist", mean=[0.1307], std=[0.3081])
    with pytest.raises(DataError, match=r"data set 'mnist' .*mnist\.pt\) has 3x32x32 images.*datasets\.mnist\.mean"):
        run_training(spec, data, torch.device("cpu"), log=lambda _: None)
    spec = {**spec, "mean": [0.5] * 3, "std": [0.2] * 3}
    with pytest.raises(DataError, match=r"model 'mnist_mlp' needs 1x28x28 images"):
        run_training(spec, data, torch.device("cpu"), log=lambda _: None)


def test_more_classes_than_the_model_predicts_names_the_setting():
    summary = {
        "channels": 3,
        "height": 32,
        "width": 32,
        "classes": [str(i) for i in range(10)],
        "counts": {"train": [1] * 10, "test": [1] * 10},
        "label_min": 0,
        "label_max": 9,
    }
    with pytest.raises(
        DataError,
        match=r"has 10 classes but model 'resnet18' predicts 3 \(finetune\.num_classes = 3\)"
        r".*Fix: set finetune\.num_classes to at least 10",
    ):
        check_model_fit(summary, {"name": "resnet18", "num_classes": 3}, dataset="cinic10", where="x.pt")
    check_model_fit(summary, {"name": "resnet18", "num_classes": 1000}, dataset="cinic10", where="x.pt")


# ---------------------------------------------------------------------------------------------
# Read errors


def test_truncated_archive_names_the_file_and_key(tmp_path):
    archive = tar_of(image_folder(tmp_path / "d", per_class=20), tmp_path / "cifar.tar.gz")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(
        DataError,
        match=rf"cannot read the archive {re.escape(str(archive))} \((EOFError|ReadError)"
        r".*truncated or corrupt\. Fix: .*datasets\.cifar10\.path",
    ):
        prepare_dataset("cifar10", source(archive))


def test_text_file_named_png_names_the_member(tmp_path):
    folder = image_folder(tmp_path / "d")
    (folder / "train" / "cat" / "1.png").write_text("this is not an image")
    archive = tar_of(folder, tmp_path / "cifar.tar.gz")
    with pytest.raises(
        DataError,
        match=r"data/train/cat/1\.png in .*cifar\.tar\.gz is not a readable image "
        r"\(UnidentifiedImageError: cannot identify image file\)\. Fix: remove or "
        r"replace that file, or point datasets\.cifar10\.path",
    ) as info:
        prepare_dataset("cifar10", source(archive))
    assert "_io.BytesIO" not in str(info.value)


def test_mixed_image_sizes_name_the_member(tmp_path):
    folder = image_folder(tmp_path / "d")
    Image.new("RGB", (28, 28)).save(folder / "test" / "dog" / "2.png")
    with pytest.raises(
        DataError,
        match=r"mixes image sizes: .*0\.png is 32x32 but .*test/dog/2\.png is 28x28.*"
        r"Fix: .*datasets\.cifar10\.path",
    ):
        prepare_dataset("cifar10", source(folder))


def test_subset_larger_than_the_data_names_the_key(tmp_path):
    subset = {"train_per_class": 2, "test_per_class": 5, "seed": 0}
    with pytest.raises(
        DataError,
        match=r"datasets\.cifar10\.subset\.test_per_class = 5, but class 'cat' has only 3 "
        r"test images in .*Fix: lower datasets\.cifar10\.subset\.test_per_class to at "
        r"most 3, or set datasets\.cifar10\.subset: null",
    ):
        prepare_dataset("cifar10", source(image_folder(tmp_path / "d"), subset=subset))
