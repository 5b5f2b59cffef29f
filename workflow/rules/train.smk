"""The one generic training rule: trains any run registered in RUNS (see docs/architecture.md)."""

# exports: rules train_model (any key of RUNS) and aggregate_runs (any RUN_COLLECTIONS entry)


# Cacheable between workflows (`--cache`): a run is keyed by its spec, the script, the code it runs and
# software versions (params) and the prepared data's own key, so another clone with the same settings
# reuses it and any change retrains. The code param covers the engine, data path and run lifecycle the
# script imports plus this run's model and hook modules, by syntax tree: comments never retrain. The script writes its benchmark file (see prepare_data).
rule train_model:
    input:
        data=lambda w: f"results/data/{spec_of(w)['dataset']}.pt",
    output:
        iters=run_file("{part}/{run}", "iters.csv"),
        epochs=run_file("{part}/{run}", "epochs.csv"),
        summary=run_file("{part}/{run}", "summary.csv"),
        model=run_file("{part}/{run}", "model.pt"),
        benchmark="results/benchmarks/train_model/{part}/{run}.tsv",
        # sha256 of the outputs above, written by the job: a cache entry or .last-good copy is reused only
        # while it matches (effdl.plan.checksums)
        sums=run_file("{part}/{run}", "checksums.json"),
    log:
        "results/logs/train_model/{part}/{run}.log",
    cache: CACHE_ASKED
    conda:
        "../envs/effdl.yaml"
    threads: train_threads
    resources:
        gpu=GPU_PER_JOB,
        mem_mb=8000,
        runtime=runtime_minutes,
    params:
        spec=spec_of,
        resume_state=run_file("{part}/{run}", "checkpoint.pt"),
        code=code_param("train_model.py", runs=this_run),
        software=SOFTWARE,
    script:
        "../scripts/train_model.py"


rule aggregate_runs:
    input:
        iters=lambda w: run_files(RUN_COLLECTIONS[w.collection], "iters.csv"),
        epochs=lambda w: run_files(RUN_COLLECTIONS[w.collection], "epochs.csv"),
        summary=lambda w: run_files(RUN_COLLECTIONS[w.collection], "summary.csv"),
    output:
        iters="results/metrics/{collection}/iters.csv",
        epochs="results/metrics/{collection}/epochs.csv",
        summary=report(
            "results/metrics/{collection}/summary.csv",
            caption="../report/metrics.rst",
            category="Metrics",
            subcategory="{collection}",
        ),
    log:
        "results/logs/aggregate_runs/{collection}.log",
    benchmark:
        "results/benchmarks/aggregate_runs/{collection}.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        code=code_param("aggregate_runs.py"),
    script:
        "../scripts/aggregate_runs.py"
