"""Part 3: structured/unstructured pruning of the ConvNet: sanity run, gradual schedule, one-shot sweep, slim export."""

# exports: P3_SANITY_RUNS, P3_PRUNING_RUNS, P3_PRUNE_AFTER; uses LR_SWEEP_RUNS, PART1_BASELINE_RUNS (schedules.smk)

from effdl.plan.prune import PRUNE_MODES, prune_after_epochs

P3 = config["prune"]
P3_MODES = list(PRUNE_MODES)
P3_SCHEDULE = P3["schedule"]
# Pruning epochs are configured as completed-epoch counts (the CSV `epoch` column, 1-based: prune after
# the 10th, 20th, ... epoch); the engine hook takes the 0-based index of the epoch just trained.
try:
    P3_PRUNE_AFTER = prune_after_epochs(P3_SCHEDULE)
except ValueError as err:
    raise WorkflowError(str(err)) from None

P3_CONTROLS = P3["controls"]
# The BatchNorm control's hook (PruningHook plus its measurements) only when on, so runs without it keep their
# identity; the pruning itself is the same.
P3_BN_CONTROL = (
    {"name": "prune_bn_control", "bn_batches": P3_CONTROLS["bn_batches"]}
    if P3_CONTROLS["bn_batches"] > 0
    else {}
)


# Part 3.2: SparseConvNet without pruning, compared with Part 1.1's ConvNet at the same lr.
P3_SANITY_RUNS = register_runs(
    "part3",
    {
        f"sanity_seed{seed}": make_spec(
            dataset="cifar10",
            model={"name": "sparse_convnet", "mode": "structured"},
            train={
                "lr": P3["sanity"]["lr"],
                "epochs": P3["sanity"]["epochs"],
                "scheduler": P3["sanity"]["scheduler"],
                "milestones": [],
            },
            seed=seed,
            labels={"experiment": "sparse_sanity", "mode": "unpruned"},
        )
        for seed in config["seeds"]
    },
)
# Parts 3.3/3.4: gradual pruning during a Part 1.2 MultiStep run, one run per (mode, seed).
P3_PRUNING_RUNS = register_runs(
    "part3",
    {
        f"{mode}_seed{seed}": make_spec(
            dataset="cifar10",
            model={"name": "sparse_convnet", "mode": mode},
            train={
                "lr": P3_SCHEDULE["lr"],
                "epochs": P3_SCHEDULE["epochs"],
                "scheduler": "multistep",
                "milestones": P3_SCHEDULE["milestones"],
                "gamma": P3_SCHEDULE["gamma"],
            },
            seed=seed,
            labels={
                "experiment": "pruning",
                "mode": mode,
                "prune_percent": P3_SCHEDULE["prune_percentage"],
            },
            hooks=[
                {
                    "name": "prune",
                    "mode": mode,
                    "prune_percent": P3_SCHEDULE["prune_percentage"],
                    "prune_epochs": [epoch - 1 for epoch in P3_PRUNE_AFTER],
                    **P3_BN_CONTROL,
                }
            ],
        )
        for seed in config["seeds"]
        for mode in P3_MODES
    },
)
# Control beyond the problem set: SparseConvNet on the pruning runs' schedule (same init, optimizer, epochs,
# milestones, seeds) with pruning off, so pruned vs dense compares the same architecture and initialisation.
P3_UNPRUNED_RUNS = register_runs(
    "part3",
    {
        f"unpruned_seed{seed}": make_spec(
            dataset="cifar10",
            model={"name": "sparse_convnet", "mode": P3_MODES[0]},
            train={
                "lr": P3_SCHEDULE["lr"],
                "epochs": P3_SCHEDULE["epochs"],
                "scheduler": "multistep",
                "milestones": P3_SCHEDULE["milestones"],
                "gamma": P3_SCHEDULE["gamma"],
            },
            seed=seed,
            labels={"experiment": "unpruned_control", "mode": "unpruned"},
        )
        for seed in (config["seeds"] if P3_CONTROLS["unpruned"] else [])
    },
)
RUN_COLLECTIONS["part3_sanity"] = P3_SANITY_RUNS
RUN_COLLECTIONS["part3_pruning"] = P3_PRUNING_RUNS
if P3_UNPRUNED_RUNS:
    RUN_COLLECTIONS["part3_unpruned"] = P3_UNPRUNED_RUNS
