"""ResNet-18 for Part 4's transfer learning: ImageNet weights, frozen early layers, a LoRA head.

`build_resnet18(...)` (registered as `effdl.models.build_model("resnet18", **kwargs)`) builds one of
the notebook's three models from the same starting point:
  pt_net           every parameter trains,
  net_freeze       the modules named in `freeze` are frozen (default: everything before layer4),
  net_freeze_lora  net_freeze with the classifier wrapped in a frozen-base `LoRALinear`.

Weights come from torchvision's own API (`ResNet18_Weights.IMAGENET1K_V1`, cached under the torch
hub directory, i.e. $TORCH_HOME/hub/checkpoints), or from a local file named by `weights_path`.
Either file must match the sha256 prefix torchvision publishes in the weights URL's file name.
Without weights the build fails, unless `allow_random_init` is set; the model's `weights_source`
attribute then reads RANDOM_INIT_LABEL so that every result can say so.
"""

import fcntl
import re
import urllib.error
from pathlib import Path

import torch
from torch import nn
from torchvision.models import ResNet18_Weights, resnet18

from effdl.compress.lora import LoRALinear
from effdl.io import sha256_file
from effdl.plan.finetune import INITS, RANDOM_INIT_LABEL, VARIANTS, check_choice, hub_weights_file

DEFAULT_FREEZE = ("conv1", "bn1", "layer1", "layer2", "layer3")
IMAGENET_WEIGHTS = ResNet18_Weights.IMAGENET1K_V1
# config keys named in error messages (the `finetune:` section of config/config.yaml)
_CONFIG = "finetune"
# what fills the torch hub cache on a machine with a network (docs/configuration.md: "Pretrained weights")
PRESEED_COMMAND = "python -c 'import torchvision as tv; tv.models.resnet18(weights=\"IMAGENET1K_V1\")'"


class WeightsError(RuntimeError):
    """Pretrained weights are missing or do not match torchvision's published hash."""


def expected_hash_prefix() -> str:
    """The sha256 prefix torchvision publishes for IMAGENET1K_V1 (from the URL's file name)."""
    file_name = IMAGENET_WEIGHTS.url.rsplit("/", 1)[-1]  # e.g. resnet18-f37072fd.pth
    match = re.search(r"-([a-f0-9]+)\.", file_name)  # same pattern as torch.hub.HASH_REGEX
    if match is None:
        raise WeightsError(f"no sha256 prefix in torchvision's weights file name {file_name!r}")
    return match.group(1)


def check_weights_hash(path: Path, config_key: str) -> str:
    """Raise WeightsError unless the file's sha256 starts with torchvision's prefix; return the sha256."""
    prefix = expected_hash_prefix()
    actual = sha256_file(path)
    if not actual.startswith(prefix):
        raise WeightsError(
            f"{path} is not torchvision's ResNet18_Weights.IMAGENET1K_V1: its sha256 starts with "
            f"{actual[: len(prefix)]}, expected {prefix} ({IMAGENET_WEIGHTS.url}). Replace the file "
            f"with the official download or change {config_key}."
        )
    return actual


def load_pretrained_state_dict(
    weights_path: str | None = None, hub_dir: str | None = None, download: bool = False
) -> tuple[dict, str] | None:
    """Return (ImageNet state_dict, description of its source), or None when none is available.

    `weights_path` (a local file) wins; otherwise the torch hub cache is used through torchvision's
    API, which downloads into it only when `download` is set (there may be no network).
    """
    if weights_path is not None:
        path = Path(weights_path)
        if not path.is_file():
            raise WeightsError(
                f"{_CONFIG}.weights_path = {weights_path!r} does not exist. Point it at a copy of "
                f"{IMAGENET_WEIGHTS.url} or set it to null to use the torch hub cache."
            )
        digest = check_weights_hash(path, f"{_CONFIG}.weights_path")
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
        return state_dict, f"ImageNet IMAGENET1K_V1 from {path.name} (sha256 {digest})"
    cached = hub_weights_file(hub_dir)
    how = "cached"
    if not cached.is_file():
        if not download:
            return None
        download_weights(cached)
        how = "downloaded"
    # torch.hub checks the hash only while downloading, so check the cached file every time
    digest = check_weights_hash(cached, "the torch hub cache ($TORCH_HOME)")
    state_dict = IMAGENET_WEIGHTS.get_state_dict(model_dir=str(cached.parent), progress=False, weights_only=True)
    return state_dict, f"ImageNet IMAGENET1K_V1 {how} via torchvision (sha256 {digest})"


