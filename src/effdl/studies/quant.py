"""Part 2 study glue: PTQ variants of trained checkpoints evaluated, and bit-packed checkpoint files written.

Variants are named as in `effdl.plan.quant_variants`; summaries, tables, macros and the figure: `effdl.report.part2`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from effdl.compress.quant import (
    dequantize_state_dict,
    pack_state_dict,
    quantize_state_dict,
    select_quantized_names,
    state_dict_nbytes,
    unpack_state_dict,
)
from effdl.data import DeviceDataset, load_packed
from effdl.engine import evaluate
from effdl.io import load_checkpoint, save_checkpoint
from effdl.plan.quant_variants import Variant, parse_variant
from effdl.provenance import provenance
from effdl.runs import load_run_model


def load_trained_model(checkpoint_path: str | Path, device: torch.device) -> tuple[torch.nn.Module, dict]:
    """Rebuild the model of a train_model checkpoint ({'state_dict', 'spec', ...}); returns (model, spec)."""
    model, spec = load_run_model(checkpoint_path)
    return model.to(device).eval(), spec


def rounding_rng(rounding_seed: int, trial: int, checkpoint_seed: int) -> np.random.Generator:
    """The generator of one stochastic trial on one checkpoint: independent across trials and checkpoints."""
    return np.random.default_rng([rounding_seed, trial, checkpoint_seed])


def quantize_model_state(model: torch.nn.Module, variant: Variant, *, batchnorm: str, rng=None):
    """The QuantizedStateDict of `model` for a (non-fp32) variant; BatchNorm treated per `batchnorm`."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    names = select_quantized_names(model, batchnorm)
    return quantize_state_dict(
        state, names, variant.bits, variant.rounding, rng, per_channel=variant.granularity == "channel"
    )


def ptq_variant_rows(
    checkpoints: dict[str, str],
    data_path: str | Path,
    variant_name: str,
    *,
    net: str,
    batchnorm: str,
    rounding_seed: int,
    eval_batch_size: int,
    device: torch.device,
    config: dict,
    log=print,
) -> pd.DataFrame:
    """Evaluate one variant on every checkpoint ({run key: model.pt}); one row per checkpoint, with provenance."""
    return ptq_network_rows(
        checkpoints,
        data_path,
        [variant_name],
        net=net,
        batchnorm=batchnorm,
        rounding_seed=rounding_seed,
        eval_batch_size=eval_batch_size,
        device=device,
        config=config,
        log=log,
    )[variant_name]


def ptq_network_rows(
    checkpoints: dict[str, str],
    data_path: str | Path,
    variant_names: list[str],
    *,
    net: str,
    batchnorm: str,
    rounding_seed: int,
    eval_batch_size: int,
    device: torch.device,
    config: dict,
    log=print,
) -> dict[str, pd.DataFrame]:
    """Evaluate every variant on every checkpoint in one process: {variant: one row per checkpoint}.

    The data set is loaded once and each checkpoint once; every variant starts from that checkpoint's fp32
    weights (restored before each), so a variant's rows equal those of a process that evaluates it alone.
    """
    variants = [parse_variant(name) for name in variant_names]  # every name checked before any work
    packed = load_packed(data_path)
    test_set = DeviceDataset.from_packed(packed, "test", device)
    meta = {"source": packed["source"], "sha256": packed["sha256"]}
    rows: dict[str, list[dict]] = {variant.name: [] for variant in variants}
    for run_key, path in checkpoints.items():
        model, spec = load_trained_model(path, device)
        fp32_state = {k: v.detach().clone() for k, v in model.state_dict().items()}  # not views of the model
        fp32_bytes = state_dict_nbytes(fp32_state)
        prov = provenance(device, spec["seed"], config, meta)  # the same for every variant of this checkpoint
        for variant in variants:
            model.load_state_dict(fp32_state)  # never start from the previous variant's quantized weights
            row = _variant_row(
                model, spec, variant, run_key, fp32_bytes, net=net, batchnorm=batchnorm, seed=rounding_seed
            )
            # fp32 evaluation on purpose: bf16 autocast would round the weights to 8 mantissa bits on its own.
            loss, acc = evaluate(
                model, test_set, mean=spec["mean"], std=spec["std"], batch_size=eval_batch_size, precision="fp32"
            )
            row.update(
                test_loss=loss,
                test_acc=acc,
                correct=int(round(acc * len(test_set) / 100)),
                n_test=len(test_set),
                **prov,
            )
            log(f"{run_key} {variant.name}: test accuracy {acc:.2f}% ({row['correct']}/{len(test_set)})")
            rows[variant.name].append(row)
    return {name: pd.DataFrame(variant_rows) for name, variant_rows in rows.items()}


