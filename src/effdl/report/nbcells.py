"""The code cells of the submission notebook: setup (installs the bundled wheel), the study's run specs, each
question's inlined implementation, the problem set's tests, and each part's training cell.

Torch-free: cells are text; the implementations are inlined from src/ (effdl.report.sources.inline_closure).
Every training cell goes through one guard, `retrains(REPRODUCE)` (effdl.report.nbrun), so REPRODUCE =
"recorded" trains nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from effdl.report.sources import inline_closure

# The PyPI packages the notebook installs besides torch and torchvision (which Colab ships); the study's own
# code comes from the wheel in the notebook's folder.
PYPI_PACKAGES = (
    "numpy>=2.0,<3",
    "pandas>=2.2,<4",
    "matplotlib>=3.8,<4",
    "seaborn==0.13.2",
    "pillow>=10.0,<14",
    "pyyaml>=6.0,<7",
    "jsonschema>=4.20,<5",
)

SETUP_CELL = """\
# Setup. REPRODUCE = "recorded" shows the study's own results (saved under each question) and trains nothing;
# "quick" retrains every part with the study's code on a few images per class for one epoch (minutes on a
# CPU) and draws each part's figure; "full" retrains every run at the study's settings (hours on a GPU).
REPRODUCE = "recorded"
# Data come through torchvision (downloaded into ./data). Offline: a folder holding ImageFolder copies
# (cifar10/ and mnist/ with train/ and test/ class folders, or cifar10*.tar.gz, mnist*.tar.gz).
DATA_DIR = None
# Part 4 starts from torchvision's ImageNet weights (a download); with False, "quick" starts from random weights.
DOWNLOAD_WEIGHTS = True

import importlib.util
import platform
import subprocess
import sys
from pathlib import Path

PYPI_PACKAGES = {pypi}
if importlib.util.find_spec("effdl") is None:  # the study's code: the wheel that comes with this notebook
    wheels = sorted(Path.cwd().glob("effdl-*.whl"))
    if not wheels:
        raise FileNotFoundError(
            "effdl-*.whl is not in the notebook's folder. Fix: unzip the whole submission and open the notebook "
            "from that folder (on Colab: upload the .whl next to the notebook first)."
        )
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, *PYPI_PACKAGES], check=True)
    subprocess.run([*pip, "--no-deps", wheels[-1].name], check=True)
    importlib.invalidate_caches()

import json

import matplotlib.pyplot as plt
import torch

from effdl.report.nbrun import check_mode, packed_data, plot_accuracy, plot_bars, ptq_table, retrains, train_runs
from effdl.report.nbrun import train_transformer

check_mode(REPRODUCE)
print("python", platform.python_version(), "| torch", torch.__version__, "| REPRODUCE =", repr(REPRODUCE))
print("device:", "cuda" if torch.cuda.is_available() else "cpu")
"""

_EFFDL_IMPORT = re.compile(r"^from (effdl\.[\w.]+) import (.+)$", re.MULTILINE)


def seed_test_code(code: str, defined: set[str]) -> str:
    """A seed test's code for the notebook: names an earlier cell defines are not imported from effdl again."""

    def strip(match: re.Match) -> str:
        names = [n.strip() for n in match.group(2).split(",")]
        kept = [n for n in names if n.split(" as ")[0] not in defined]
        return f"from {match.group(1)} import {', '.join(kept)}" if kept else ""

    return re.sub(r"\n{3,}", "\n\n", _EFFDL_IMPORT.sub(strip, code)).strip()


def helpers_for_test(code: str, defined: set[str], defined_refs: set[str]) -> tuple[list[str], list]:
    """(imports, blocks) of the effdl objects `code` imports whose source depends on an object a cell defined."""
    refs = []
    for match in _EFFDL_IMPORT.finditer(code):
        for name in (n.strip().split(" as ")[0] for n in match.group(2).split(",")):
            if name in defined:
                continue
            try:
                closure = inline_closure([f"{match.group(1)}:{name}"])[1]
            except LookupError:
                continue
            if any(block.ref in defined_refs for block in closure):
                refs.append(f"{match.group(1)}:{name}")
    return inline_closure(refs, exclude=defined_refs) if refs else ([], [])