# Part 1.1 ConvNet runs at the sanity run's lr, and the Part 1.2 MultiStep baseline per seed.
P3_SANITY_REFERENCE = [
    k for k in LR_SWEEP_RUNS if RUNS[k]["train"]["lr"] == P3["sanity"]["lr"]
]
P3_BASELINE_BY_SEED = {RUNS[k]["seed"]: k for k in PART1_BASELINE_RUNS}
if not P3_BASELINE_BY_SEED:
    raise WorkflowError(
        "Part 3 compares against the Part 1.2 MultiStep ConvNet, but schedules.schedulers.names has no "
        "'multistep'. Fix: add it there."
    )
P3_BENCHMARK_SEED = config["seeds"][0]
# The runs whose checkpoints benchmark_pruned_models loads (their model modules count in its code).
P3_BENCHMARK_RUNS = [
    P3_BASELINE_BY_SEED[P3_BENCHMARK_SEED],
    f"part3/structured_seed{P3_BENCHMARK_SEED}",
    f"part3/unstructured_seed{P3_BENCHMARK_SEED}",
]

PAPER_INPUTS["part3"] = [
    "results/figs/sparse_sanity.pdf",
    "results/figs/pruning.pdf",
    "results/figs/oneshot_pruning.pdf",
    "results/tex/part3.tex",
    "results/tex/part3_benchmark.tex",
    "results/tex/part3_controls.tex",
]


rule tabulate_pruning_sparsity:
    input:
        "results/metrics/part3_pruning/epochs.csv",
    output:
        "results/metrics/pruning_sparsity.csv",
    log:
        "results/logs/tabulate_pruning_sparsity.log",
    benchmark:
        "results/benchmarks/tabulate_pruning_sparsity/tabulate_pruning_sparsity.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        code=code_param("tabulate_pruning_sparsity.py"),
    script:
        "../scripts/tabulate_pruning_sparsity.py"


rule export_slim_model:
    input:
        model=run_file("part3/structured_seed{seed}", "model.pt"),
        data="results/data/cifar10.pt",
    output:
        model="results/models/part3/slim_structured_seed{seed}.pt",
        check="results/metrics/part3_slim/seed{seed}.csv",
    log:
        "results/logs/export_slim_model/seed{seed}.log",
    benchmark:
        "results/benchmarks/export_slim_model/seed{seed}.tsv"
    wildcard_constraints:
        seed=r"\d+",
    conda:
        "../envs/effdl.yaml"
    threads: 2
    resources:
        gpu=GPU_PER_JOB,
        mem_mb=4000,
        runtime=10,
    params:
        tolerance=P3["export"]["tolerance"],
        check_images=P3["export"]["check_images"],
        code=code_param(
            "export_slim_model.py", runs=lambda w: [f"part3/structured_seed{w.seed}"]
        ),
    script:
        "../scripts/export_slim_model.py"


rule oneshot_prune_sweep:
    input:
        model=lambda w: run_file(P3_BASELINE_BY_SEED[int(w.seed)], "model.pt"),
        data="results/data/cifar10.pt",
    output:
        "results/metrics/part3_oneshot/seed{seed}.csv",
    log:
        "results/logs/oneshot_prune_sweep/seed{seed}.log",
    benchmark:
        "results/benchmarks/oneshot_prune_sweep/seed{seed}.tsv"
    wildcard_constraints:
        seed=r"\d+",
    conda:
        "../envs/effdl.yaml"
    threads: 2
    resources:
        gpu=GPU_PER_JOB,
        mem_mb=4000,
        runtime=20,
    params:
        sparsities=P3["oneshot"]["sparsities"],
        modes=P3_MODES,
        code=code_param(
            "oneshot_prune_sweep.py", runs=lambda w: [P3_BASELINE_BY_SEED[int(w.seed)]]
        ),
    script:
        "../scripts/oneshot_prune_sweep.py"


rule benchmark_pruned_models:
    input:
        dense=run_file(P3_BASELINE_BY_SEED[P3_BENCHMARK_SEED], "model.pt"),
        structured=run_file(f"part3/structured_seed{P3_BENCHMARK_SEED}", "model.pt"),
        unstructured=run_file(f"part3/unstructured_seed{P3_BENCHMARK_SEED}", "model.pt"),
        slim=f"results/models/part3/slim_structured_seed{P3_BENCHMARK_SEED}.pt",
        data="results/data/cifar10.pt",
    output:
        "results/metrics/pruning_benchmark.csv",
    log:
        "results/logs/benchmark_pruned_models.log",
    benchmark:
        "results/benchmarks/benchmark_pruned_models/benchmark.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 2
    resources:
        gpu=GPU_PER_JOB,
        mem_mb=4000,
        runtime=20,
    params:
        batch_sizes=P3["benchmark"]["batch_sizes"],
        warmup=P3["benchmark"]["warmup"],
        repeats=P3["benchmark"]["repeats"],
        code=code_param("benchmark_pruned_models.py", runs=lambda w: P3_BENCHMARK_RUNS),
    script:
        "../scripts/benchmark_pruned_models.py"