def _variant_row(
    model: torch.nn.Module, spec: dict, variant: Variant, run_key: str, fp32_bytes: int, *, net, batchnorm, seed
) -> dict:
    """Quantize `model` in place to `variant` (fp32: leave it) and return the row's identifying and size columns."""
    row = {
        "net": net,
        "variant": variant.name,
        "rounding": variant.rounding,
        "granularity": variant.granularity,
        "bits": variant.bits,
        "trial": variant.trial,
        "batchnorm": batchnorm,
        "checkpoint": run_key,
        "epochs_planned": spec["train"]["epochs"],
        "fp32_bytes": fp32_bytes,
    }
    if variant.rounding == "fp32":
        row.update(
            uint8_bytes=fp32_bytes,
            packed_bytes=fp32_bytes,
            quantized_tensors=0,
            quantized_values=0,
            rounding_seed=None,
        )
        return row
    rng = rounding_rng(seed, variant.trial, spec["seed"]) if variant.rounding == "stochastic" else None
    qsd = quantize_model_state(model, variant, batchnorm=batchnorm, rng=rng)
    model.load_state_dict(dequantize_state_dict(qsd))
    row.update(
        uint8_bytes=qsd.nbytes(),
        packed_bytes=qsd.nbytes(packed=True),
        quantized_tensors=len(qsd.quantized),
        quantized_values=int(sum(q.size for q, _ in qsd.quantized.values())),
        rounding_seed=seed if rng is not None else None,
    )
    return row


def packed_checkpoint_rows(
    checkpoint_path: str | Path,
    run_key: str,
    data_path: str | Path,
    *,
    net: str,
    bits_list,
    batchnorm: str,
    fp32_path: str | Path,
    packed_paths: dict,
    eval_batch_size: int,
    device: torch.device,
    config: dict,
    log=print,
) -> pd.DataFrame:
    """Write the fp32 state dict and a bit-packed file per width, reload each, check it bit-exact, measure files.

    Raises RuntimeError if a reloaded model differs in any bit from the simulated (fake-quantized) one.
    """
    packed_data = load_packed(data_path)
    test_set = DeviceDataset.from_packed(packed_data, "test", device)
    meta = {"source": packed_data["source"], "sha256": packed_data["sha256"]}
    model, spec = load_trained_model(checkpoint_path, device)
    fp32_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}  # not views of the model
    save_checkpoint(fp32_state, fp32_path)
    rows = []
    for bits in bits_list:
        model.load_state_dict(fp32_state)  # every width starts from fp32, never from the previous width's result
        qsd = quantize_model_state(model, Variant("nearest", "tensor", bits), batchnorm=batchnorm)
        save_checkpoint(pack_state_dict(qsd), packed_paths[bits])
        simulated = dequantize_state_dict(qsd)
        from_file = dequantize_state_dict(unpack_state_dict(load_checkpoint(packed_paths[bits])))
        mismatched = [k for k in simulated if not torch.equal(simulated[k], from_file[k])]
        if mismatched or list(simulated) != list(from_file):
            raise RuntimeError(f"the reloaded {bits}-bit checkpoint differs from the simulated model in {mismatched}")
        # Identical tensors give identical outputs, so one evaluation (of the reloaded model) suffices.
        model.load_state_dict(from_file)
        acc = evaluate(
            model, test_set, mean=spec["mean"], std=spec["std"], batch_size=eval_batch_size, precision="fp32"
        )[1]
        rows.append(
            {
                "net": net,
                "bits": bits,
                "granularity": "tensor",
                "batchnorm": batchnorm,
                "checkpoint": run_key,
                "fp32_file_bytes": Path(fp32_path).stat().st_size,
                "packed_file_bytes": Path(packed_paths[bits]).stat().st_size,
                "fp32_payload_bytes": state_dict_nbytes(fp32_state),
                "packed_payload_bytes": qsd.nbytes(packed=True),
                "bit_exact": True,
                "test_acc_from_file": acc,
                **provenance(device, spec["seed"], config, meta),
            }
        )
        log(
            f"{bits}-bit packed file: {rows[-1]['packed_file_bytes']} bytes vs fp32 {rows[-1]['fp32_file_bytes']}; "
            f"reloaded bit-exact, accuracy {acc:.2f}%"
        )
    return pd.DataFrame(rows)
