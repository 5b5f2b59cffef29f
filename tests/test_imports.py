"""Report and workflow-facing modules import without torch, so plot/TeX jobs and the DAG build start fast."""

from __future__ import annotations

import subprocess
import sys

TORCH_FREE = ["effdl.config", "effdl.spec", "effdl.registry", "effdl.quant_variants", "effdl.finetune_plan",
              "effdl.runlog", "effdl.io", "effdl.provenance", "effdl.texgen", "effdl.plotting", "effdl.summaries",
              "effdl.latex", "effdl.part1_report", "effdl.provenance_report", "effdl.finetune_report",
              "effdl.part5_report", "effdl.quant_report", "effdl.prune_report"]


def test_workflow_facing_modules_do_not_import_torch():
    code = (f"import sys\nfor name in {TORCH_FREE!r}:\n    __import__(name)\n"
            "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"importing {TORCH_FREE} pulled in {result.stdout.strip()}"


def test_torch_modules_still_see_the_registries():
    """The registries moved out of effdl.models/effdl.engine; their old import paths keep working."""
    from effdl import engine, models, registry, spec

    assert models.MODELS is registry.MODELS and engine.TrainConfig is spec.TrainConfig
    assert models.build_model("mnist_mlp", hidden=8).fc1.out_features == 8
