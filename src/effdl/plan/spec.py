"""A run spec (the plain dict one training run is built from) and its TrainConfig, checked without importing torch.

Snakemake checks every registered run's spec while it builds the DAG (workflow/rules/common.smk), so a bad
setting fails before any job starts; keeping this module torch-free keeps that check, and `snakemake -n`, fast.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

from effdl.plan.registry import HOOKS, MODELS
from effdl.plan.registry import SCHEDULERS as SCHEDULER_ENTRIES

SPEC_KEYS = {"part", "run", "dataset", "seed", "model", "train", "hooks", "labels", "mean", "std"}

OPTIMIZERS = ("sgd", "adam")
SCHEDULERS = tuple(SCHEDULER_ENTRIES)  # effdl.plan.registry.SCHEDULERS is their home
PRECISIONS = ("auto", "fp32", "bf16")
# CPU training steps of batches up to this size run on one thread (effdl.execution.step_threads), so such a run
# asks the scheduler for one core (training_threads)
SINGLE_THREAD_MAX_BATCH = 4


def training_threads(train: dict, cores: int) -> int:
    """Cores a training job of these settings uses: one for small batches (their steps run on one thread:
    a second core would idle while another job could use it), else `cores`."""
    return 1 if int(train.get("batch_size", TrainConfig.batch_size)) <= SINGLE_THREAD_MAX_BATCH else cores


@dataclass(frozen=True)
class TrainConfig:
    """Every hyper-parameter of one training run; unknown keys raise TypeError (dataclass init)."""

    epochs: int
    lr: float
    seed: int = 43
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    scheduler: str = "none"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    step_size: int = 1
    # OneCycleLR (scheduler 'one_cycle', stepped per batch): peak rate (None = lr), share of steps rising to it,
    # start rate = max_lr / div_factor, end rate = start / final_div_factor (torch's defaults but max_lr)
    max_lr: float | None = None
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    batch_size: int = 128
    eval_batch_size: int | str = "auto"  # or an integer (effdl.autotune: measured batch and layout)
    fold_batchnorm: bool = True  # test with each BatchNorm folded into its convolution (effdl.fold)
    augment: bool = True
    shuffle: bool = True  # False: every epoch in the data set's order (the notebook's MNIST DataLoader)
    precision: str = "auto"
    channels_last: bool = False
    compile: bool | str = False  # True | False | "auto" (effdl.execution.resolve_compile)
    eval_before_training: bool = False

    def __post_init__(self):
        wrong = _wrong_types(self)
        if wrong:
            raise TypeError("invalid training settings: " + "; ".join(wrong) + ". Fix: change them in the config.")
        object.__setattr__(self, "milestones", tuple(self.milestones))
        problems = []
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer '{self.optimizer}' is unknown (use one of {OPTIMIZERS})")
        if self.scheduler not in SCHEDULERS:
            problems.append(f"scheduler '{self.scheduler}' is unknown (use one of {SCHEDULERS})")
        if not (self.compile is True or self.compile is False or self.compile == "auto"):
            problems.append(f"compile must be true, false or auto, got {self.compile!r}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision '{self.precision}' is unknown (use one of {PRECISIONS})")
        if not self.lr > 0:
            problems.append(f"lr must be positive, got {self.lr}")
        if self.max_lr is not None and not (isinstance(self.max_lr, numbers.Real) and self.max_lr > 0):
            problems.append(f"max_lr must be positive or None, got {self.max_lr!r}")
        if not 0 < self.pct_start < 1:
            problems.append(f"pct_start must lie in (0, 1), got {self.pct_start}")
        if self.epochs < 1 or self.batch_size < 1:
            problems.append("epochs and batch_size must be >= 1")
        eval_batch = self.eval_batch_size
        whole = isinstance(eval_batch, numbers.Integral) and not isinstance(eval_batch, bool) and eval_batch >= 1
        if eval_batch != "auto" and not whole:
            problems.append(f"eval_batch_size must be 'auto' or an integer >= 1, got {self.eval_batch_size!r}")
        late = [m for m in self.milestones if m > self.epochs]
        if self.scheduler == "multistep" and late:
            problems.append(f"milestones {late} lie past epochs={self.epochs} and would never fire")
        if problems:
            raise ValueError("invalid training settings: " + "; ".join(problems) + ". Fix: change them in the config.")

    @classmethod
    def from_dict(cls, settings: dict) -> TrainConfig:
        """Build from a plain dict (e.g. a rule's params); unknown keys raise TypeError naming them."""
        return dataclass_from_dict(cls, settings, "training")

    @property
    def steps_per_batch(self) -> bool:
        """True when the scheduler steps after every optimizer step (OneCycleLR), not after every epoch."""
        return SCHEDULER_ENTRIES[self.scheduler].step == "batch"


# TrainConfig fields that only their scheduler reads: left out of a run's identity unless it uses them, so runs
# that existed before the fields did keep their checkpoints' fingerprints.
SCHEDULER_ONLY_FIELDS = {"one_cycle": ("max_lr", "pct_start", "div_factor", "final_div_factor")}


def scheduler_settings(name: str, section: dict) -> dict:
    """The TrainConfig settings scheduler `name` takes from its own block of a config section (e.g.
    schedules.schedulers.one_cycle: {max_lr: 0.2}); {} for schedulers without one, so their specs stay as they were."""
    block = section.get(name) or {}
    return {key: block[key] for key in SCHEDULER_ONLY_FIELDS.get(name, ()) if key in block}


def identity_settings(cfg: TrainConfig) -> dict:
    """cfg as a dict without the fields of schedulers it does not use (what a resume checkpoint is keyed on)."""
    settings = dataclasses.asdict(cfg)
    for scheduler, fields in SCHEDULER_ONLY_FIELDS.items():
        if cfg.scheduler != scheduler:
            for name in fields:
                settings.pop(name)
    return settings


def dataclass_from_dict(cls, settings: dict, what: str):
    """Build the settings dataclass `cls` from a plain dict; unknown keys raise TypeError naming them."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(f"unknown {what} setting(s) {unknown}; known: {sorted(known)}. Fix: correct or remove them.")
    return cls(**settings)


# Field annotation -> accepted types (bool is an int in Python, so it is excluded from numbers explicitly).
_FIELD_TYPES = {"int": numbers.Integral, "float": numbers.Real, "str": str, "bool": bool}


def _wrong_types(cfg: TrainConfig) -> list[str]:
    """'name must be int, got '5' (str)' for every field whose value has the wrong type."""
    wrong = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "milestones":
            ok = isinstance(value, (list, tuple)) and all(
                isinstance(m, numbers.Integral) and not isinstance(m, bool) for m in value
            )
            expected = "a list of integers"
        else:
            kind = _FIELD_TYPES.get(f.type)
            if kind is None:  # a field type without a check here
                continue
            ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
            expected = f.type
        if not ok:
            wrong.append(f"{f.name} must be {expected}, got {value!r} ({type(value).__name__})")
    return wrong


def check_spec(spec: dict) -> None:
    """Fail fast (before any data is loaded) on a malformed spec: unknown keys, models, hooks or settings."""
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise ValueError(f"run spec has unknown key(s) {unknown}; known: {sorted(SPEC_KEYS)}")
    model_name = spec["model"]["name"]
    if model_name not in MODELS:
        raise ValueError(
            f"unknown model '{model_name}'. Known models: {', '.join(sorted(MODELS))}. "
            "Fix: use one of them in the config."
        )
    for hook in spec.get("hooks", []):
        if hook["name"] not in HOOKS:
            raise ValueError(f"unknown hook '{hook['name']}'. Known hooks: {', '.join(sorted(HOOKS))}.")
    TrainConfig.from_dict({**spec["train"], "seed": spec["seed"]})
