"""Shared workflow helpers: config validation, the run registry, wildcard constraints, paths."""

# exports: GPU_PER_JOB, RUNS, PAPER_INPUTS, RUN_COLLECTIONS, make_spec, register_runs, run_file, run_files, spec_of, ...

from pathlib import Path

from snakemake.exceptions import WorkflowError

from effdl.plan.config import ConfigError, validate_config
from effdl.plan.spec import check_spec

try:
    validate_config(
        config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
    )
except ConfigError as err:
    raise WorkflowError(str(err)) from None


wildcard_constraints:
    part="[a-z0-9_]+",
    run="[A-Za-z0-9_.\-]+",
    dataset="[a-z0-9]+",
    collection="[A-Za-z0-9_]+",


# `gpu` tokens each torch rule holds (`--resources gpu=N` caps how many run at once). With
# `device: cpu` they need none, so CPU-only runs are limited by --cores alone, not one job at a time.
GPU_PER_JOB = 0 if config["device"] == "cpu" else 1
# "{part}/{run}" -> run spec (plain dict, see docs/architecture.md); filled by each part's rules.
RUNS = {}
# part -> files the paper needs from it (figures, generated TeX); read by paper.smk.
PAPER_INPUTS = {}
# collection name -> list of "{part}/{run}" keys whose CSVs aggregate_runs concatenates.
RUN_COLLECTIONS = {}


def engine_settings():
    """Engine keys every training run takes from the `engine` config section."""
    return dict(config["engine"])


def make_spec(*, dataset, model, train, seed, labels=None, hooks=None):
    """A run spec: model kwargs, TrainConfig settings (engine defaults + `train`), data normalisation."""
    if dataset not in config["datasets"]:
        raise WorkflowError(
            f"a run needs data set '{dataset}', which has no entry under config key 'datasets'. "
            f"Fix: add datasets.{dataset} (see config/README.md)."
        )
    source = config["datasets"][dataset]
    return {
        "dataset": dataset,
        "seed": seed,
        "model": dict(model),
        "train": {**engine_settings(), **train},
        "hooks": list(hooks or []),
        "labels": dict(labels or {}),
        "mean": list(source["mean"]),
        "std": list(source["std"]),
    }


def register_runs(part, runs):
    """Add {run name: spec} of one part to RUNS, checking each spec while the DAG is built; returns their keys."""
    keys = []
    for run, spec in runs.items():
        full = {"part": part, "run": run, **spec}
        try:
            check_spec(full)
        except (ValueError, TypeError) as err:
            raise WorkflowError(f"run {part}/{run}: {err}") from None
        RUNS[f"{part}/{run}"] = full
        keys.append(f"{part}/{run}")
    return keys


def run_file(key, name):
    """The one place a run's path is spelled: run_file('part1/x', 'epochs.csv'); key may hold wildcards."""
    return f"results/runs/{key}/{name}"


def run_files(keys, name):
    """run_file for many runs."""
    return [run_file(key, name) for key in keys]


def spec_of(wildcards):
    """The spec behind a train_model job, or one clear error for an unknown run."""
    key = f"{wildcards.part}/{wildcards.run}"
    if key not in RUNS:
        raise WorkflowError(
            f"no training run '{key}' is registered. Known runs: {', '.join(sorted(RUNS)[:20])} ..."
        )
    return RUNS[key]


def runtime_minutes(wildcards):
    """A generous SLURM time limit for a run: 2 minutes per epoch (CPU-sized), at least 10."""
    return max(10, 2 * int(spec_of(wildcards)["train"]["epochs"]))


def download_archive_path(name, source):
    """Where a `download` source's archive lands (the download rule's output)."""
    root = source.get("root") or f"data/{name}"
    return f"{root}/{source['url'].rsplit('/', 1)[-1]}"


def dataset_inputs(wildcards):
    """Local source files of a data set, so prepare_data re-runs when they change; checked early."""
    source = config["datasets"][wildcards.dataset]
    if source["source"] == "download":
        return [download_archive_path(wildcards.dataset, source)]
    if source["source"] != "imagefolder":
        return []
    path = source.get("path")
    if not path or not Path(path).exists():
        raise WorkflowError(
            f"data set '{wildcards.dataset}': config key datasets.{wildcards.dataset}.path = {path!r} "
            "does not exist. Fix: point it at an ImageFolder directory or .tar.gz (offline copies are in "
            "../shared/data/), or set datasets."
            f"{wildcards.dataset}.source: torchvision on a machine with a network."
        )
    return [path]


def paper_inputs():
    """Every figure and generated TeX file that some part registered in PAPER_INPUTS."""
    return sorted({path for paths in PAPER_INPUTS.values() for path in paths})


def announce_plan():
    """Print the registered runs' training work and estimated time (stderr); write .snakemake/effdl/plan.json."""
    import sys

    from effdl.plan.work import announce

    def to_stderr(text):
        print(text, file=sys.stderr, flush=True)

    # a report only: never stop the workflow over it
    try:
        announce(RUNS, config, log=to_stderr)
    except (OSError, ValueError, KeyError) as err:
        print(f"(could not plan the training work: {err})", file=sys.stderr)
