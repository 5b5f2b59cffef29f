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
