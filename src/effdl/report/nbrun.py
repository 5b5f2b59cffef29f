"""What the submission notebook's training cells call: rerun a part's runs with the study's code, log and plot them.

The notebook carries each part's run specs (the study's own, written in at build time); `REPRODUCE = "full"`
trains them as they are, `"quick"` shrinks each to one epoch on a few images per class and one seed, so every
training path (schedulers, pruning events, LoRA, PTQ, the transformer) runs in minutes on a CPU. Data come
through torchvision, or from a local ImageFolder copy (`DATA_DIR/<name>` or `DATA_DIR/<name>*.tar.gz`).

Torch-free at import (torch is imported when a function runs), so the notebook builder can import this module.
"""

from __future__ import annotations

import copy
import re
import time
from pathlib import Path

QUICK_SUBSET = {"train_per_class": 8, "test_per_class": 8, "seed": 0}
QUICK_STEPS = 30  # transformer steps in quick mode
MODES = ("recorded", "quick", "full")
# a local copy stands in for CINIC-10 (torchvision has no loader for it): the study's CPU tier does the same
STAND_INS = {"cinic10": "cifar10"}


def check_mode(mode: str) -> None:
    """REPRODUCE must be one of MODES."""
    if mode not in MODES:
        raise ValueError(f"REPRODUCE = {mode!r}; use one of {MODES}")


def retrains(mode: str, log=print) -> bool:
    """Whether a training cell retrains ("quick" or "full"); under "recorded" it says where the results are."""
    check_mode(mode)
    if mode == "recorded":
        log("REPRODUCE = 'recorded': the study's figures and logs are shown above; set 'quick' or 'full' to retrain.")
        return False
    return True


def local_copy(name: str, data_dir) -> Path | None:
    """The ImageFolder copy of data set `name` under `data_dir` (a folder or a .tar.gz), or None."""
    if not data_dir:
        return None
    root = Path(data_dir)
    for candidate in (root / name, *sorted(root.glob(f"{name}*.tar.gz"))):
        if candidate.exists():
            return candidate
    return None


def data_source(name: str, data_dir=None, quick: bool = False, download_root: str = "data") -> dict:
    """The source of data set `name`: a local ImageFolder copy when DATA_DIR has one, else torchvision."""
    subset = dict(QUICK_SUBSET) if quick else None
    for candidate in (name, STAND_INS.get(name)):
        path = local_copy(candidate, data_dir) if candidate else None
        if path is not None:
            if candidate != name:
                print(f"{name}: no local copy; the {candidate} copy stands in (same 10 classes, same layout)")
            return {"source": "imagefolder", "path": str(path), "subset": subset}
    return {"source": "torchvision", "root": download_root, "subset": subset, "stand_in": STAND_INS.get(name)}


def packed_data(name: str, data_dir=None, quick: bool = False, cache_dir: str = "data") -> str:
    """Pack data set `name` once (effdl.data.prepare_dataset) into cache_dir; returns the packed file."""
    import torch

    from effdl.data import prepare_dataset

    out = Path(cache_dir) / f"{name}{'-quick' if quick else ''}.pt"
    if not out.is_file():
        source = data_source(name, data_dir, quick, download_root=str(Path(cache_dir) / "torchvision"))
        stand_in = source.pop("stand_in", None)
        loader = stand_in if source["source"] == "torchvision" and stand_in else name
        if loader != name:
            print(f"{name}: torchvision has no loader; CIFAR-10 stands in (same 10 classes)")
        packed = prepare_dataset(loader, source)
        packed["name"] = name
        out.parent.mkdir(parents=True, exist_ok=True)
        torch.save(packed, out)
    return str(out)


def quick_spec(spec: dict) -> dict:
    """The spec shrunk to one epoch (batch 32, fp32, no compile), its schedule and pruning events moved into it."""
    spec = copy.deepcopy(spec)
    train = spec["train"]
    train.update(epochs=1, batch_size=32, precision="fp32", compile=False, channels_last=False)
    if train.get("milestones"):
        train["milestones"] = [1]
    for hook in spec.get("hooks", []):
        if "prune_epochs" in hook:
            hook["prune_epochs"] = [0]
    model = spec["model"]
    if model.get("name") == "resnet18":
        model["allow_random_init"] = True  # offline: the quick run still exercises the path from random weights
    return spec


