"""Name -> "module:attribute" registries (models, engine hooks), resolved lazily so that importing them costs nothing.

The workflow checks run specs against these names while Snakemake builds the DAG, so this module must not
import torch (a torch import costs ~3 s, paid by every `snakemake -n` and every cluster job's DAG build).
"""

from __future__ import annotations

import importlib

MODELS = {
    "convnet": "effdl.models.convnet:ConvNet",
    "mnist_mlp": "effdl.models.convnet:MNISTNet",
    "sparse_convnet": "effdl.compress.prune:SparseConvNet",
    "dwconvnet": "effdl.models.dwconv:DWConvNet",
    "resnet18": "effdl.models.resnet:build_resnet18",
}

# Engine hooks a spec can ask for by name: {"name": "prune", **kwargs} -> PruningHook(**kwargs).
HOOKS = {"prune": "effdl.compress.prune:PruningHook"}


def resolve(target: str):
    """'package.module:attribute' -> the attribute."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
