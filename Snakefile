"""effdl: a reproducible study of efficient deep learning, from data to the compiled paper.

Run:  snakemake                                          (full study, config/config.yaml; defaults: profiles/default)
      snakemake --directory variants/smoke --configfile config/smoke.yaml   (CI-sized, in its own folder)
      effdl plan [TARGET ...]                            (what the targets cost, before they run)
"""

from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from effdl.plan.preflight import yaml_problem

min_version("9.0")

# The base config sits beside this Snakefile, so `snakemake -s <path>/Snakefile` works from any directory and
# `--directory` variants get it too. Its YAML is checked first: Snakemake's own message names neither file nor line.
BASE_CONFIG = Path(workflow.basedir) / "config" / "config.yaml"
if yaml_problem(BASE_CONFIG):
    raise WorkflowError(yaml_problem(BASE_CONFIG))


configfile: BASE_CONFIG


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/schedules.smk"
include: "workflow/rules/quant.smk"
include: "workflow/rules/prune.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/transformer.smk"
include: "workflow/rules/dwconv.smk"
include: "workflow/rules/frontier.smk"
include: "workflow/rules/submission.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/paper.smk"
include: "workflow/rules/dashboard.smk"


# Cheap steps that run in the Snakemake process itself, not as cluster jobs (SLURM: on the login node):
# aggregations, figures, generated TeX, the paper, and the one download (compute nodes often have no
# network). Without a cluster executor this changes nothing. The PTQ evaluations of a network
# (quantize_model_<net>, pack_quantized_model) are grouped instead (group quantize_{net}, workflow/profiles/slurm/config.yaml).
localrules:
    aggregate_runs,
    aggregate_quant,
    tabulate_pruning_sparsity,
    plot_training_curves,
    plot_quantization,
    plot_sparse_sanity,
    plot_pruning,
    plot_oneshot_pruning,
    plot_finetune,
    plot_positional_encoding,
    plot_dwconv,
    frontier_table,
    plot_frontier,
    tex_frontier,
    tex_part1,
    tex_part2,
    tex_part3,
    tex_part4,
    tex_part5,
    tex_part6,
    tex_provenance,
    build_paper,
    download_cinic10,
    report_png,
    report_description,


# The planned training work of the requested targets and its estimated wall time, printed once the DAG is built
# (also with -n); writes .snakemake/effdl/plan.json for `effdl status`. Then which code changes (if any) put
# finished jobs out of date, one line per module. Not in cluster jobs' own DAG builds.
if workflow.is_main_process:
    announce_plan_of_targets()
    announce_code_changes()


# A failed job's name, log and the log's last lines (the default profile hides Snakemake's own rule listing);
# cache entries this run stored lose world-write permission, as on success (common.smk).
onerror:
    protect_new_cache_entries()
    report_failed_jobs()


# results/paper.pdf and the report's landing page, or (paper.build false, or auto without LaTeX) everything the paper would show
rule all:
    default_target: True
    input:
        default_targets(),
        DASHBOARD_TARGETS,