def download_weights(cached: Path) -> None:
    """Fetch IMAGENET1K_V1 into the hub cache through torchvision's API (torch.hub checks the hash on the way).

    One job downloads at a time (a lock file next to the cache); the others then find the file. Failures raise
    WeightsError naming the fixes: pre-seed the cache, a local `weights_path`, or the offline configuration.
    """
    cached.parent.mkdir(parents=True, exist_ok=True)
    with open(cached.parent / f".{cached.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cached.is_file():
            return
        try:
            IMAGENET_WEIGHTS.get_state_dict(
                model_dir=str(cached.parent), progress=False, check_hash=True, weights_only=True
            )
        except (urllib.error.URLError, OSError) as err:
            raise WeightsError(
                f"could not download {IMAGENET_WEIGHTS.url} into {cached.parent} ({err}). Fix one of: pre-seed "
                f"the cache on a machine with a network (`{PRESEED_COMMAND}`, or copy {cached.name} into "
                f"{cached.parent}; set $TORCH_HOME to share one cache), set {_CONFIG}.weights_path to a local "
                f"copy, or run offline: --configfile config/offline.yaml (sets {_CONFIG}.download_weights: false; "
                f"add {_CONFIG}.allow_random_init: true for a random start, labelled '{RANDOM_INIT_LABEL}')."
            ) from err
        except RuntimeError as err:  # torch.hub: 'invalid hash value (expected ..., got ...)'; nothing is cached
            raise WeightsError(
                f"the download of {IMAGENET_WEIGHTS.url} failed torchvision's hash check ({err}); it was not "
                f"cached. Retry later, or set {_CONFIG}.weights_path to a verified local copy."
            ) from err


def _missing_weights_message(hub_dir: str | None) -> str:
    return (
        f"No ImageNet weights for ResNet-18: {hub_weights_file(hub_dir)} does not exist and "
        f"{_CONFIG}.weights_path is not set. Fix one of: put {IMAGENET_WEIGHTS.url} there (or run "
        f"`{PRESEED_COMMAND}` on a machine with a network), set {_CONFIG}.weights_path to a local copy, set "
        f"{_CONFIG}.download_weights: true, or set {_CONFIG}.allow_random_init: true to train "
        f"from a random start (results are then labelled '{RANDOM_INIT_LABEL}')."
    )


def freeze_modules_(model: nn.Module, names: list[str] | tuple[str, ...]) -> None:
    """Set requires_grad=False on every parameter of the named top-level children of `model`.

    BatchNorm running statistics in frozen modules still update in train mode, as in the notebook.
    """
    children = dict(model.named_children())
    for name in names:
        if name not in children:
            raise ValueError(f"cannot freeze {name!r}: ResNet-18 has no such module; choose from {', '.join(children)}")
        if name == "fc":
            raise ValueError("cannot freeze 'fc': the classification layer must stay trainable")
        for p in children[name].parameters():
            p.requires_grad_(False)


def build_resnet18(
    variant: str = "pt_net",
    init: str = "pretrained",
    weights_path: str | None = None,
    allow_random_init: bool = False,
    download_weights: bool = False,
    num_classes: int = 10,
    freeze: list[str] | tuple[str, ...] = DEFAULT_FREEZE,
    lora_r: int = 10,
    lora_alpha: float = 10.0,
    hub_dir: str | None = None,
) -> nn.Module:
    """Build one of the three Part 4 models (all arguments are plain config values).

    The classifier keeps the first `num_classes` rows of the (pretrained) 1000-way `fc`: with
    num_classes=1000 this is the notebook's model unchanged; with 10 it is the notebook's model
    without the 990 logits that CINIC-10 labels never select. The returned model carries
    `weights_source` (a description, or RANDOM_INIT_LABEL) and `variant` attributes.
    """
    check_choice("variant", variant, VARIANTS)
    check_choice("init", init, INITS)
    if not 1 <= num_classes <= 1000:
        raise ValueError(f"num_classes must be in 1..1000 (rows of the ImageNet head), got {num_classes}")

    model = resnet18(weights=None)  # 1000-way; torchvision's own random init
    source = RANDOM_INIT_LABEL
    if init == "pretrained":
        loaded = load_pretrained_state_dict(weights_path, hub_dir, download_weights)
        if loaded is not None:
            state_dict, source = loaded
            model.load_state_dict(state_dict)
        elif not allow_random_init:
            raise WeightsError(_missing_weights_message(hub_dir))

    if num_classes != model.fc.out_features:
        head = nn.Linear(model.fc.in_features, num_classes)  # (512 -> num_classes)
        with torch.no_grad():
            head.weight.copy_(model.fc.weight[:num_classes])
            head.bias.copy_(model.fc.bias[:num_classes])
        model.fc = head

    if variant in ("net_freeze", "net_freeze_lora"):
        freeze_modules_(model, freeze)
    if variant == "net_freeze_lora":
        model.fc = LoRALinear(model.fc, r=lora_r, alpha=lora_alpha)

    model.weights_source = source
    model.variant = variant
    return model


def weights_source(model: nn.Module) -> str:
    """Where the model's starting weights came from (RANDOM_INIT_LABEL if not pretrained)."""
    return getattr(model, "weights_source", RANDOM_INIT_LABEL)


def is_pretrained(model: nn.Module) -> bool:
    """True when the model started from ImageNet weights."""
    return weights_source(model) != RANDOM_INIT_LABEL