def implementation_cell(imports: Sequence[str], blocks: Sequence) -> str:
    """The code of one question's cell: its imports, then each inlined object with the file it comes from."""
    lines = ["from __future__ import annotations", "", *imports, ""]
    for block in blocks:
        where = block.path.as_posix().split("/src/", 1)[-1] if "/src/" in block.path.as_posix() else block.path.name
        lines += ["", f"# {block.ref.split(':')[1]}: from src/{where}", block.text.rstrip(), ""]
    return "\n".join(lines).strip()


TRAINING_CELLS = {
    "1": """\
# Part 1: every learning-rate sweep and scheduler run of the study.
if retrains(REPRODUCE):
    epochs1, _ = train_runs(RUNS["part1"], REPRODUCE, DATA_DIR, download_weights=DOWNLOAD_WEIGHTS)
    plot_accuracy(epochs1, hue="setting", title="Part 1: test accuracy per run")""",
    "2": """\
# Part 2: the study's MNIST networks, trained, then quantized after training with this notebook's
# fake_quantize_state_dict (Question 2.2.1) at 8, 4 and 2 bits.
if retrains(REPRODUCE):
    _, models2 = train_runs(RUNS["part2"], REPRODUCE, DATA_DIR)
    spec2 = RUNS["part2"][0]
    ptq2 = ptq_table(models2, packed_data("mnist", DATA_DIR, REPRODUCE == "quick"), spec2["mean"], spec2["std"],
                     quantize_fn=fake_quantize_state_dict)
    print(ptq2.to_string(index=False))
    plot_bars(ptq2, "bits", "test_acc", "Part 2: post-training quantization (MNIST)", "test accuracy (%)")""",
    "3": """\
# Part 3: SparseConvNet before pruning, and structured and unstructured gradual pruning.
if retrains(REPRODUCE):
    epochs3, _ = train_runs(RUNS["part3"], REPRODUCE, DATA_DIR)
    plot_accuracy(epochs3, hue="setting", title="Part 3: test accuracy per run")""",
    "4": """\
# Part 4: ResNet-18 fine-tuned three ways (full, frozen early layers, LoRA head).
if retrains(REPRODUCE):
    epochs4, _ = train_runs(RUNS["part4"], REPRODUCE, DATA_DIR, download_weights=DOWNLOAD_WEIGHTS)
    plot_accuracy(epochs4, hue="setting", title="Part 4: test accuracy during fine-tuning")""",
    "5": """\
# Part 5: the transformer trained to reverse digit sequences (the study's task and settings).
if retrains(REPRODUCE):
    history5 = train_transformer(TOY_TRANSFORMER, REPRODUCE)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(history5["step"], history5["train_loss"], marker="o")
    ax.set(xlabel="step", ylabel="training loss", title="Part 5: digit reversal")
    plt.show()""",
    "6": """\
# Part 6: DWConvNet trained as Part 1.2's ConvNet.
if retrains(REPRODUCE):
    epochs6, _ = train_runs(RUNS["part6"], REPRODUCE, DATA_DIR)
    plot_accuracy(epochs6, hue="setting", title="Part 6: test accuracy per run")""",
}


def runs_cell(runs: dict[str, list[dict]], toy: dict | None) -> str:
    lines = [
        "# The study's run specs (written in when this notebook was built): model, data set, every training",
        "# setting and seed of each run. The training cells below rerun them.",
        "RUNS = {",
    ]
    for part, specs in sorted(runs.items()):
        lines.append(f"    {json.dumps(part)}: [")
        lines += [f"        json.loads({json.dumps(json.dumps(s, sort_keys=True))})," for s in specs]
        lines.append("    ],")
    lines.append("}")
    lines.append(f"TOY_TRANSFORMER = json.loads({json.dumps(json.dumps(toy or {}, sort_keys=True))})")
    lines.append('print({part: len(specs) for part, specs in RUNS.items()}, "runs per part")')
    return "\n".join(lines)
