"""Shared workflow helpers: config validation, pre-flight checks, the run registry, wildcard constraints, paths."""

# exports: GPU_PER_JOB, RUNS, PAPER_INPUTS, RUN_COLLECTIONS, make_spec, register_runs, run_file, run_files, spec_of, ...
# REPO, repo_path, LIBRARY_CODE, SOFTWARE, paper_in_default_target, default_targets, ...

import hashlib
import os
import platform
import shutil
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from effdl.plan import lastgood
from effdl.plan.config import ConfigError, load_schema, validate_config
from effdl.plan.contract import (
    DataError,
    check_classes,
    check_model_fit,
    check_summary,
    meta_path,
    read_meta,
    source_key,
)
from effdl.plan.preflight import (
    coerce_cli_values,
    host_device_problem,
    known_classes,
    path_problems,
    source_problem,
    tex_problems,
)
from effdl.plan.spec import check_spec
from effdl.plan.submission import SubmissionError, check_ai_logs, zip_name

CONFIG_SCHEMA = Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
# `--config seeds=[43,44]` leaves strings inside lists and mappings: give them the schema's types first.
coerce_cli_values(
    config, dict(workflow.config_settings.config), load_schema(CONFIG_SCHEMA)
)
try:
    validate_config(config, CONFIG_SCHEMA)
except ConfigError as err:
    raise WorkflowError(str(err)) from None
PREFLIGHT_PROBLEMS = tex_problems(config, workflow.configfiles) + path_problems(config)
if PREFLIGHT_PROBLEMS:
    raise WorkflowError("\n".join(PREFLIGHT_PROBLEMS))
# This process schedules the jobs (not a job's own DAG build on a cluster node): it restores kept outputs.
MAIN_PROCESS = workflow.is_main_process

# The seed's archive (built by submission.smk, a target of `all`) and its AI logs: checked before any job.
try:
    SUBMISSION_ZIP = f"results/submission/{zip_name(config['submission']['team'])}"
    AI_LOGS = check_ai_logs(config["submission"]["ai_logs"], workflow.basedir)
except SubmissionError as err:
    raise WorkflowError(str(err)) from None


wildcard_constraints:
    part="[a-z0-9_]+",
    run="[A-Za-z0-9_.\-]+",
    dataset="[a-z0-9]+",
    collection="[A-Za-z0-9_]+",


# The repository root. Files the study reads (configured data paths, paper sources) resolve against it,
# outputs against the working directory, so `snakemake --directory variants/<name>` keeps a variant's
# results/ (and .snakemake/) apart from the others' while reading the same data (docs/configuration.md "Variants").
REPO = Path(workflow.basedir)


def repo_path(path):
    """A configured input path as seen from the working directory: relative paths are relative to REPO."""
    if path is None or Path(path).is_absolute():
        return path
    return os.path.relpath(REPO / path)


