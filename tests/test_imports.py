"""The torch-free packages (effdl.plan, effdl.report) and the helpers they use import without torch."""

from __future__ import annotations

import subprocess
import sys

# Whole packages, walked module by module, plus the torch-free helpers the report and DAG code import.
TORCH_FREE_PACKAGES = ["effdl.plan", "effdl.report"]
TORCH_FREE_MODULES = [
    "effdl.io",
    "effdl.runlog",
    "effdl.provenance",
    "effdl.devices",
    "effdl.progress",
    "effdl.status",
    "effdl.runlock",
    "effdl.code_records",
    "effdl.fingerprint",
    "effdl.resources",
    "effdl.safefiles",
]

BLOCK_TORCH = """
import importlib.abc, pkgutil, sys

class BlockTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ImportError(f"torch-free code imported {name}")
        return None

sys.meta_path.insert(0, BlockTorch())
imported = []
for package in PACKAGES:
    module = importlib.import_module(package)
    imported.append(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        importlib.import_module(info.name)
        imported.append(info.name)
for name in MODULES:
    importlib.import_module(name)
    imported.append(name)
print(len(imported), sorted(imported))
"""


def test_torch_free_packages_import_with_torch_blocked():
    code = f"PACKAGES = {TORCH_FREE_PACKAGES!r}\nMODULES = {TORCH_FREE_MODULES!r}\n" + BLOCK_TORCH
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    count, names = result.stdout.split(" ", 1)
    # every module of both packages was walked (a package that lists none would pass trivially)
    assert int(count) >= 15 and "effdl.report.part3" in names and "effdl.plan.spec" in names, result.stdout


def test_torch_modules_still_see_the_registries():
    """The torch side builds models from the torch-free registry, and `effdl.quant` is the quantization module."""
    from effdl import engine, models, quant
    from effdl.compress import quant as compress_quant
    from effdl.plan import registry, spec

    assert models.MODELS is registry.MODELS and engine.TrainConfig is spec.TrainConfig
    assert models.build_model("mnist_mlp", hidden=8).fc1.out_features == 8
    assert quant is compress_quant and quant.quantize is compress_quant.quantize