def one_per_setting(specs: list[dict]) -> list[dict]:
    """The first seed of each setting (runs that differ only in their seed collapse to one)."""
    seen, kept = set(), []
    for spec in specs:
        key = repr({k: v for k, v in spec.items() if k not in ("seed", "run")})
        if key not in seen:
            seen.add(key)
            kept.append(spec)
    return kept


def device():
    """CUDA when there is a GPU, else the CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train_runs(specs: list[dict], mode: str, data_dir=None, *, download_weights: bool = True, log=print):
    """Train each run (all of them at "full"; one seed per setting, shrunk, at "quick"); returns
    (epochs DataFrame, {run: model}). Prints the engine's log and each run's total training time."""
    import pandas as pd

    from effdl.runs import identifiers, run_training

    check_mode(mode)
    quick = mode == "quick"
    runs = [quick_spec(s) for s in one_per_setting(specs)] if quick else [copy.deepcopy(s) for s in specs]
    dev = device()
    frames, models = [], {}
    for spec in runs:
        if spec["model"].get("name") == "resnet18":
            spec["model"].update(weights_path=None, download_weights=download_weights)
        data = packed_data(spec["dataset"], data_dir, quick)
        start = time.monotonic()
        model, result, _ = run_training(spec, data, dev, log=log)
        log(f"{spec['run']}: Total training time: {time.monotonic() - start:.1f} s")
        models[spec["run"]] = model
        setting = re.sub(r"_seed\d+$", "", spec["run"])
        rows = [{**identifiers(spec), "setting": setting, "seed": spec["seed"], **r} for r in result.epochs]
        frames.append(pd.DataFrame(rows))
    return pd.concat(frames, ignore_index=True), models


def plot_accuracy(epochs, hue: str, title: str):
    """Test accuracy per epoch, one line per `hue` value (mean over seeds); shown inline."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    frame = epochs.copy()
    frame[hue] = frame[hue].astype(str)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    sns.lineplot(data=frame, x="epoch", y="test_acc", hue=hue, marker="o", errorbar=None, ax=ax)
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", title=title)
    fig.tight_layout()
    plt.show()
    return fig


def ptq_table(models: dict, data_path: str, mean, std, bits=(8, 4, 2), quantize_fn=None):
    """Test accuracy of each trained model at fp32 and after nearest-rounding PTQ at each bit width."""
    import pandas as pd

    from effdl.compress.quant import fake_quantize_state_dict
    from effdl.data import DeviceDataset, load_packed
    from effdl.engine import evaluate

    fake = quantize_fn or fake_quantize_state_dict
    dev = device()
    test = DeviceDataset.from_packed(load_packed(data_path), "test", dev)
    rows = []
    for run, model in models.items():
        model = model.to(dev)
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        for b in (32, *bits):
            if b != 32:
                model.load_state_dict(fake(state, bits=b))
            _, acc = evaluate(model, test, mean=mean, std=std, precision="fp32")
            rows.append({"run": run, "bits": "fp32" if b == 32 else f"{b}-bit", "test_acc": acc})
        model.load_state_dict(state)
    return pd.DataFrame(rows)


def plot_bars(frame, x: str, y: str, title: str, ylabel: str):
    """A bar chart of `y` by `x`; shown inline."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    means = frame.groupby(x, sort=False)[y].mean()
    ax.bar([str(i) for i in means.index], means.values, color="#4c72b0")
    ax.set(title=title, ylabel=ylabel)
    fig.tight_layout()
    plt.show()
    return fig


def train_transformer(settings: dict, mode: str, seed: int = 43, log=print):
    """Part 5: train the transformer on digit reversal (the study's task); quick = a few steps. Returns history."""
    import pandas as pd

    from effdl.studies.seq2seq import ToyTaskConfig, train_reversal

    check_mode(mode)
    settings = dict(settings)
    if mode == "quick":
        settings.update(steps=QUICK_STEPS, eval_every=QUICK_STEPS // 2, eval_size=64, warmup_steps=5)
    cfg = ToyTaskConfig.from_dict({**settings, "seed": seed})
    start = time.monotonic()
    result = train_reversal(cfg, device(), log=log)
    log(f"Total training time: {time.monotonic() - start:.1f} s")
    return pd.DataFrame(result.history)
