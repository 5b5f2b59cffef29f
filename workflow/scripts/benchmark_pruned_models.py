"""Snakemake adapter for rule benchmark_pruned_models: size, MACs, accuracy, latency of dense, masked, slim models."""

import pandas as pd

from effdl.compress.prune import get_sparse_conv2d_layers
from effdl.compress.slim import slim_from_checkpoint
from effdl.data import DeviceDataset, load_packed
from effdl.engine import evaluate
from effdl.execution import resolve_device
from effdl.io import load_checkpoint, write_csv
from effdl.measure import measure_latency, model_costs
from effdl.provenance import provenance
from effdl.runlog import announce_device, open_log
from effdl.runs import load_run_model

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(inputs, device_name, batch_sizes, warmup, repeats, out_csv, threads, config):
    device = resolve_device(device_name, jobs_per_device=snakemake.config.get("gpu_jobs_per_device", 1), log=log)
    announce_device(device, log, threads)
    dense, spec = load_run_model(inputs.dense)
    models = {
        "dense": dense,
        "structured_masked": load_run_model(inputs.structured)[0],
        "structured_slim": slim_from_checkpoint(load_checkpoint(inputs.slim)),
        "unstructured_masked": load_run_model(inputs.unstructured)[0],
    }
    packed = load_packed(inputs.data)
    test = DeviceDataset.from_packed(packed, "test", device)
    rows = []
    for name, model in models.items():
        model = model.to(device).eval()
        costs = model_costs(model, sparse_layers=get_sparse_conv2d_layers(model))
        acc = evaluate(model, test, mean=spec["mean"], std=spec["std"])[1]
        for batch_size in batch_sizes:
            latency = measure_latency(model, (batch_size, 3, 32, 32), device, warmup=warmup, repeats=repeats)
            rows.append(
                {
                    "model": name,
                    "batch_size": batch_size,
                    **latency,
                    "test_acc": acc,
                    **costs,
                    "repeats": repeats,
                    **provenance(device, spec["seed"], config, packed),
                }
            )
            log(
                f"{name} batch {batch_size}: {latency['latency_ms_median']:.3f} ms, {costs['params']} params, "
                f"test accuracy {acc:.2f}%"
            )
    write_csv(pd.DataFrame(rows), out_csv)


main(
    snakemake.input,
    snakemake.config["device"],
    list(snakemake.params.batch_sizes),
    snakemake.params.warmup,
    snakemake.params.repeats,
    snakemake.output[0],
    snakemake.threads,
    snakemake.config,
)
