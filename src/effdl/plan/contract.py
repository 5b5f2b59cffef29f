"""The data contract (channels, image size, classes, labels) checked on a packed data set's summary, torch-free.

A packed data set is summarised as a plain dict (``summary``; written beside it as
``results/data/<name>.meta.json``): channels, height, width, class names and per-split class counts, label
range. ``effdl.data`` computes it when a data set is prepared and again when a run starts; the workflow reads
the JSON while it builds the DAG, so a run that cannot work on its data fails before any job deletes anything.
Every failure is one ``DataError`` naming the file, the config key and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path


class DataError(RuntimeError):
    """A data set cannot be found, downloaded or read, or breaks its contract; the message names the config key."""


# What each registered model needs from its data: channels, (height, width) or None for any size, and the
# number of classes (None = the model's `num_classes` keyword, default 10).
MODEL_INPUTS = {
    "convnet": {"channels": 3, "size": (32, 32)},
    "sparse_convnet": {"channels": 3, "size": (32, 32)},
    "dwconvnet": {"channels": 3, "size": (32, 32), "classes": 10},
    "mnist_mlp": {"channels": 1, "size": (28, 28), "classes": 10},
    "resnet18": {"channels": 3, "size": None},
}
# The config key that sets a model's number of classes, where one does.
CLASSES_KEY = {"resnet18": "finetune.num_classes"}


# Keys of a data set's config section that do not change the packed data (only how runs normalise it).
NORMALISATION_KEYS = ("mean", "std")


def source_key(source_cfg: dict) -> dict:
    """The part of `datasets.<name>` that determines the packed data: a summary is only valid for that."""
    return {k: v for k, v in source_cfg.items() if k not in NORMALISATION_KEYS}


def meta_path(packed_path: str | Path) -> Path:
    """results/data/cifar10.pt -> results/data/cifar10.meta.json (the summary beside the packed file)."""
    packed_path = Path(packed_path)
    return packed_path.with_name(packed_path.stem + ".meta.json")


def read_meta(packed_path: str | Path) -> dict | None:
    """The summary written beside a packed data set, or None when there is none (or it is unreadable)."""
    try:
        return json.loads(meta_path(packed_path).read_text())
    except (OSError, ValueError):
        return None


def model_classes(model: dict) -> int:
    """How many classes a spec's model {"name", **kwargs} predicts."""
    need = MODEL_INPUTS.get(model["name"], {})
    return int(need.get("classes") or model.get("num_classes", 10))


def check_summary(summary: dict, *, dataset: str, where: str, mean=None, std=None) -> None:
    """The data set's own contract: channels = len(mean) = len(std), the same non-empty classes in both splits,
    labels within the classes. Raise DataError naming `where` (the file), the config key and the fix."""
    key = f"datasets.{dataset}"
    channels, classes = summary["channels"], summary["classes"]
    shape = f"{channels}x{summary['height']}x{summary['width']}"
    if mean is not None and std is not None and not (len(mean) == len(std) == channels):
        raise DataError(
            f"data set '{dataset}' ({where}) has {shape} images ({channels} channel(s)), but {key}.mean has "
            f"{len(mean)} value(s) and {key}.std has {len(std)}. Fix: give {key}.mean and {key}.std one value "
            f"per channel ({channels} each), or point {key}.path at a {len(mean)}-channel data set."
        )
    for split in ("train", "test"):
        counts = summary["counts"][split]
        empty = [name for name, n in zip(classes, counts) if n == 0]
        if sum(counts) == 0:
            raise DataError(
                f"data set '{dataset}' ({where}) has no {split} images. Fix: point {key}.path at an "
                f"ImageFolder tree with {split}/<class>/<image> files."
            )
        if empty:
            other = "test" if split == "train" else "train"
            raise DataError(
                f"data set '{dataset}' ({where}): class(es) {empty[:5]} have {other} images but no {split} images, "
                f"so the {split} split would silently miss them. Fix: add {split}/<class>/ images for them to "
                f"{key}.path, or remove those classes from the {other} split."
            )
    if summary.get("label_min", 0) < 0 or summary.get("label_max", 0) >= len(classes):
        raise DataError(
            f"data set '{dataset}' ({where}) has labels in [{summary['label_min']}, {summary['label_max']}] but "
            f"{len(classes)} classes. Fix: rebuild it (delete {where} and re-run snakemake) from {key}.path."
        )


def check_model_fit(summary: dict, model: dict, *, dataset: str, where: str, run: str = "") -> None:
    """A run's contract: the model gets the channels, image size and number of classes it needs."""
    name = model["name"]
    need = MODEL_INPUTS.get(name)
    if need is None:
        return
    key, what = f"datasets.{dataset}", f"run {run}: " if run else ""
    got = (summary["channels"], summary["height"], summary["width"])
    size = need["size"]
    wanted = f"{need['channels']}x{size[0]}x{size[1]}" if size else f"{need['channels']}-channel"
    if got[0] != need["channels"] or (size and tuple(got[1:]) != tuple(size)):
        raise DataError(
            f"{what}model '{name}' needs {wanted} images, but data set '{dataset}' ({where}) holds "
            f"{got[0]}x{got[1]}x{got[2]} images. Fix: point {key}.path at a {wanted} data set (is it another "
            f"data set's copy?), or use a model made for these images."
        )
    check_classes(len(summary["classes"]), model, dataset=dataset, where=where, run=run)


def check_classes(n_classes: int, model: dict, *, dataset: str, where: str, run: str = "") -> None:
    """The model predicts at least as many classes as the data set has (else a label is out of range)."""
    name, n_model = model["name"], model_classes(model)
    if n_classes > n_model:
        what = f"run {run}: " if run else ""
        setting = CLASSES_KEY.get(name, f"the num_classes of model '{name}'")
        raise DataError(
            f"{what}data set '{dataset}' ({where}) has {n_classes} classes but model '{name}' predicts "
            f"{n_model} ({setting} = {n_model}), so labels >= {n_model} cannot be trained. Fix: set {setting} "
            f"to at least {n_classes}, or point datasets.{dataset}.path at a data set with at most {n_model} classes."
        )
