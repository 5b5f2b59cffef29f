"""Snakemake adapter for rule export_slim_model: structured-pruned SparseConvNet -> smaller SlimConvNet, checked."""

import copy

import pandas as pd
import torch

from effdl.compress.prune import model_sparsity
from effdl.compress.slim import export_slim, slim_checkpoint
from effdl.data import DeviceDataset, iterate_batches, load_packed
from effdl.engine import evaluate
from effdl.execution import resolve_device
from effdl.io import save_checkpoint, write_csv
from effdl.measure import count_parameters
from effdl.provenance import provenance
from effdl.runlog import announce_device, open_log
from effdl.runs import load_run_model

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def max_logit_difference(slim, net, x, dtype, device):
    """Max |slim(x) - net(x)| with both models copied to `dtype` (float64 runs on the CPU)."""
    where = torch.device("cpu") if dtype == torch.float64 else device
    with torch.no_grad():
        outputs = [copy.deepcopy(m).to(where, dtype)(x.to(where, dtype)) for m in (slim, net)]
    return (outputs[0] - outputs[1]).abs().max().item()


def main(model_path, data_path, device_name, tolerance, check_images, out_model, out_check, threads, config):
    device = resolve_device(device_name, jobs_per_device=snakemake.config.get("gpu_jobs_per_device", 1), log=log)
    announce_device(device, log, threads)
    net, spec = load_run_model(model_path)
    slim = export_slim(net.eval())
    packed = load_packed(data_path)
    test = DeviceDataset.from_packed(packed, "test", torch.device("cpu"))
    x, _ = next(iterate_batches(test, check_images, mean=spec["mean"], std=spec["std"]))
    diffs = {dtype: max_logit_difference(slim, net, x, dtype, device) for dtype in (torch.float64, torch.float32)}
    diff = diffs[torch.float64]  # the equivalence is exact algebra; float32 adds rounding noise
    log(f"widths {slim.widths}; max |slim - masked| logit difference on {len(x)} images: {diffs}")
    if not diff <= tolerance:
        raise RuntimeError(f"slim export differs from the masked model by {diff:.3g} > tolerance {tolerance}")
    test = DeviceDataset.from_packed(packed, "test", device)
    accs = {
        name: evaluate(m.to(device), test, mean=spec["mean"], std=spec["std"])[1]
        for name, m in (("masked", net), ("slim", slim))
    }
    save_checkpoint(slim_checkpoint(slim), out_model)
    row = {
        "run": spec["run"],
        "sparsity": model_sparsity(net),
        "widths": " ".join(map(str, slim.widths)),
        "folded_constant_layers": sum(slim.constant_layers),
        "params_masked": count_parameters(net),
        "params_slim": count_parameters(slim),
        "max_abs_diff_float64": diff,
        "max_abs_diff_float32": diffs[torch.float32],
        "tolerance": tolerance,
        "check_images": len(x),
        "test_acc_masked": accs["masked"],
        "test_acc_slim": accs["slim"],
        **provenance(device, spec["seed"], config, packed),
    }
    write_csv(pd.DataFrame([row]), out_check)
    log(f"test accuracy masked {accs['masked']:.2f}% vs slim {accs['slim']:.2f}%; wrote {out_model}")


main(
    snakemake.input.model,
    snakemake.input.data,
    snakemake.config["device"],
    snakemake.params.tolerance,
    snakemake.params.check_images,
    snakemake.output.model,
    snakemake.output.check,
    snakemake.threads,
    snakemake.config,
)
