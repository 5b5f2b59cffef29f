"""Display names of the study's settings, shared by figures and text ('cosine_annealing' -> 'cosine annealing')."""

from __future__ import annotations

from effdl.plan.registry import SCHEDULERS, choices

# Schedulers, pruning modes, granularities and models are named in effdl.plan.registry; the rest are figure labels.
DISPLAY_NAMES = {
    **{name: entry.display for name, entry in choices().items()},
    "baseline": f"ConvNet baseline (Part 1.2 {SCHEDULERS['multistep'].display})",
    "mine": "mine (no groups)",
    "solution": "solution (groups)",
}


def display(name: object) -> str:
    """The reader's name of a setting: known names from DISPLAY_NAMES, numbers as '%g', else '_' -> ' '."""
    if isinstance(name, float):
        return f"{name:g}"
    text = str(name)
    return DISPLAY_NAMES.get(text, text.replace("_", " "))


DATASET_NAMES = {"cifar10": "CIFAR-10", "cinic10": "CINIC-10", "mnist": "MNIST"}


def data_label(source: object) -> str:
    """A data source as a reader names it, without a path of the machine that built the runs:
    'torchvision:CIFAR10' -> 'CIFAR-10 (torchvision download)', 'imagefolder:../x/cifar10-jpeg.tar.gz' ->
    'CIFAR-10 (local copy)'. The name comes from the file or class itself, so a stand-in data set shows as what
    it is."""
    kind, _, where = str(source).partition(":") if ":" in str(source) else ("", "", str(source))
    stem = where.replace("\\", "/").rsplit("/", 1)[-1].lower().replace("-", "").replace("_", "")
    name = next((label for key, label in DATASET_NAMES.items() if key in stem), None)
    if kind == "torchvision":
        return f"{name or where} (torchvision download)"
    if kind == "imagefolder":
        return f"{name or 'an image folder'} (local copy)"
    return name or "an unnamed source"


def source_kind(source: object) -> str:
    """How the data were obtained, for a sentence that already names the data set: 'local copy' or
    'torchvision download'."""
    label = data_label(source)
    return label[label.index("(") + 1 : -1] if label.endswith(")") else label
