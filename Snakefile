"""effdl: a reproducible study of efficient deep learning, from data to the compiled paper.

Run:  snakemake --cores 4 --resources gpu=1            (full study, config/config.yaml)
      snakemake --cores 2 --resources gpu=1 --configfile config/smoke.yaml   (CI-sized)
"""

from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from effdl.plan.preflight import yaml_problem

min_version("9.0")

# The base config sits beside this Snakefile, so `snakemake -s <path>/Snakefile` works from any directory.
# Its YAML is checked first: Snakemake's own message names neither the file nor the line.
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
include: "workflow/rules/paper.smk"


# The planned training work and its estimated wall time, printed when the workflow starts (also with -n);
# writes .snakemake/effdl/plan.json for `python -m effdl.status`. Not in cluster jobs' own DAG builds.
if workflow.is_main_process:
    announce_plan()


rule all:
    default_target: True
    input:
        "results/paper.pdf",
