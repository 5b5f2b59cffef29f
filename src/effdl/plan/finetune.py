"""Part 4's plan, decided while Snakemake builds the DAG: the variants, and whether runs start pretrained or random.

Torch-free (workflow/rules/finetune.smk imports it): the torch hub directory and torchvision's weights file
name are spelled out here; tests/test_finetune.py checks both against torch and torchvision.
"""

from __future__ import annotations

import os
from pathlib import Path

VARIANTS = ("pt_net", "net_freeze", "net_freeze_lora")
INITS = ("pretrained", "random")
RANDOM_INIT_LABEL = "random init, not pretrained"
PRETRAINED_LABEL = "pretrained IMAGENET1K_V1"
# The file name of torchvision's ResNet18_Weights.IMAGENET1K_V1.url (the part after the last '/').
IMAGENET_WEIGHTS_FILE = "resnet18-f37072fd.pth"


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise ValueError naming the choices unless `value` is one of them."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


def torch_hub_dir() -> Path:
    """torch.hub.get_dir() as torch computes it when set_dir was not called: $TORCH_HOME/hub, by default
    $XDG_CACHE_HOME/torch/hub or ~/.cache/torch/hub."""
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return Path(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))) / "hub"


def hub_weights_file(hub_dir: str | None = None) -> Path:
    """Where torchvision's API caches the weights: <hub_dir>/checkpoints/resnet18-<hash>.pth."""
    root = Path(hub_dir) if hub_dir is not None else torch_hub_dir()
    return root / "checkpoints" / IMAGENET_WEIGHTS_FILE


def plan_init(
    init: str = "pretrained",
    weights_path: str | None = None,
    allow_random_init: bool = False,
    download_weights: bool = False,
    hub_dir: str | None = None,
) -> str:
    """Decide before any job runs which `init` the runs get: "pretrained" or "random".

    "random" only when it was asked for, or when no weights can be had (none configured, none cached,
    no download allowed) and `allow_random_init` is set. A missing configured file stays
    "pretrained", so the job fails with a WeightsError naming the key instead of silently degrading.
    """
    check_choice("init", init, INITS)
    if init == "random":
        return "random"
    available = weights_path is not None or download_weights or hub_weights_file(hub_dir).is_file()
    return "pretrained" if available or not allow_random_init else "random"


def init_label(init: str) -> str:
    """The label results carry for an init: PRETRAINED_LABEL or RANDOM_INIT_LABEL."""
    check_choice("init", init, INITS)
    return PRETRAINED_LABEL if init == "pretrained" else RANDOM_INIT_LABEL


def lora_rank_spec(spec: dict, rank: int, lora_r: int, lora_alpha: float) -> dict:
    """A registered net_freeze_lora run's spec (without `part`/`run`) at another rank, at the same scale
    lora_alpha / lora_r: only the adapter's rank differs (Part 4's rank control, beyond the problem set)."""
    model = {**spec["model"], "lora_r": int(rank), "lora_alpha": lora_alpha / lora_r * rank}
    labels = {**spec["labels"], "experiment": "lora_rank_control", "lora_r": int(rank)}
    return {k: v for k, v in {**spec, "model": model, "labels": labels}.items() if k not in ("part", "run")}
