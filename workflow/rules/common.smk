"""Shared workflow helpers: config validation, pre-flight checks, the run registry, wildcard constraints, paths."""

# exports: GPU_PER_JOB, RUNS, PAPER_INPUTS, RUN_COLLECTIONS, make_spec, register_runs, run_file, run_files, spec_of, ...
# REPO, repo_path, SOFTWARE, code_param, this_run, announce_code_changes, paper_in_default_target, default_targets, ...

import os
import platform
import shutil
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from effdl.code_records import (
    code_changes,
    param_value,
    prune_store,
    snakemake_records,
    store_record,
)
from effdl.fingerprint import (
    SourceTree,
    dispatched_modules,
    fingerprint,
    registry_reads,
    script_digests,
)
from effdl.fingerprint import load_cache as load_parse_cache
from effdl.fingerprint import save_cache as save_parse_cache
from effdl.plan import lastgood
from effdl.plan.checksums import cache_problem, protect_cache, verify_cache
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
from effdl.plan.guards import (
    cache_option_problem,
    future_files,
    future_warning,
    outside_repository,
    tree_files,
)
from effdl.plan.preflight import (
    coerce_cli_values,
    host_device_problem,
    known_classes,
    path_problems,
    source_problem,
    tex_problems,
)
from effdl.plan.spec import check_spec, training_threads
from effdl.plan.submission import SubmissionError, check_ai_logs, zip_name
from effdl.resources import folder_problem

CONFIG_SCHEMA = Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
# `--config seeds=[43,44]` leaves strings inside lists and mappings: give them the schema's types first.
coerce_cli_values(
    config, dict(workflow.config_settings.config), load_schema(CONFIG_SCHEMA)
)
try:
    validate_config(config, CONFIG_SCHEMA)
except ConfigError as err:
    raise WorkflowError(str(err)) from None
# This process schedules the jobs (not a job's own DAG build on a cluster node): it restores kept outputs.
MAIN_PROCESS = workflow.is_main_process
# Jobs share the evaluation probe's measurements (engine.eval_batch_size: auto; effdl.autotune) in one file.
os.environ.setdefault(
    "EFFDL_TUNE_CACHE", str(Path(".snakemake/effdl-tune/eval.json").resolve())
)

# The seed's archive (built by submission.smk, a target of `all`) and its AI logs: checked before any job.
# AI logs resolve the same way here and in the rule: paths from the working directory, inside the
# repository or the working (variant) folder only.
try:
    SUBMISSION_ZIP = f"results/submission/{zip_name(config['submission']['team'])}"
    AI_LOGS = check_ai_logs(
        config["submission"]["ai_logs"], workflow.basedir, Path.cwd()
    )
except SubmissionError as err:
    raise WorkflowError(str(err)) from None
PREFLIGHT_PROBLEMS = tex_problems(config, workflow.configfiles) + path_problems(config)
if PREFLIGHT_PROBLEMS:
    raise WorkflowError("\n".join(PREFLIGHT_PROBLEMS))


def check_cache():
    """With --cache: the option names rules, the folder takes new entries (before any expensive job, not after
    the first one), and entries whose files no longer match their checksums become misses (effdl.plan.checksums).
    """
    cache_rules = workflow.workflow_settings.cache
    if cache_rules is None:
        return
    problem = cache_option_problem(cache_rules)
    if problem:
        raise WorkflowError(problem)
    folder = os.environ.get("SNAKEMAKE_OUTPUT_CACHE")
    problem = cache_problem(folder)
    if problem:
        raise WorkflowError(problem)
    # Snakemake makes entries 0666: no other user may rewrite them
    protect_cache(folder)
    verify_cache(folder, ".snakemake/effdl/cache_verified.json", warn=logger.warning)


def warn_about_surroundings():
    """Warnings that cost nothing to heed: a working directory outside the repository (no git commit in the
    provenance), inputs or results dated in the future (Snakemake would rerun their jobs on every run).
    """
    for warning in (
        outside_repository(Path.cwd(), REPO),
        future_warning(
            future_files(
                tree_files(
                    REPO / "src",
                    REPO / "workflow",
                    REPO / "paper",
                    suffixes=(".py", ".smk", ".tex", ".yaml"),
                )
                + tree_files("results")
                + [Path(p) for p in workflow.configfiles]
                + [
                    Path(repo_path(s["path"]))
                    for s in config["datasets"].values()
                    if isinstance(s, dict) and s.get("path")
                ]
            )
        ),
    ):
        if warning:
            logger.warning(f"WARNING: {warning}")


if MAIN_PROCESS:
    check_cache()
    # a read-only working directory or results/ (EROFS, EACCES): one line now, not a traceback from a job
    for folder in (".", "results"):
        if folder_problem(folder):
            raise WorkflowError(folder_problem(folder))


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


