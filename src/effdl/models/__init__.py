"""The study's networks, and `build_model`, which builds any model named in `effdl.plan.registry.MODELS`."""

from __future__ import annotations

from effdl.plan.registry import MODELS, resolve


def build_model(name: str, **kwargs):
    """Build a registered model by name; an unknown name raises ValueError listing the known ones."""
    if name not in MODELS:
        raise ValueError(
            f"unknown model '{name}'. Known models: {', '.join(sorted(MODELS))}. "
            "Fix: use one of them in the config (model names are documented in config/README.md)."
        )
    return resolve(MODELS[name])(**kwargs)
