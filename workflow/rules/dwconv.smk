"""Part 6: depthwise separable convolutions: parameter counts (6.1), runtime benchmark and DWConvNet training (6.2)."""

# exports: P6_RUNS

P6 = config["dwconv"]


# 6.2 deliverable 3: DWConvNet with the groups-based solution layer, Adam + MultiStep (Code Cell 6.3).
P6_RUNS = register_runs(
    "part6",
    {
        f"dwconvnet_solution_seed{seed}": make_spec(
            dataset="cifar10",
            model={"name": "dwconvnet", "impl": "solution"},
            train={
                "optimizer": P6["train"]["optimizer"],
                "lr": P6["train"]["lr"],
                "weight_decay": P6["train"]["weight_decay"],
                "epochs": P6["train"]["epochs"],
                "scheduler": "multistep",
                "milestones": P6["train"]["milestones"],
                "gamma": P6["train"]["gamma"],
            },
            seed=seed,
            labels={"experiment": "dwconv", "impl": "solution"},
        )
        for seed in P6["train"]["seeds"]
    },
)
RUN_COLLECTIONS["part6_dwconv"] = P6_RUNS

PAPER_INPUTS["part6"] = [
    "results/figs/dwconv.pdf",
    "results/tex/part6.tex",
    "results/tex/part6_params_table.tex",
]


rule count_dwconv_params:
    output:
        "results/metrics/dwconv_params.csv",
    log:
        "results/logs/count_dwconv_params.log",
    benchmark:
        "results/benchmarks/count_dwconv_params/count_dwconv_params.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        example=P6["param_example"],
        code=code_param("count_dwconv_params.py"),
    script:
        "../scripts/count_dwconv_params.py"


rule benchmark_dwconv:
    output:
        "results/metrics/dwconv_benchmark.csv",
    log:
        "results/logs/benchmark_dwconv.log",
    benchmark:
        "results/benchmarks/benchmark_dwconv/benchmark_dwconv.tsv"
    conda:
        "../envs/effdl.yaml"
    # One host thread: enough to drive a GPU, and on a shared CPU it keeps OpenMP from stalling.
    threads: 1
    resources:
        gpu=GPU_PER_JOB,
        mem_mb=8000,
        runtime=30,
    params:
        settings=P6["benchmark"],
        code=code_param("benchmark_dwconv.py"),
    script:
        "../scripts/benchmark_dwconv.py"


rule time_dwconv_epochs:
    input:
        data="results/data/cifar10.pt",
    output:
        "results/metrics/dwconv_epoch_timing.csv",
    log:
        "results/logs/time_dwconv_epochs.log",
    benchmark:
        "results/benchmarks/time_dwconv_epochs/time_dwconv_epochs.tsv"
    conda:
        "../envs/effdl.yaml"
    # One host thread, as benchmark_dwconv: the two layers are timed alike, and a shared CPU does not stall.
    threads: 1
    resources:
        gpu=GPU_PER_JOB,
        mem_mb=8000,
        runtime=60,
    params:
        settings=P6["benchmark"],
        mean=config["datasets"]["cifar10"]["mean"],
        std=config["datasets"]["cifar10"]["std"],
        code=code_param("time_dwconv_epochs.py"),
    script:
        "../scripts/time_dwconv_epochs.py"


rule plot_dwconv:
    input:
        iters="results/metrics/part6_dwconv/iters.csv",
        epochs="results/metrics/part6_dwconv/epochs.csv",
    output:
        report(
            "results/figs/dwconv.pdf",
            caption="../report/part6.rst",
            category="Part 6: depthwise separable convolutions",
        ),
    log:
        "results/logs/plot_dwconv.log",
    benchmark:
        "results/benchmarks/plot_dwconv/plot_dwconv.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        window=P6["smoothing_window"],
        code=code_param("plot_dwconv.py"),
    script:
        "../scripts/plot_dwconv.py"


rule tex_part6:
    input:
        params="results/metrics/dwconv_params.csv",
        bench="results/metrics/dwconv_benchmark.csv",
        epoch_timing="results/metrics/dwconv_epoch_timing.csv",
        summary="results/metrics/part6_dwconv/summary.csv",
        epochs="results/metrics/part6_dwconv/epochs.csv",
    output:
        macros="results/tex/part6.tex",
        table="results/tex/part6_params_table.tex",
        # Part 6's tidy results (effdl.report.results): what the macros print
        results=report(
            "results/metrics/results_dwconv.csv",
            caption="../report/results.rst",
            category="Metrics",
        ),
    log:
        "results/logs/tex_part6.log",
    benchmark:
        "results/benchmarks/tex_part6/tex_part6.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        example=P6["param_example"],
        batch_size=config["engine"]["batch_size"],
        code=code_param("tex_part6.py"),
    script:
        "../scripts/tex_part6.py"
