"""effdl: a reproducible study of efficient deep learning, from data to the compiled paper.

Run:  snakemake --cores 4 --resources gpu=1            (full study, config/config.yaml)
      snakemake --cores 2 --resources gpu=1 --configfile config/smoke.yaml   (CI-sized)
"""

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


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
