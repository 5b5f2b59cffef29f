"""Snakemake adapter for rule oneshot_prune_sweep: prune the trained Part 1.2 ConvNet once per sparsity and mode."""

import pandas as pd

from effdl.compress.prune import model_sparsity, oneshot_prune
from effdl.data import DeviceDataset, load_packed
from effdl.engine import evaluate
from effdl.execution import resolve_device
from effdl.io import write_csv
from effdl.measure import count_parameters
from effdl.provenance import provenance
from effdl.runlog import announce_device, open_log
from effdl.runs import load_run_model

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(model_path, data_path, device_name, sparsities, modes, out_csv, threads, config):
    device = resolve_device(device_name, jobs_per_device=snakemake.config.get("gpu_jobs_per_device", 1), log=log)
    announce_device(device, log, threads)
    dense, spec = load_run_model(model_path)
    dense = dense.to(device).eval()
    packed = load_packed(data_path)
    test = DeviceDataset.from_packed(packed, "test", device)
    prov = provenance(device, spec["seed"], config, packed)
    rows, results = [], {}
    for mode in modes:
        for target in sparsities:
            pruned = oneshot_prune(dense, mode, target)
            key = (mode, target) if target > 0 else "unpruned"  # at 0% both modes are the same network
            if key not in results:
                results[key] = evaluate(pruned, test, mean=spec["mean"], std=spec["std"])
            loss, acc = results[key]
            rows.append(
                {
                    "baseline_run": spec["run"],
                    "epochs_planned": spec["train"]["epochs"],
                    "mode": mode,
                    "target_sparsity": target,
                    "sparsity": model_sparsity(pruned),
                    "params_nonzero": count_parameters(pruned, nonzero=True),
                    "test_loss": loss,
                    "test_acc": acc,
                    **prov,
                }
            )
            log(f"{mode} one-shot {target:.0%}: test accuracy {acc:.2f}%")
    write_csv(pd.DataFrame(rows), out_csv)


main(
    snakemake.input.model,
    snakemake.input.data,
    snakemake.config["device"],
    list(snakemake.params.sparsities),
    list(snakemake.params.modes),
    snakemake.output[0],
    snakemake.threads,
    snakemake.config,
)
