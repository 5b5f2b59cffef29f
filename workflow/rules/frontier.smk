"""Beyond the problem set: the efficiency frontier of the ConvNet family (accuracy against bytes, latency, MACs)."""

# uses PART1_BASELINE_RUNS (schedules.smk), P3_BASELINE_BY_SEED, P3_BENCHMARK_SEED (prune.smk), P6_RUNS
# (dwconv.smk); reads the parts' metrics CSVs

# The DWConvNet timed beside the dense ConvNet: the benchmark seed's run when Part 6 trains it, else its first.
FRONTIER_DW_RUN = next(
    (key for key in P6_RUNS if RUNS[key]["seed"] == P3_BENCHMARK_SEED), P6_RUNS[0]
)
FRONTIER_BENCH_RUNS = [P3_BASELINE_BY_SEED[P3_BENCHMARK_SEED], FRONTIER_DW_RUN]

PAPER_INPUTS["frontier"] = [
    "results/figs/frontier.pdf",
    "results/tex/frontier.tex",
    "results/tex/frontier_table.tex",
]


rule benchmark_frontier_models:
    input:
        dense=run_file(FRONTIER_BENCH_RUNS[0], "model.pt"),
        dwconv=run_file(FRONTIER_DW_RUN, "model.pt"),
        data="results/data/cifar10.pt",
    output:
        "results/metrics/frontier_benchmark.csv",
    log:
        "results/logs/benchmark_frontier_models.log",
    benchmark:
        "results/benchmarks/benchmark_frontier_models/benchmark.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 2
    resources:
        gpu=GPU_PER_JOB,
        mem_mb=4000,
        runtime=20,
    params:
        # the pruning benchmark's settings: the same measurement, so its numbers mean the same thing
        batch_sizes=config["prune"]["benchmark"]["batch_sizes"],
        warmup=config["prune"]["benchmark"]["warmup"],
        repeats=config["prune"]["benchmark"]["repeats"],
        code=code_param(
            "benchmark_frontier_models.py", runs=lambda w: FRONTIER_BENCH_RUNS
        ),
    script:
        "../scripts/benchmark_frontier_models.py"


rule frontier_table:
    input:
        baseline=run_files(PART1_BASELINE_RUNS, "summary.csv"),
        quant_rows="results/metrics/quantization_runs.csv",
        packed="results/metrics/quantization_packed.csv",
        pruned="results/metrics/part3_pruning/summary.csv",
        slim=expand("results/metrics/part3_slim/seed{seed}.csv", seed=config["seeds"]),
        bench="results/metrics/pruning_benchmark.csv",
        oneshot=expand(
            "results/metrics/part3_oneshot/seed{seed}.csv",
            seed=sorted(P3_BASELINE_BY_SEED),
        ),
        sparsity="results/metrics/pruning_sparsity.csv",
        dwconv="results/metrics/part6_dwconv/summary.csv",
        dw_bench="results/metrics/frontier_benchmark.csv",
    output:
        "results/metrics/frontier.csv",
    log:
        "results/logs/frontier_table.log",
    benchmark:
        "results/benchmarks/frontier_table/frontier_table.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        code=code_param("frontier_table.py"),
    script:
        "../scripts/frontier_table.py"


rule plot_frontier:
    input:
        table="results/metrics/frontier.csv",
        bench="results/metrics/pruning_benchmark.csv",
        baseline=run_files(PART1_BASELINE_RUNS, "summary.csv"),
    output:
        report(
            "results/figs/frontier.pdf",
            caption="../report/frontier.rst",
            category="Beyond the problem set: the efficiency frontier",
        ),
    log:
        "results/logs/plot_frontier.log",
    benchmark:
        "results/benchmarks/plot_frontier/plot_frontier.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        code=code_param("plot_frontier.py"),
    script:
        "../scripts/plot_frontier.py"


rule tex_frontier:
    input:
        table="results/metrics/frontier.csv",
        quant_rows="results/metrics/quantization_runs.csv",
        packed="results/metrics/quantization_packed.csv",
        finetune="results/metrics/part4_finetune/summary.csv",
    output:
        macros="results/tex/frontier.tex",
        table="results/tex/frontier_table.tex",
    log:
        "results/logs/tex_frontier.log",
    benchmark:
        "results/benchmarks/tex_frontier/tex_frontier.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        code=code_param("tex_frontier.py"),
    script:
        "../scripts/tex_frontier.py"
