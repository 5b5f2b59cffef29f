"""Part 2: post-training quantization (8/4/2-bit nearest, 2-bit stochastic trials) of the MNIST MLP and the ConvNet."""

# exports: QUANT_MNIST_RUNS, QUANT_CHECKPOINTS; uses PART1_BASELINE_RUNS (schedules.smk)

from effdl.plan.quant_variants import quant_networks, quantize_rule, variant_names

Q = config["quant"]

# Part 2.1's model: the seed's MNIST MLP, trained once per seed with Adam + StepLR (Code Cell 2.1).
QUANT_MNIST_RUNS = register_runs(
    "part2",
    {
        f"mnist_mlp_seed{seed}": make_spec(
            dataset="mnist",
            model={"name": "mnist_mlp", "hidden": Q["mnist"]["hidden"]},
            train={
                "optimizer": "adam",
                "lr": Q["mnist"]["lr"],
                "weight_decay": 0.0,
                "scheduler": "step",
                "step_size": 1,
                "gamma": Q["mnist"]["gamma"],
                "epochs": Q["mnist"]["epochs"],
                "batch_size": Q["mnist"]["batch_size"],
                "shuffle": Q["mnist"]["shuffle"],
                "augment": False,
                "precision": "fp32",
                "channels_last": False,
            },
            seed=seed,
            labels={"experiment": "quantization"},
        )
        for seed in config["seeds"]
    },
)

# Networks of the PTQ sweep -> the train_model runs whose model.pt they quantize.
QUANT_CHECKPOINTS = {
    "mnist_mlp": QUANT_MNIST_RUNS,
    **(
        {"convnet": PART1_BASELINE_RUNS[: Q["convnet"]["checkpoints"]]}
        if Q["convnet"]["enabled"]
        else {}
    ),
}
QUANT_DATASETS = {"mnist_mlp": "mnist", "convnet": "cifar10"}
QUANT_GRANULARITIES = {
    "mnist_mlp": Q["mnist"]["granularities"],
    "convnet": Q["convnet"]["granularities"],
}
# Each network's variants: fp32, nearest per width, stochastic trials (grammar: effdl.plan.quant_variants).
QUANT_VARIANTS = {
    net: variant_names(
        QUANT_GRANULARITIES[net],
        Q["bits"],
        Q["stochastic"]["bits"],
        Q["stochastic"]["trials"],
    )
    for net in QUANT_CHECKPOINTS
}


# the tests count the quantization jobs from effdl's list of networks
assert list(QUANT_CHECKPOINTS) == quant_networks(Q)


# One job per network evaluates all its variants on all its checkpoints: one process, one data and model load
# (each variant takes seconds; 27 processes per network spent more time starting than evaluating). A rule per
# network because its outputs, the variant CSVs, depend on the network's granularities.
for _net in QUANT_CHECKPOINTS:

    rule:
        name:
            quantize_rule(_net)
        input:
            checkpoints=run_files(QUANT_CHECKPOINTS[_net], "model.pt"),
            data=f"results/data/{QUANT_DATASETS[_net]}.pt",
        output:
            [f"results/quant/{_net}/{variant}.csv" for variant in QUANT_VARIANTS[_net]],
        log:
            f"results/logs/quantize_model/{_net}.log",
        benchmark:
            f"results/benchmarks/{quantize_rule(_net)}/{_net}.tsv"
        # with pack_quantized_model: one SLURM job per network (group-components in the SLURM profile)
        group:
            f"quantize_{_net}"
        conda:
            "../envs/effdl.yaml"
        threads: 1
        resources:
            gpu=GPU_PER_JOB,
            mem_mb=4000,
            # minutes: about 15 s per (variant, checkpoint) evaluation on a CPU, with room to spare
            runtime=5 + len(QUANT_VARIANTS[_net]) * len(QUANT_CHECKPOINTS[_net]) // 4,
        params:
            net=_net,
            variants=QUANT_VARIANTS[_net],
            checkpoint_keys=QUANT_CHECKPOINTS[_net],
            batchnorm=Q["batchnorm"],
            rounding_seed=Q["stochastic"]["seed"],
            eval_batch_size=config["engine"]["eval_batch_size"],
            code=code_param(
                "quantize_model.py", runs=lambda w, keys=QUANT_CHECKPOINTS[_net]: keys
            ),
        script:
            "../scripts/quantize_model.py"


