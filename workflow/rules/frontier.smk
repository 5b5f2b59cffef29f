"""Beyond the problem set: the efficiency frontier of the ConvNet family (accuracy against bytes, latency, MACs)."""

# uses PART1_BASELINE_RUNS (schedules.smk), P3_BASELINE_BY_SEED (prune.smk); reads the parts' metrics CSVs

PAPER_INPUTS["frontier"] = [
    "results/figs/frontier.pdf",
    "results/tex/frontier.tex",
    "results/tex/frontier_table.tex",
]


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