def package_version(name):
    """Installed version of a distribution, read from its metadata (no import, so no torch at DAG time)."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


# What the between-workflow cache (`--cache`, docs/cache.md) must see
# besides the rule's script and params: the software stack, and (the `code` param of every rule, below)
# the code the job runs. Passed as params, so a change also reruns them.
SOFTWARE = {
    "python": platform.python_version(),
    **{name: package_version(name) for name in ("torch", "torchvision", "numpy")},
}


# ---- code fingerprints (effdl.fingerprint): each job's `code` param digests the syntax trees of its script
# and of every effdl module that script imports (transitively), plus the modules its runs' models and hooks
# come from (chosen by name at run time). A comment, docstring or reformatting changes no fingerprint; an
# edit to compress/quant.py changes only the jobs that import it. The param is also the `--cache` key.
CODE_TREE = SourceTree(REPO / "src")
SCRIPTS = REPO / "workflow" / "scripts"
# .snakemake/effdl/: parsed.json (parse results by file content: a DAG build re-parses only changed
# files) and code/<fingerprint>.json (what each fingerprint covered, read by announce_code_changes)
CODE_STATE = Path(".snakemake") / "effdl"
CODE_STORE = CODE_STATE / "code"
load_parse_cache(CODE_STATE / "parsed.json")
if MAIN_PROCESS:
    save_parse_cache(
        CODE_STATE / "parsed.json",
        [
            *sorted((REPO / "src" / "effdl").rglob("*.py")),
            *sorted(SCRIPTS.glob("*.py")),
        ],
    )
_CODE = {}


def script_code(script, modules=(), registry=()):
    """{name: digest} of what a job running workflow/scripts/<script> executes (see effdl.fingerprint);
    `registry`: the registry entries its runs read.
    """
    name = f"workflow/scripts/{script}"
    if not (SCRIPTS / script).exists():  # only for records of a script since removed
        return {name: "gone", **CODE_TREE.digests(modules, registry)}
    return script_digests(
        SCRIPTS / script, CODE_TREE, modules, name=name, registry=registry
    )


def code_of(script, modules=(), registry=()):
    """The `code` param of a job running workflow/scripts/<script> that also reaches `modules` by name and
    whose runs read the `registry` entries."""
    key = (script, tuple(sorted(modules)), tuple(sorted(registry)))
    if key not in _CODE:
        digests = script_code(*key)
        value = fingerprint(digests)
        if MAIN_PROCESS:
            entries = {"script": script, "modules": list(key[1])}
            if key[2]:
                entries["registry"] = list(key[2])
            store_record(CODE_STORE, value, entries, digests)
        _CODE[key] = param_value(value)
    return _CODE[key]


def code_param(script, runs=None):
    """A params function: the code fingerprint of a job of `script`; `runs(wildcards)` -> the keys of the
    registered runs whose models (and engine hooks) the job builds, so their modules count too, and of the
    registry only the entries those runs read (adding a scheduler or a colour retrains nothing).
    """

    def param(wildcards):
        specs = [RUNS[key] for key in runs(wildcards)] if runs else []
        return code_of(
            script,
            {m for spec in specs for m in dispatched_modules(spec)},
            {read for spec in specs for read in registry_reads(spec)},
        )

    return param


def this_run(wildcards):
    """The run a train_model job trains, as a one-key list (for code_param)."""
    spec = spec_of(wildcards)
    return [f"{spec['part']}/{spec['run']}"]


def announce_code_changes():
    """Print (stderr) which modules changed since the existing outputs were built, and the jobs each puts out
    of date: one line per module (Snakemake's own reason says only that the `code` param changed).
    """
    import sys

    coded = {rule.name for rule in workflow.rules if hasattr(rule.params, "code")}
    run_dirs = {str(Path(run_file(key, "x")).parent) for key in RUNS}

    def wanted(rule_name, path):
        # a run no longer registered (a config change) is not out of date: it is not asked for
        is_run = rule_name == "train_model"
        return Path(path).exists() and (
            not is_run or str(Path(path).parent) in run_dirs
        )

    def current(entries):
        return script_code(
            entries["script"], entries["modules"], entries.get("registry", ())
        )

    try:
        changes = code_changes(snakemake_records(), CODE_STORE, current, coded, wanted)
        prune_store(CODE_STORE, changes.recorded)
        lines = changes.lines()
    except (
        OSError,
        ValueError,
        KeyError,
    ) as err:  # a report only: never stop the workflow over it
        lines = [f"  (could not compare the code with the outputs' records: {err})"]
    if lines:
        print(
            "Code changes since the existing outputs were built (comments, docstrings and formatting "
            "never count):",
            *lines,
            sep="\n",
            file=sys.stderr,
        )


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
    if lastgood.restore(outputs, key, store, warn=logger.warning):
        lastgood.restore_job_records(outputs, store)
        return True
    return False


# The declared outputs of train_model (workflow/rules/train.smk), kept by effdl.plan.lastgood: these four
# in the run's directory, and its benchmark file.
TRAIN_OUTPUTS = ("iters.csv", "epochs.csv", "summary.csv", "model.pt", "checksums.json")


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
    # relative to REPO, as the data rule reads it (also under --directory variants)
    origin = Path(repo_path(source.get("path")) or "")
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


def train_threads(wildcards):
    """Cores a train_model job asks for: 2, or 1 for a small-batch run (its steps use one thread)."""
    return training_threads(spec_of(wildcards)["train"], cores=2)


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
        kept = [packed, f"results/data/{name}.checksums.json"]
        if restore_kept(kept, source, f"results/data/.last-good/{name}"):
            print(
                f"restored {packed} from its .last-good copy: its last rebuild failed and "
                f"datasets.{name} is configured as when it was built"
            )


if MAIN_PROCESS:
    restore_kept_data()
    warn_about_surroundings()


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


def protect_new_cache_entries():
    """The entries this run stored in the cache lose world-write permission too (Snakemake made them 0666)."""
    folder = os.environ.get("SNAKEMAKE_OUTPUT_CACHE")
    if (
        workflow.workflow_settings.cache is not None
        and folder
        and Path(folder).is_dir()
    ):
        protect_cache(folder)


onsuccess:
    protect_new_cache_entries()


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


def claims_margin():
    """claims.equivalence_margin_points, or the schema's default when the config leaves the block out."""
    default = load_schema(CONFIG_SCHEMA)["properties"]["claims"]["default"]
    block = config.get("claims") or {}
    return float(
        block.get("equivalence_margin_points", default["equivalence_margin_points"])
    )