def repo_relative(path):
    """A path for display: relative to REPO when inside it (config files in the paper), else as given."""
    path = Path(path).absolute()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def source_digest(root, exclude=()):
    """sha256 (16 hex digits) over the .py files under root (path and content), skipping `exclude` prefixes."""
    digest = hashlib.sha256()
    for path in sorted(Path(root).rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if not rel.startswith(tuple(exclude)):
            for part in (rel.encode(), path.read_bytes()):
                digest.update(part)
                digest.update(b"\0")
    return digest.hexdigest()[:16]


def package_version(name):
    """Installed version of a distribution, read from its metadata (no import, so no torch at DAG time)."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


# What the between-workflow cache (`--cache`, docs/cache.md) must see
# besides the rule's script and params: the library code the expensive rules run (the torch-free report
# code cannot change their outputs) and the software stack. Passed as params, so a change also reruns them.
LIBRARY_CODE = source_digest(REPO / "src" / "effdl", exclude=("report/", "bench/"))
SOFTWARE = {
    "python": platform.python_version(),
    **{name: package_version(name) for name in ("torch", "torchvision", "numpy")},
}


# prepare_data and train_model are cacheable between workflows only when `--cache` asks for it: declared
# unconditionally, Snakemake notes at every start that they could be (two lines of console noise per run).
CACHE_ASKED = getattr(workflow.workflow_settings, "cache", None) is not None


# `gpu` tokens each torch rule holds (`--resources gpu=N` caps how many run at once). With
# `device: cpu` they need none, so CPU-only runs are limited by --cores alone, not one job at a time.
GPU_PER_JOB = 0 if config["device"] == "cpu" else 1
# "{part}/{run}" -> run spec (plain dict, see docs/architecture.md); filled by each part's rules.
RUNS = {}
# What `rule all` builds besides the paper for the report (its landing page, PNG figures); filled by dashboard.smk.
DASHBOARD_TARGETS = []
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
    """Add {run name: spec} of one part to RUNS, checking each spec (and its data, where known) while the DAG
    is built; returns their keys. A run whose rebuild failed gets its kept outputs back when it is asked for
    unchanged.
    """
    keys = []
    for run, spec in runs.items():
        full = {"part": part, "run": run, **spec}
        try:
            check_spec(full)
            check_run_data_early(full)
        except (ValueError, TypeError, DataError) as err:
            raise WorkflowError(f"run {part}/{run}: {err}") from None
        key = f"{part}/{run}"
        RUNS[key] = full
        keys.append(key)
        outputs = [run_file(key, name) for name in TRAIN_OUTPUTS] + [
            train_benchmark_file(key)
        ]
        if restore_kept(outputs, full, run_file(key, ".last-good")):
            print(
                f"restored the finished run {run_file(key, '')} from its .last-good copy: "
                "its last rebuild failed and the run asked for now is the one that finished"
            )
    return keys


def restore_kept(outputs, key, store):
    """Bring back a job's kept outputs after its failed rebuild, when the job asked for is the one kept
    (see effdl.plan.lastgood); only in the process that schedules jobs, not in a cluster job's DAG build.
    """
    if not MAIN_PROCESS:
        return False
    lastgood.keep_job_records(outputs, store)
    if lastgood.restore(outputs, key, store):
        lastgood.restore_job_records(outputs, store)
        return True
    return False


# The declared outputs of train_model (workflow/rules/train.smk), kept by effdl.plan.lastgood: these four
# in the run's directory, and its benchmark file.
TRAIN_OUTPUTS = ("iters.csv", "epochs.csv", "summary.csv", "model.pt")


def train_benchmark_file(key):
    """The benchmark file train_model declares and writes for run `key` (its `benchmark=` output in train.smk)."""
    return f"results/benchmarks/train_model/{key}.tsv"


def data_facts(dataset):
    """The packed data set's summary (results/data/<name>.meta.json) if it describes the configured source."""
    packed = Path(f"results/data/{dataset}.pt")
    meta = read_meta(packed) if packed.exists() else None
    source = config["datasets"][dataset]
    if meta is None or meta.get("source_config") != lastgood_json(source_key(source)):
        return None
    origin = Path(source.get("path") or "")
    if (
        source.get("path") and origin.exists()
    ):  # the source changed since: the summary is stale
        if origin.stat().st_mtime > meta_path(packed).stat().st_mtime:
            return None
    return meta


def lastgood_json(value):
    """`value` as it reads back from JSON (tuples as lists), for comparing with a stored summary."""
    import json

    return json.loads(lastgood.canonical(value))


def check_run_data_early(spec):
    """The data contract for a run, from what is known before any job: the packed data's summary, or the
    number of classes of a fixed data set (CIFAR-10, MNIST, CINIC-10) or of an ImageFolder directory.
    """
    dataset = spec["dataset"]
    where = f"results/data/{dataset}.pt"
    meta = data_facts(dataset)
    if meta is not None:
        check_summary(
            meta, dataset=dataset, where=where, mean=spec["mean"], std=spec["std"]
        )
        check_model_fit(meta, spec["model"], dataset=dataset, where=where)
        return
    n_classes = known_classes(dataset, config["datasets"][dataset])
    if n_classes:
        check_classes(
            n_classes,
            spec["model"],
            dataset=dataset,
            where=f"datasets.{dataset}",
        )


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
    return repo_path(f"{root}/{source['url'].rsplit('/', 1)[-1]}")


def dataset_inputs(wildcards):
    """Local source files of a data set, so prepare_data re-runs when they change; checked early."""
    source = config["datasets"][wildcards.dataset]
    if source["source"] == "download":
        return [download_archive_path(wildcards.dataset, source)]
    if source["source"] != "imagefolder":
        return []
    configured = source.get("path")
    path = repo_path(configured)
    problem = (
        source_problem(wildcards.dataset, {**source, "path": path})
        if path and Path(path).exists()
        else None
    )
    if problem:
        raise WorkflowError(problem)
    if not path or not Path(path).exists():
        raise WorkflowError(
            f"data set '{wildcards.dataset}': config key datasets.{wildcards.dataset}.path = {configured!r} "
            "does not exist (relative paths start at the repository root). Fix: point it at an ImageFolder directory or .tar.gz (offline copies are in "
            "../shared/data/), or set datasets."
            f"{wildcards.dataset}.source: torchvision on a machine with a network."
        )
    return [path]


def paper_inputs():
    """Every figure and generated TeX file that some part registered in PAPER_INPUTS."""
    return sorted({path for paths in PAPER_INPUTS.values() for path in paths})


def restore_kept_data():
    """Bring back a packed data set whose rebuild failed, when its source is configured as it was."""
    for name, source in config["datasets"].items():
        packed = f"results/data/{name}.pt"
        if restore_kept([packed], source, f"results/data/.last-good/{name}"):
            print(
                f"restored {packed} from its .last-good copy: its last rebuild failed and "
                f"datasets.{name} is configured as when it was built"
            )


if MAIN_PROCESS:
    restore_kept_data()


def torch_jobs_to_run():
    """Whether any job about to run uses torch (declares the `gpu` resource); True when unknown."""
    try:
        return any("gpu" in job.rule.resources for job in workflow.dag.needrun_jobs())
    except Exception:
        return True


onstart:
    # After the DAG is built and before any job starts (so before Snakemake deletes any output it will
    # rebuild): the requested device must exist on this host. Cluster jobs check on their own node.
    if workflow.local_exec and torch_jobs_to_run():
        problem = host_device_problem(config["device"])
        if problem:
            raise WorkflowError(problem)


def announce_plan(runs):
    """Print the training work of `runs` and its estimated time (stderr); write .snakemake/effdl/plan.json."""
    import sys

    from effdl.plan.work import announce, plan_text

    def to_stderr(text):
        print(text, file=sys.stderr, flush=True)

    # `effdl plan` (effdl.plan.estimate) asks for the text only: no banner, and plan.json stays the last run's
    text_only = os.environ.get("EFFDL_PLAN_TEXT")
    # a report only: never stop the workflow over it
    try:
        if text_only:
            Path(text_only).write_text(plan_text(runs, config)[1] + "\n")
        else:
            announce(runs, config, log=to_stderr)
    except (OSError, ValueError, KeyError) as err:
        print(f"(could not plan the training work: {err})", file=sys.stderr)


def needed_runs(dag):
    """The registered runs that the built DAG holds as train_model jobs: the requested targets' runs."""
    keys = {
        f"{job.wildcards.part}/{job.wildcards.run}"
        for job in dag.jobs
        if job.rule.name == "train_model"
    }
    return {key: spec for key, spec in RUNS.items() if key in keys}


def announce_plan_of_targets():
    """Announce the plan once Snakemake has built the DAG of the requested targets (also with -n), so that
    `snakemake results/figs/lr_sweep.pdf` lists that figure's runs only; `effdl plan` reads the same text.
    Snakemake has no public hook after the DAG build in a dry run, so this wraps the (pinned) Workflow's
    _build_dag; without it, every registered run is announced at once.
    """
    build = getattr(workflow, "_build_dag", None)
    if build is None:
        announce_plan(RUNS)
        return

    def build_and_announce():
        build()
        announce_plan(needed_runs(workflow.dag))

    workflow._build_dag = build_and_announce


def report_failed_jobs():
    """Name each failed job, its log and the log's last lines: the default profile's quiet rule listing hides
    Snakemake's own 'Error in rule' block (docs/recovery.md reads this line)."""
    import sys

    for job in sorted(getattr(workflow.scheduler, "failed", ()), key=str):
        # a SLURM group job has no single rule: it is named as Snakemake names it
        wildcards = getattr(job, "wildcards_dict", {}) or {}
        where = ", ".join(f"{k}={v}" for k, v in wildcards.items())
        where = f" ({where})" if where else ""
        logs = [str(path) for path in getattr(job, "log", None) or []]
        name = job.rule.name if hasattr(job, "rule") else str(job)
        print(
            f"Error in rule {name}{where}; its log is {', '.join(logs) or 'missing'}",
            file=sys.stderr,
        )
        for log in logs:
            try:
                tail = Path(log).read_text(errors="replace").splitlines()[-5:]
            except OSError:
                continue
            for line in tail:
                print(f"    {line[:196]}", file=sys.stderr)


# ---- the paper: is it in the default target (config key paper.build), and where its sources are

# LaTeX packages paper/ uses (\usepackage); checked with kpsewhich when paper.build is auto.
PAPER_STY = [
    "amsmath",
    "booktabs",
    "float",
    "fontenc",
    "geometry",
    "graphicx",
    "hyperref",
    "lmodern",
    "url",
    "xcolor",
]
# The TeX notice, a few readable lines (docs/configuration.md "Installing").
PAPER_INSTALL_HINT = (
    "  Install TeX: bash workflow/setup.sh (Debian/Ubuntu, root or sudo), or by hand:\n"
    "    Debian/Ubuntu: apt-get install texlive-latex-base texlive-latex-recommended lmodern latexmk poppler-utils\n"
    "    macOS: brew install --cask mactex-no-gui && brew install poppler\n"
    "    conda-forge: conda install -c conda-forge texlive-core latexmk poppler\n"
    "  Or set paper.build: false to skip the paper without this notice."
)


def missing_latex():
    """What the paper build needs and this machine lacks: programs on PATH, then LaTeX packages."""
    missing = [
        tool
        for tool in ("latexmk", "pdflatex", "kpsewhich")
        if shutil.which(tool) is None
    ]
    if "kpsewhich" in missing:
        return missing
    names = [f"{name}.sty" for name in PAPER_STY]
    try:
        found = subprocess.run(
            ["kpsewhich", *names], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return names
    found_names = {Path(line).name for line in found.splitlines()}
    return missing + [name for name in names if name not in found_names]


def paper_in_default_target():
    """config paper.build: true/false as given; auto = LaTeX is installed (else say, once, what is missing)."""
    setting = config["paper"].get("build", "auto")
    if setting != "auto":
        return setting in (True, "true")
    missing = missing_latex()
    if missing and workflow.is_main_process:
        logger.warning(
            f"paper.build is auto and this machine lacks {', '.join(missing)}:\n"
            "  the default target builds every figure and generated table but not results/paper.pdf.\n"
            + PAPER_INSTALL_HINT
        )
    return not missing


def paper_tex_path(path):
    """A file of paper/ (the LaTeX sources live in the repository, not the working directory)."""
    return repo_path(f"paper/{path}")


def default_targets():
    """The default target's inputs: the paper and the submission zip (which holds it), or, without LaTeX,
    every figure and generated TeX file the paper would include."""
    if paper_in_default_target():
        return ["results/paper.pdf", SUBMISSION_ZIP]
    provenance = rules.tex_provenance.output if hasattr(rules, "tex_provenance") else []
    return paper_inputs() + list(provenance)
