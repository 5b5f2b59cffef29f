"""Part 4: ResNet-18 transfer learning on CINIC-10: full fine-tuning, frozen early layers, a LoRA head."""

# exports: P4_RUNS, CINIC10_ARCHIVE

from effdl.plan.finetune import VARIANTS, init_label, lora_rank_spec, plan_init

P4 = config["finetune"]
P4_SEEDS = P4["seeds"] if P4["seeds"] is not None else config["seeds"]
CINIC10 = config["datasets"]["cinic10"]
# "pretrained" unless no weights can be had and random init is explicitly allowed (decided here, at
# DAG time, so that the runs' `weights` column and params say which start they got).
# a relative weights_path starts at the repository root, like the data paths (docs/configuration.md "Variants")
P4_WEIGHTS = repo_path(P4["weights_path"])
P4_INIT = plan_init(
    P4["init"], P4_WEIGHTS, P4["allow_random_init"], P4["download_weights"]
)
# where download_cinic10 leaves the official archive (read by prepare_data when source: download)
CINIC10_ARCHIVE = repo_path(
    f"{CINIC10.get('root') or 'data/cinic10'}/"
    f"{(CINIC10.get('url') or 'CINIC-10.tar.gz').rsplit('/', 1)[-1]}"
)

P4_RUNS = register_runs(
    "part4",
    {
        f"{variant}_seed{seed}": make_spec(
            dataset="cinic10",
            model={
                "name": "resnet18",
                "variant": variant,
                "init": P4_INIT,
                "weights_path": P4_WEIGHTS,
                "download_weights": P4["download_weights"],
                "num_classes": P4["num_classes"],
                "freeze": list(P4["freeze"]),
                "lora_r": P4["lora_r"],
                "lora_alpha": P4["lora_alpha"],
            },
            train={
                "lr": P4["lr"],
                "epochs": P4["epochs"],
                "scheduler": "none",
                "milestones": [],
                "eval_before_training": True,
            },
            seed=seed,
            labels={
                "experiment": "finetune",
                "variant": variant,
                "weights": init_label(P4_INIT),
            },
        )
        for variant in VARIANTS
        for seed in P4_SEEDS
    },
)
RUN_COLLECTIONS["part4_finetune"] = P4_RUNS


# Control beyond the problem set: LoRA below the head's full rank, where it restricts the update.
P4_LORA_RANK_RUNS = register_runs(
    "part4",
    {
        f"net_freeze_lora_r{rank}_seed{seed}": lora_rank_spec(
            RUNS[f"part4/net_freeze_lora_seed{seed}"],
            rank,
            P4["lora_r"],
            P4["lora_alpha"],
        )
        for rank in P4["lora_ranks"]
        if rank != P4["lora_r"]
        for seed in P4_SEEDS
    },
)
if P4_LORA_RANK_RUNS:
    RUN_COLLECTIONS["part4_lora_ranks"] = P4_LORA_RANK_RUNS

PAPER_INPUTS["part4"] = [
    "results/figs/finetune.pdf",
    "results/tex/part4.tex",
    "results/tex/part4_table.tex",
]


rule download_cinic10:
    output:
        CINIC10_ARCHIVE,
    log:
        "results/logs/download_cinic10.log",
    benchmark:
        "results/benchmarks/download_cinic10/download_cinic10.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        url=CINIC10.get("url"),
        sha256=CINIC10.get("sha256"),
        code=code_param("download_cinic10.py"),
    script:
        "../scripts/download_cinic10.py"


rule plot_finetune:
    input:
        epochs="results/metrics/part4_finetune/epochs.csv",
    output:
        report(
            "results/figs/finetune.pdf",
            caption="../report/part4.rst",
            category="Part 4: transfer learning",
        ),
    log:
        "results/logs/plot_finetune.log",
    benchmark:
        "results/benchmarks/plot_finetune/plot_finetune.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        code=code_param("plot_finetune.py"),
    script:
        "../scripts/plot_finetune.py"


rule tex_part4:
    input:
        summary="results/metrics/part4_finetune/summary.csv",
        epochs="results/metrics/part4_finetune/epochs.csv",
        ranks=(
            [
                "results/metrics/part4_lora_ranks/summary.csv",
                "results/metrics/part4_lora_ranks/epochs.csv",
            ]
            if P4_LORA_RANK_RUNS
            else []
        ),
    output:
        macros="results/tex/part4.tex",
        table="results/tex/part4_table.tex",
        # Part 4's tidy results (effdl.report.results): the accuracies and epoch times the table and macros print
        results=report(
            "results/metrics/results_finetune.csv",
            caption="../report/results.rst",
            category="Metrics",
        ),
    log:
        "results/logs/tex_part4.log",
    benchmark:
        "results/benchmarks/tex_part4/tex_part4.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        num_classes=P4["num_classes"],
        lora_r=P4["lora_r"],
        lora_alpha=P4["lora_alpha"],
        code=code_param("tex_part4.py"),
    script:
        "../scripts/tex_part4.py"
