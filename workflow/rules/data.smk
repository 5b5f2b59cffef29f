"""Data preparation: every data set becomes one packed uint8 file, read once by all training jobs."""

# exports: rule prepare_data (results/data/{dataset}.pt)


rule prepare_data:
    input:
        dataset_inputs,
    output:
        "results/data/{dataset}.pt",
    log:
        "results/logs/prepare_data/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_data/{dataset}.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        source=lambda w: config["datasets"][w.dataset],
    script:
        "../scripts/prepare_data.py"
