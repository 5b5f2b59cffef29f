"""What a configuration asks for, counted from its keys alone: images trained and evaluated per model family.

A tally for sizing a tier (config/cpu.yaml) by hand; the study's one time estimate is `effdl plan`
(effdl.plan.estimate), the start-up banner's numbers, and `python -m effdl.plan.cost` is now an alias of it.

Torch-free: it reads the merged config dict only (the same keys the rules read), so it can size a tier such as
config/cpu.yaml on any machine, and project its run time from throughputs measured with `python -m effdl.bench`.
Counts follow the rules: every training run evaluates the whole test split after each epoch (Part 4 once more
before training), PTQ evaluates each variant on each checkpoint, the one-shot sweep evaluates each sparsity and
mode per seed. Job start-up, plotting and the paper are not counted (minutes at most; see `fixed_s`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from effdl.plan.registry import GRANULARITIES, PRUNE_MODES

FAMILIES = ("convnet", "dwconvnet", "resnet18", "mnist_mlp", "transformer")
FULL_SPLITS = {"cifar10": (50_000, 10_000), "mnist": (60_000, 10_000), "cinic10": (90_000, 90_000)}
CLASSES = 10  # CIFAR-10, MNIST and CINIC-10 all have 10 classes


@dataclass
class Cost:
    """Images through the model per family: trained (forward + backward + step) and evaluated (forward)."""

    train: dict
    eval: dict
    runs: dict

    def total_train(self) -> int:
        return sum(self.train.values())


def split_sizes(config: dict, name: str) -> tuple[int, int]:
    """(train, test) images of data set `name` after its `subset` (a missing per-class key keeps the split whole)."""
    full_train, full_test = FULL_SPLITS[name]
    subset = config["datasets"][name].get("subset") or {}
    train = subset.get("train_per_class")
    test = subset.get("test_per_class")
    return (
        CLASSES * train if isinstance(train, int) else full_train,
        CLASSES * test if isinstance(test, int) else full_test,
    )


def count_cost(config: dict) -> Cost:
    """Images per family for the whole DAG of `config` (a merged config dict)."""
    seeds = len(config["seeds"])
    c_train, c_test = split_sizes(config, "cifar10")
    m_train, m_test = split_sizes(config, "mnist")
    f_train, f_test = split_sizes(config, "cinic10")
    train = dict.fromkeys(FAMILIES, 0)
    evals = dict.fromkeys(FAMILIES, 0)
    runs = dict.fromkeys(FAMILIES, 0)

    def add(family, n_runs, epochs, n_train, n_test, extra_evals=0):
        runs[family] += n_runs
        train[family] += n_runs * epochs * n_train
        evals[family] += n_runs * (epochs + extra_evals) * n_test

    p1 = config["schedules"]
    add("convnet", len(p1["lr_sweep"]["lrs"]) * seeds, p1["lr_sweep"]["epochs"], c_train, c_test)
    add("convnet", len(p1["schedulers"]["names"]) * seeds, p1["schedulers"]["epochs"], c_train, c_test)
    p3 = config["prune"]
    add("convnet", seeds, p3["sanity"]["epochs"], c_train, c_test)  # SparseConvNet: the ConvNet's arithmetic
    add("convnet", len(PRUNE_MODES) * seeds, p3["schedule"]["epochs"], c_train, c_test)
    controls = p3.get("controls", {})
    if controls.get("unpruned"):  # the unpruned SparseConvNet on the pruning schedule, one run per seed
        add("convnet", seeds, p3["schedule"]["epochs"], c_train, c_test)
    if controls.get("bn_batches"):  # per event: two more test passes and bn_batches training-batch forwards
        schedule = p3["schedule"]
        events = len(range(schedule["prune_start"], schedule["prune_end"] + 1, schedule["prune_every"]))
        batch = config["engine"]["batch_size"]
        forwards = min(controls["bn_batches"] * batch, c_train)
        evals["convnet"] += len(PRUNE_MODES) * seeds * events * (2 * c_test + forwards)
    evals["convnet"] += seeds * len(PRUNE_MODES) * len(p3["oneshot"]["sparsities"]) * c_test
    bench = p3["benchmark"]
    evals["convnet"] += 4 * sum(bench["batch_sizes"]) * (bench["warmup"] + bench["repeats"])

    q = config["quant"]
    n_variants = {g: len(q["bits"]) + q["stochastic"]["trials"] for g in GRANULARITIES}
    mnist_variants = 1 + sum(n_variants[g] for g in q["mnist"]["granularities"])
    add("mnist_mlp", seeds, q["mnist"]["epochs"], m_train, m_test)
    evals["mnist_mlp"] += mnist_variants * seeds * m_test + len(q["packed_bits"]) * m_test
    if q["convnet"]["enabled"]:
        checkpoints = q["convnet"]["checkpoints"] or seeds
        variants = 1 + sum(n_variants[g] for g in q["convnet"]["granularities"])
        evals["convnet"] += (variants * checkpoints + len(q["packed_bits"])) * c_test

    ft = config["finetune"]
    ft_seeds = len(ft["seeds"]) if ft.get("seeds") is not None else seeds
    add("resnet18", 3 * ft_seeds, ft["epochs"], f_train, f_test, extra_evals=1)
    lora_ranks = set(ft.get("lora_ranks", [])) - {ft["lora_r"]}  # the rank control: net_freeze_lora per rank
    add("resnet18", len(lora_ranks) * ft_seeds, ft["epochs"], f_train, f_test, extra_evals=1)

    dw = config["dwconv"]
    add("dwconvnet", len(dw["train"]["seeds"]), dw["train"]["epochs"], c_train, c_test)
    train["dwconvnet"] += 2 * dw["benchmark"]["batch_size"] * (dw["benchmark"]["steps"] + dw["benchmark"]["warmup"])
    train["dwconvnet"] += 2 * dw["benchmark"].get("epochs", 0) * c_train  # 6.2.2: whole epochs with each layer

    toy = config["transformer"]["toy"]
    runs["transformer"] += seeds
    train["transformer"] += seeds * toy["steps"] * toy["batch_size"]  # sequences, not images
    evals["transformer"] += seeds * (toy["steps"] // toy["eval_every"] + 1) * toy["eval_size"]
    return Cost(train=train, eval=evals, runs=runs)


def project_seconds(
    cost: Cost, train_rate: float, eval_rate: float, *, relative: dict | None = None, fixed_s: float = 0.0
) -> dict[str, float]:
    """Projected seconds per family at the ConvNet's measured train/eval img/s.

    `relative` gives other families' speed as a multiple of the ConvNet's (default 1.0 for every CNN; the MNIST
    MLP and the toy transformer default to 20x, tiny models whose steps cost little next to a ConvNet's).
    """
    speed = {"convnet": 1.0, "dwconvnet": 1.0, "resnet18": 1.0, "mnist_mlp": 20.0, "transformer": 20.0}
    speed.update(relative or {})
    out = {
        family: cost.train[family] / (train_rate * speed[family]) + cost.eval[family] / (eval_rate * speed[family])
        for family in FAMILIES
    }
    out["fixed"] = fixed_s
    out["total"] = sum(out.values())
    return out


def load_merged_config(paths: list[str | Path]) -> dict:
    """config/config.yaml overlaid with each file in `paths` as Snakemake merges them (dicts merge, lists replace)."""
    import yaml

    def merge(base: dict, over: dict) -> dict:
        out = dict(base)
        for key, value in over.items():
            out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        return out

    config: dict = {}
    for path in paths:
        config = merge(config, yaml.safe_load(Path(path).read_text()) or {})
    return config


def main(argv: list[str] | None = None) -> int:
    """`python -m effdl.plan.cost config/config.yaml OVERLAY ...`: an alias of `effdl plan --configfile OVERLAY ...`
    (the one estimator, the start-up banner's); the base config/config.yaml is read by the workflow anyway."""
    from effdl.cli import main as cli_main

    argv = list(sys.argv[1:] if argv is None else argv)
    configs = [a for a in argv if a.endswith((".yaml", ".yml")) and Path(a).name != "config.yaml"]
    return cli_main(["plan", *(["--configfile", *configs] if configs else [])])


if __name__ == "__main__":
    sys.exit(main())
