"""Data preparation: every data set becomes one packed uint8 file, read once by all training jobs."""

# exports: rule prepare_data (results/data/{dataset}.pt)


# Cacheable between workflows (`--cache`): the key covers the script, params (among them the code
# fingerprint of the script and the effdl modules it imports) and the source files' content. Snakemake forbids `benchmark:` on cached rules, so the script writes the same
# benchmark file itself, as an output that travels with the cached data.
rule prepare_data:
    input:
        dataset_inputs,
    output:
        data="results/data/{dataset}.pt",
        benchmark="results/benchmarks/prepare_data/{dataset}.tsv",
        # sha256 of the outputs above, written by the job (effdl.plan.checksums)
        sums="results/data/{dataset}.checksums.json",
    log:
        "results/logs/prepare_data/{dataset}.log",
    cache: CACHE_ASKED
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        source=lambda w: config["datasets"][w.dataset],
        code=code_param("prepare_data.py"),
        software=SOFTWARE,
    script:
        "../scripts/prepare_data.py"