PAPER_INPUTS["part2"] = [
    "results/figs/quantization.pdf",
    "results/tex/part2.tex",
    "results/tex/part2_table.tex",
    "results/tex/part2_packed_table.tex",
]


rule pack_quantized_model:
    input:
        checkpoint=lambda w: run_file(QUANT_CHECKPOINTS[w.net][0], "model.pt"),
        data=lambda w: f"results/data/{QUANT_DATASETS[w.net]}.pt",
    output:
        fp32="results/quant/{net}/packed/fp32_state_dict.pt",
        packed=expand(
            "results/quant/{{net}}/packed/{bits}bit.pt", bits=Q["packed_bits"]
        ),
        sizes="results/quant/{net}/packed/sizes.csv",
    log:
        "results/logs/pack_quantized_model/{net}.log",
    benchmark:
        "results/benchmarks/pack_quantized_model/{net}.tsv"
    wildcard_constraints:
        net="mnist_mlp|convnet",
    group:
        "quantize_{net}"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        gpu=GPU_PER_JOB,
        mem_mb=4000,
        runtime=10,
    params:
        checkpoint_key=lambda w: QUANT_CHECKPOINTS[w.net][0],
        bits=Q["packed_bits"],
        batchnorm=Q["batchnorm"],
        eval_batch_size=config["engine"]["eval_batch_size"],
        code=code_param(
            "pack_quantized_model.py", runs=lambda w: QUANT_CHECKPOINTS[w.net]
        ),
    script:
        "../scripts/pack_quantized_model.py"


rule aggregate_quant:
    input:
        rows=[
            f"results/quant/{net}/{variant}.csv"
            for net in QUANT_CHECKPOINTS
            for variant in QUANT_VARIANTS[net]
        ],
        packed=[f"results/quant/{net}/packed/sizes.csv" for net in QUANT_CHECKPOINTS],
    output:
        rows="results/metrics/quantization_runs.csv",
        summary="results/metrics/quantization.csv",
        packed="results/metrics/quantization_packed.csv",
    log:
        "results/logs/aggregate_quant.log",
    benchmark:
        "results/benchmarks/aggregate_quant/aggregate_quant.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        code=code_param("aggregate_quant.py"),
    script:
        "../scripts/aggregate_quant.py"


rule plot_quantization:
    input:
        summary="results/metrics/quantization.csv",
        rows="results/metrics/quantization_runs.csv",
    output:
        report(
            "results/figs/quantization.pdf",
            caption="../report/part2.rst",
            category="Part 2: post-training quantization",
        ),
    log:
        "results/logs/plot_quantization.log",
    benchmark:
        "results/benchmarks/plot_quantization/plot_quantization.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        code=code_param("plot_quantization.py"),
    script:
        "../scripts/plot_quantization.py"


rule tex_part2:
    input:
        summary="results/metrics/quantization.csv",
        rows="results/metrics/quantization_runs.csv",
        packed="results/metrics/quantization_packed.csv",
    output:
        macros="results/tex/part2.tex",
        table="results/tex/part2_table.tex",
        packed_table="results/tex/part2_packed_table.tex",
        # Part 2's tidy results (effdl.report.results): what the table and the macros print
        results=report(
            "results/metrics/results_quant.csv",
            caption="../report/results.rst",
            category="Metrics",
        ),
    log:
        "results/logs/tex_part2.log",
    benchmark:
        "results/benchmarks/tex_part2/tex_part2.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        mnist=Q["mnist"],
        code=code_param("tex_part2.py"),
    script:
        "../scripts/tex_part2.py"
