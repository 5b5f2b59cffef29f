"""Part 1: learning-rate sweep (1.1) and MultiStep vs cosine schedulers (1.2) on the seed's ConvNet."""

# exports: LR_SWEEP_RUNS, SCHEDULER_RUNS, PART1_BASELINE_RUNS (the MultiStep ConvNets Parts 2 and 3 build on)

from effdl.plan.spec import scheduler_settings

P1 = config["schedules"]


# Part 1.1: one run per (lr, seed), constant lr; Part 1.2: one run per (scheduler, seed).
LR_SWEEP_RUNS = register_runs(
    "part1",
    {
        f"lr_sweep_lr{lr}_seed{seed}": make_spec(
            dataset="cifar10",
            model={"name": "convnet"},
            train={
                "lr": lr,
                "epochs": P1["lr_sweep"]["epochs"],
                "scheduler": P1["lr_sweep"]["scheduler"],
                "milestones": [],
            },
            seed=seed,
            labels={"experiment": "lr_sweep"},
        )
        for seed in config["seeds"]
        for lr in P1["lr_sweep"]["lrs"]
    },
)
SCHEDULER_RUNS = register_runs(
    "part1",
    {
        f"sched_{name}_seed{seed}": make_spec(
            dataset="cifar10",
            model={"name": "convnet"},
            train={
                "lr": P1["schedulers"]["lr"],
                "epochs": P1["schedulers"]["epochs"],
                "scheduler": name,
                "milestones": P1["schedulers"]["milestones"],
                "gamma": P1["schedulers"]["gamma"],
                **scheduler_settings(name, P1["schedulers"]),
            },
            seed=seed,
            labels={"experiment": "schedulers"},
        )
        for seed in config["seeds"]
        for name in P1["schedulers"]["names"]
    },
)
RUN_COLLECTIONS["part1_lr_sweep"] = LR_SWEEP_RUNS
RUN_COLLECTIONS["part1_schedulers"] = SCHEDULER_RUNS
# The Part 1.2 MultiStep ConvNet: the baseline that Parts 2 and 3 build on.
PART1_BASELINE_RUNS = [
    k for k in SCHEDULER_RUNS if RUNS[k]["train"]["scheduler"] == "multistep"
]

PAPER_INPUTS["part1"] = [
    "results/figs/lr_sweep.pdf",
    "results/figs/schedulers.pdf",
    "results/tex/part1.tex",
    "results/tex/part1_table.tex",
]


rule plot_training_curves:
    input:
        iters="results/metrics/part1_{experiment}/iters.csv",
        epochs="results/metrics/part1_{experiment}/epochs.csv",
    output:
        report(
            "results/figs/{experiment}.pdf",
            caption="../report/part1.rst",
            category="Part 1: learning rates and schedulers",
        ),
    log:
        "results/logs/plot_training_curves/{experiment}.log",
    benchmark:
        "results/benchmarks/plot_training_curves/{experiment}.tsv"
    wildcard_constraints:
        experiment="lr_sweep|schedulers",
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        window=P1["smoothing_window"],
        hue=lambda w: "lr" if w.experiment == "lr_sweep" else "scheduler",
        code=code_param("plot_training_curves.py"),
    script:
        "../scripts/plot_training_curves.py"


rule tex_part1:
    input:
        sweep="results/metrics/part1_lr_sweep/summary.csv",
        sched="results/metrics/part1_schedulers/summary.csv",
        sweep_epochs="results/metrics/part1_lr_sweep/epochs.csv",
        sched_epochs="results/metrics/part1_schedulers/epochs.csv",
        sweep_iters="results/metrics/part1_lr_sweep/iters.csv",
        sched_iters="results/metrics/part1_schedulers/iters.csv",
    output:
        macros="results/tex/part1.tex",
        table="results/tex/part1_table.tex",
        # Part 1's tidy results (effdl.report.results): what the table and the macros print
        results=report(
            "results/metrics/results_schedules.csv",
            caption="../report/results.rst",
            category="Metrics",
        ),
    log:
        "results/logs/tex_part1.log",
    benchmark:
        "results/benchmarks/tex_part1/tex_part1.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        window=P1["smoothing_window"],
        code=code_param("tex_part1.py"),
    script:
        "../scripts/tex_part1.py"
