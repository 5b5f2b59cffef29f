"""Display names of the study's settings, shared by figures and text ('cosine_annealing' -> 'cosine annealing')."""

from __future__ import annotations

DISPLAY_NAMES = {
    "multistep": "MultiStep",
    "cosine_annealing": "cosine annealing",
    "none": "constant rate",
    "structured": "structured",
    "unstructured": "unstructured",
    "sparse_convnet": "SparseConvNet (Part 3.2, unpruned)",
    "convnet": "ConvNet (Part 1.1, same lr)",
    "baseline": "ConvNet baseline (Part 1.2 MultiStep)",
    "mine": "mine (no groups)",
    "solution": "solution (groups)",
}


def display(name: object) -> str:
    """The reader's name of a setting: known names from DISPLAY_NAMES, numbers as '%g', else '_' -> ' '."""
    if isinstance(name, float):
        return f"{name:g}"
    text = str(name)
    return DISPLAY_NAMES.get(text, text.replace("_", " "))
