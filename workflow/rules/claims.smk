"""The problem set's expectations checked against this run: one computed verdict per claim (effdl.report.claims)."""

PAPER_INPUTS["claims"] = ["results/tex/claims.tex", "results/tex/claims_table.tex"]


rule tex_claims:
    input:
        sweep="results/metrics/part1_lr_sweep/summary.csv",
        sched="results/metrics/part1_schedulers/summary.csv",
        sched_epochs="results/metrics/part1_schedulers/epochs.csv",
        quant_rows="results/metrics/quantization_runs.csv",
        sanity="results/metrics/part3_sanity/summary.csv",
        pruning="results/metrics/part3_pruning/summary.csv",
        pruning_epochs="results/metrics/part3_pruning/epochs.csv",
        dw_params="results/metrics/dwconv_params.csv",
        toy=expand(
            "results/transformer_toy/seed{seed}/summary.csv", seed=config["seeds"]
        ),
    output:
        macros="results/tex/claims.tex",
        table="results/tex/claims_table.tex",
        csv=report(
            "results/metrics/claims.csv",
            caption="../report/claims.rst",
            category="Metrics",
        ),
    log:
        "results/logs/tex_claims.log",
    benchmark:
        "results/benchmarks/tex_claims/tex_claims.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        example=config["dwconv"]["param_example"],
        code=code_param("tex_claims.py"),
        margin=claims_margin(),
    script:
        "../scripts/tex_claims.py"
