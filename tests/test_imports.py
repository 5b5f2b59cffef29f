"""Report and workflow-facing modules import without torch, so plot/TeX jobs and the DAG build start fast."""

from __future__ import annotations

import subprocess
import sys

TORCH_FREE = [
    "effdl.plan.config",
    "effdl.plan.spec",
    "effdl.plan.registry",
    "effdl.plan.quant_variants",
    "effdl.plan.finetune",
    "effdl.runlog",
    "effdl.io",
    "effdl.provenance",
    "effdl.report.texgen",
    "effdl.report.plotting",
    "effdl.report.summaries",
    "effdl.report.latex",
    "effdl.report.part1",
    "effdl.report.provenance",
    "effdl.report.part4",
    "effdl.report.part5",
    "effdl.report.part2",
    "effdl.report.part3",
]


def test_workflow_facing_modules_do_not_import_torch():
    code = (
        f"import sys\nfor name in {TORCH_FREE!r}:\n    __import__(name)\n"
        "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"importing {TORCH_FREE} pulled in {result.stdout.strip()}"


def test_torch_modules_still_see_the_registries():
    """The torch side builds models from the torch-free registry, and `effdl.quant` is the quantization module."""
    from effdl import engine, models, quant
    from effdl.compress import quant as compress_quant
    from effdl.plan import registry, spec

    assert models.MODELS is registry.MODELS and engine.TrainConfig is spec.TrainConfig
    assert models.build_model("mnist_mlp", hidden=8).fc1.out_features == 8
    assert quant is compress_quant and quant.quantize is compress_quant.quantize
