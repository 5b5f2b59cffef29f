"""Part 5: the notebook's transformer: positional-encoding figure, counted matmuls, toy reversal training."""

# exports: PAPER_INPUTS["part5"]

P5 = config["transformer"]

PAPER_INPUTS["part5"] = [
    "results/figs/positional_encoding.pdf",
    "results/tex/part5.tex",
    "results/tex/part5_matmuls.tex",
    "results/tex/part5_hparams.tex",
]


rule plot_positional_encoding:
    output:
        report(
            "results/figs/positional_encoding.pdf",
            caption="../report/part5.rst",
            category="Part 5: transformer",
        ),
    log:
        "results/logs/plot_positional_encoding.log",
    benchmark:
        "results/benchmarks/plot_positional_encoding/plot_positional_encoding.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        length=P5["positional_encoding"]["length"],
        depth=P5["positional_encoding"]["depth"],
        code=code_param("plot_positional_encoding.py"),
    script:
        "../scripts/plot_positional_encoding.py"


rule count_matmuls:
    output:
        totals="results/metrics/transformer_matmuls.csv",
        roles="results/metrics/transformer_matmuls_by_role.csv",
    log:
        "results/logs/count_matmuls.log",
    benchmark:
        "results/benchmarks/count_matmuls/count_matmuls.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        notebook_model=P5["notebook_model"],
        check=P5["matmul_check"],
        code=code_param("count_matmuls.py"),
    script:
        "../scripts/count_matmuls.py"


rule train_toy_transformer:
    output:
        history="results/transformer_toy/seed{seed}/history.csv",
        summary="results/transformer_toy/seed{seed}/summary.csv",
        model="results/transformer_toy/seed{seed}/model.pt",
    log:
        "results/logs/train_toy_transformer/seed{seed}.log",
    benchmark:
        "results/benchmarks/train_toy_transformer/seed{seed}.tsv"
    wildcard_constraints:
        seed=r"\d+",
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        gpu=GPU_PER_JOB,
        mem_mb=2000,
        runtime=30,
    params:
        toy=P5["toy"],
        code=code_param("train_toy_transformer.py"),
    script:
        "../scripts/train_toy_transformer.py"


rule tex_part5:
    input:
        totals="results/metrics/transformer_matmuls.csv",
        roles="results/metrics/transformer_matmuls_by_role.csv",
        toy=expand(
            "results/transformer_toy/seed{seed}/summary.csv", seed=config["seeds"]
        ),
        history=expand(
            "results/transformer_toy/seed{seed}/history.csv", seed=config["seeds"]
        ),
    output:
        macros="results/tex/part5.tex",
        matmuls="results/tex/part5_matmuls.tex",
        hparams="results/tex/part5_hparams.tex",
        # Part 5's tidy results (effdl.report.results): what the macros print
        results=report(
            "results/metrics/results_transformer.csv",
            caption="../report/results.rst",
            category="Metrics",
        ),
    log:
        "results/logs/tex_part5.log",
    benchmark:
        "results/benchmarks/tex_part5/tex_part5.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        pe_length=P5["positional_encoding"]["length"],
        pe_depth=P5["positional_encoding"]["depth"],
        code=code_param("tex_part5.py"),
    script:
        "../scripts/tex_part5.py"
