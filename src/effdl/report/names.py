"""Display names of the study's settings, shared by figures and text ('cosine_annealing' -> 'cosine annealing')."""

from __future__ import annotations

DISPLAY_NAMES = {
    "multistep": "MultiStep",
    "cosine_annealing": "cosine annealing",
    "none": "constant rate",
    "structured": "structured",
    "unstructured": "unstructured",
}


def display(name: object) -> str:
    """The reader's name of a setting: known names from DISPLAY_NAMES, numbers as '%g', else '_' -> ' '."""
    if isinstance(name, float):
        return f"{name:g}"
    text = str(name)
    return DISPLAY_NAMES.get(text, text.replace("_", " "))