rule plot_sparse_sanity:
    input:
        sparse_epochs="results/metrics/part3_sanity/epochs.csv",
        dense_epochs=run_files(P3_SANITY_REFERENCE, "epochs.csv"),
    output:
        report(
            "results/figs/sparse_sanity.pdf",
            caption="../report/part3.rst",
            category="Part 3: pruning",
        ),
    log:
        "results/logs/plot_sparse_sanity.log",
    benchmark:
        "results/benchmarks/plot_sparse_sanity/plot_sparse_sanity.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        code=code_param("plot_sparse_sanity.py"),
    script:
        "../scripts/plot_sparse_sanity.py"


rule plot_pruning:
    input:
        pruned="results/metrics/part3_pruning/epochs.csv",
        baseline=run_files(PART1_BASELINE_RUNS, "epochs.csv"),
        unpruned=(
            ["results/metrics/part3_unpruned/epochs.csv"] if P3_UNPRUNED_RUNS else []
        ),
    output:
        report(
            "results/figs/pruning.pdf",
            caption="../report/part3.rst",
            category="Part 3: pruning",
        ),
    log:
        "results/logs/plot_pruning.log",
    benchmark:
        "results/benchmarks/plot_pruning/plot_pruning.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        code=code_param("plot_pruning.py"),
    script:
        "../scripts/plot_pruning.py"


rule plot_oneshot_pruning:
    input:
        oneshot=expand(
            "results/metrics/part3_oneshot/seed{seed}.csv",
            seed=sorted(P3_BASELINE_BY_SEED),
        ),
        gradual="results/metrics/part3_pruning/epochs.csv",
        baseline=run_files(PART1_BASELINE_RUNS, "summary.csv"),
    output:
        report(
            "results/figs/oneshot_pruning.pdf",
            caption="../report/part3.rst",
            category="Part 3: pruning",
        ),
    log:
        "results/logs/plot_oneshot_pruning.log",
    benchmark:
        "results/benchmarks/plot_oneshot_pruning/plot_oneshot_pruning.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        code=code_param("plot_oneshot_pruning.py"),
    script:
        "../scripts/plot_oneshot_pruning.py"


rule tex_part3:
    input:
        sanity="results/metrics/part3_sanity/summary.csv",
        sanity_epochs="results/metrics/part3_sanity/epochs.csv",
        sanity_reference=run_files(P3_SANITY_REFERENCE, "summary.csv"),
        sanity_reference_epochs=run_files(P3_SANITY_REFERENCE, "epochs.csv"),
        pruned_summary="results/metrics/part3_pruning/summary.csv",
        pruned_epochs="results/metrics/part3_pruning/epochs.csv",
        baseline_summary=run_files(PART1_BASELINE_RUNS, "summary.csv"),
        sparsity="results/metrics/pruning_sparsity.csv",
        oneshot=expand(
            "results/metrics/part3_oneshot/seed{seed}.csv",
            seed=sorted(P3_BASELINE_BY_SEED),
        ),
        slim_checks=expand(
            "results/metrics/part3_slim/seed{seed}.csv", seed=config["seeds"]
        ),
        benchmark="results/metrics/pruning_benchmark.csv",
        unpruned=(
            ["results/metrics/part3_unpruned/summary.csv"] if P3_UNPRUNED_RUNS else []
        ),
    output:
        macros="results/tex/part3.tex",
        table="results/tex/part3_benchmark.tex",
        controls="results/tex/part3_controls.tex",
        # Part 3's tidy results (effdl.report.results): the final accuracies the macros print
        results=report(
            "results/metrics/results_prune.csv",
            caption="../report/results.rst",
            category="Metrics",
        ),
    log:
        "results/logs/tex_part3.log",
    benchmark:
        "results/benchmarks/tex_part3/tex_part3.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        bn_batches=P3_CONTROLS["bn_batches"],
        code=code_param("tex_part3.py"),
    script:
        "../scripts/tex_part3.py"
