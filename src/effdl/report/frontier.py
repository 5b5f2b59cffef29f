"""The efficiency frontier of the CIFAR-10 ConvNet family: test accuracy against stored bytes, latency and MACs.

Beyond the problem set: every compressed variant the study produces of the Part 1.2 ConvNet (PTQ widths,
granularities and stochastic rounding, gradual structured/unstructured pruning and the slim export, one-shot
pruning, the depthwise-separable DWConvNet) in one table, read from the CSVs the parts already write. A
variant whose bytes, latency or MACs no job measured carries NaN there and a `*_how` label saying so: nothing
is filled in. `frontier_points` computes the table once (rule frontier_table writes it as a CSV); the
figure (`effdl.report.frontier_figure`) and the paper's table and generated answer
(`effdl.report.frontier_text`) read that CSV. Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from effdl.plan.quant_variants import parse_variant
from effdl.plan.registry import GRANULARITIES, PRUNE_MODES
from effdl.report import stats
from effdl.report.names import display
from effdl.report.texgen import escape

NOT_MEASURED = "not measured"
COSTS = {  # cost column -> (the axis and table's name, its unit)
    "bytes": ("stored bytes", "kB"),
    "latency_ms": ("latency", "ms"),
    "macs": ("MACs per image", "M"),
}
# Why a cost is missing, per kind of variant (the table's note says it; the figure leaves the point out).
WHY_MISSING = {
    "ptq_latency": "simulated quantization: the dequantized weights run as fp32, no integer kernel was timed",
    "oneshot": "the one-shot sweep records accuracy and nonzero weights only, no file or timing",
    "dwconv": "its Part 6 jobs time training steps and count parameters; no inference latency or file",
}
COLUMNS = [
    "key", "label", "family", "evaluated", "n", "acc_mean", "acc_half", "acc_units", "reference", "test", "word",
    "diff", "p", "bytes", "bytes_how", "bytes_file_checked", "latency_ms", "latency_batch", "latency_ref_ms",
    "latency_how", "macs", "macs_how", "params", "params_how", "front_bytes", "front_latency_ms", "front_macs",
]  # fmt: skip


STRING_COLUMNS = ("key", "label", "family", "evaluated", "acc_units", "reference", "test", "word", "bytes_how",
                  "bytes_file_checked", "latency_how", "macs_how", "params_how")  # fmt: skip


def as_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A frontier table read back from its CSV: empty text cells as '' (not NaN), fronts as booleans."""
    frame = frame.copy()
    for column in STRING_COLUMNS:
        frame[column] = frame[column].astype(object).fillna("").astype(str)  # an all-empty column reads as float
    for cost in COSTS:
        frame[f"front_{cost}"] = frame[f"front_{cost}"].astype(str).str.lower().isin(["true", "1"])
    return frame


def pareto_front(costs: Sequence[float], accs: Sequence[float]) -> np.ndarray:
    """Which points no other point dominates (cost <= and accuracy >=, one strictly): lower cost, higher
    accuracy. Points with a missing (NaN) cost or accuracy are never on the front; identical points both are."""
    c, a = np.asarray(costs, dtype=float), np.asarray(accs, dtype=float)
    ok = np.isfinite(c) & np.isfinite(a)
    front = np.zeros(len(c), dtype=bool)
    for i in np.flatnonzero(ok):
        others = ok.copy()
        others[i] = False
        dominated = others & (c <= c[i]) & (a >= a[i]) & ((c < c[i]) | (a > a[i]))
        front[i] = not dominated.any()
    return front


def _joined(values) -> str:
    return ";".join(f"{float(v):.6g}" for v in values)


def unit_values(cell) -> list[float]:
    """The per-unit accuracies of a frontier row (its `acc_units` cell, ';'-joined)."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)) or str(cell).strip() == "":
        return []
    return [float(v) for v in str(cell).split(";")]


def _point(key, label, family, units: dict, reference=None, comparison=None, **costs) -> dict:
    """One frontier row: the accuracy over units (one value per trained model) and its comparison."""
    interval = stats.t_interval(list(units.values()))
    row = {
        "key": key,
        "label": label,
        "family": family,
        "n": interval.n,
        "acc_mean": interval.mean,
        "acc_half": interval.half_width,
        "acc_units": _joined(units[k] for k in sorted(units, key=str)),
        "reference": reference or "",
        "test": comparison.test if comparison else "none",
        "word": comparison.word if comparison else "",
        "diff": comparison.diff if comparison else float("nan"),
        "p": comparison.p if comparison else float("nan"),
    }
    row.update(
        {
            "bytes": float("nan"),
            "bytes_how": NOT_MEASURED,
            "bytes_file_checked": "",
            "latency_ms": float("nan"),
            "latency_batch": float("nan"),
            "latency_ref_ms": float("nan"),
            "latency_how": NOT_MEASURED,
            "macs": float("nan"),
            "macs_how": NOT_MEASURED,
            "params": float("nan"),
            "params_how": NOT_MEASURED,
            "evaluated": "fp32",  # the accuracy's evaluation precision: trained runs' rows say theirs
        }
    )
    row.update(costs)
    return row


def _bench_costs(bench: pd.DataFrame, model: str, bytes_column: str, bytes_how: str) -> dict:
    """Bytes, latency at the smallest measured batch, MACs and parameters of one pruning-benchmark model."""
    rows = bench.loc[bench["model"] == model].sort_values("batch_size") if len(bench) else bench
    if rows.empty:
        return {}
    first = rows.iloc[0]
    dense = bench.loc[(bench["model"] == "dense") & (bench["batch_size"] == first["batch_size"]), "latency_ms_median"]
    out = {
        "latency_ms": float(first["latency_ms_median"]),
        "latency_batch": int(first["batch_size"]),
        # the dense model's latency in the same job: latency ratios are taken within one job
        "latency_ref_ms": float(dense.iloc[0]) if len(dense) else float("nan"),
        "latency_how": "measured",
        "macs": float(first["macs"]),
        "macs_how": "counted",
        "params": float(first["params_nonzero"]),
        "params_how": "nonzero",
    }
    if bytes_column in rows and pd.notna(first.get(bytes_column)):
        out.update(bytes=float(first[bytes_column]), bytes_how=bytes_how)
    return out


def by_seed(frame: pd.DataFrame, value: str, unit: str = "seed") -> dict:
    """{unit: mean value}: one accuracy per trained model (repeated trials averaged first)."""
    if frame.empty:
        return {}
    return stats.unit_means(frame[value].tolist(), frame[unit].tolist())


def packed_check(quant_rows: pd.DataFrame, packed: pd.DataFrame) -> pd.DataFrame:
    """The ConvNet PTQ bytes computed from the registry's variant (codes of `bits` bits + scales + kept tensors)
    against the payload of the real bit-packed file of the same checkpoint, width and granularity.

    Raises ValueError when a computed size disagrees with a file or with bits x values (the size formula).
    """
    q = quant_rows.loc[(quant_rows["net"] == "convnet") & (quant_rows["rounding"] != "fp32")]
    for _, row in q.iterrows():
        if parse_variant(row["variant"]).bits != row["bits"]:
            raise ValueError(f"{row['variant']} is recorded at {row['bits']} bits. Fix: re-create its row.")
        # kept tensors at fp32, each quantized value at `bits` bits (rounded up per tensor), plus the scales
        formula = row["fp32_bytes"] - 4 * row["quantized_values"] + row["quantized_values"] * row["bits"] / 8
        extra = row["packed_bytes"] - formula
        tensor_limit = 9 * row["quantized_tensors"]  # two float32 params + at most one padding byte per tensor
        if extra < 0 or (row["granularity"] == "tensor" and extra > tensor_limit):
            raise ValueError(
                f"{row['variant']} of {row['checkpoint']}: {int(row['packed_bytes'])} bytes is not "
                f"{row['bits']} bits x {int(row['quantized_values'])} values plus scales and kept tensors "
                f"({formula:.0f} bytes before scales). Fix: re-create results/metrics/quantization_runs.csv."
            )
    p = packed.loc[packed["net"] == "convnet"] if len(packed) else packed
    rows = []
    for _, file_row in p.iterrows():
        match = q.loc[
            (q["rounding"] == "nearest")
            & (q["bits"] == file_row["bits"])
            & (q["granularity"] == file_row["granularity"])
            & (q["checkpoint"] == file_row["checkpoint"])
        ]
        if match.empty:
            continue
        computed, payload = int(match["packed_bytes"].iloc[0]), int(file_row["packed_payload_bytes"])
        if computed != payload:
            raise ValueError(
                f"the {file_row['bits']}-bit {file_row['granularity']} ConvNet of {file_row['checkpoint']}: "
                f"computed {computed} bytes, but its packed file holds {payload} payload bytes. Fix: re-create "
                "results/metrics/quantization_runs.csv and quantization_packed.csv."
            )
        rows.append(
            {
                "bits": int(file_row["bits"]),
                "granularity": file_row["granularity"],
                "checkpoint": file_row["checkpoint"],
                "computed": computed,
                "file_payload": payload,
                "file_bytes": int(file_row["packed_file_bytes"]),
            }
        )
    return pd.DataFrame(rows, columns=["bits", "granularity", "checkpoint", "computed", "file_payload", "file_bytes"])


def _ptq_label(granularity: str, rounding: str, bits: int) -> str:
    kind = f"{bits}-bit stochastic" if rounding == "stochastic" else f"{bits}-bit"
    return f"{kind} PTQ (per {display(granularity)})"


def ptq_points(quant_rows: pd.DataFrame, packed: pd.DataFrame, dense_macs: float) -> list[dict]:
    """One row per ConvNet PTQ setting: each checkpoint's accuracy (trials averaged), paired with its own fp32."""
    q = quant_rows.loc[quant_rows["net"] == "convnet"] if len(quant_rows) else quant_rows
    if q.empty:
        return []
    checked = packed_check(quant_rows, packed)
    parent = by_seed(q.loc[q["rounding"] == "fp32"], "test_acc", "checkpoint")
    settings = q.loc[q["rounding"] != "fp32", ["granularity", "rounding", "bits"]].drop_duplicates()
    order = {g: i for i, g in enumerate(GRANULARITIES)}
    settings = settings.assign(
        _g=settings["granularity"].map(order), _r=(settings["rounding"] == "stochastic").astype(int)
    ).sort_values(["_g", "_r", "bits"], ascending=[True, True, False])
    points = []
    for _, s in settings.iterrows():
        same = (q["granularity"] == s["granularity"]) & (q["rounding"] == s["rounding"]) & (q["bits"] == s["bits"])
        rows = q.loc[same]
        units = by_seed(rows, "test_acc", "checkpoint")
        is_checked = ((checked["bits"] == s["bits"]) & (checked["granularity"] == s["granularity"])).any() and s[
            "rounding"
        ] == "nearest"
        points.append(
            _point(
                f"ptq-{s['granularity']}-{s['rounding']}-{int(s['bits'])}bit",
                _ptq_label(s["granularity"], s["rounding"], int(s["bits"])),
                f"PTQ per {display(s['granularity'])}",
                units,
                "its fp32 parent",
                stats.compare_units(units, parent),
                bytes=float(rows["packed_bytes"].median()),
                bytes_how="computed",
                bytes_file_checked="yes" if is_checked else "",
                latency_how=NOT_MEASURED,
                macs=dense_macs,
                macs_how="same layers as fp32",
                params=float(rows["quantized_values"].median()),
                params_how="quantized values",
            )
        )
    return points


def _precision(summary: pd.DataFrame) -> str:
    """How a trained run's final test accuracy was evaluated: its training precision ('fp32' when unrecorded)."""
    if "precision" not in summary or summary["precision"].dropna().empty:
        return "fp32"
    return "/".join(sorted(summary["precision"].dropna().astype(str).unique()))


def evaluation_sentence(table: pd.DataFrame) -> str:
    """Which rows' accuracies were evaluated at which precision, so that no comparison hides a difference."""
    groups = table.groupby("evaluated", sort=True)["label"].apply(list)
    if len(groups) < 2:
        return f"Every accuracy was evaluated in {escape(groups.index[0])}." if len(groups) else ""
    parts = [f"{_join([escape(v) for v in labels])} in {escape(precision)}" for precision, labels in groups.items()]
    return (
        "Accuracies were evaluated at different precisions: "
        + "; ".join(parts)
        + " (trained runs report their final test accuracy at their training precision, the compressed copies "
        "are evaluated in fp32); PTQ and one-shot rows are compared with their own parent evaluated the same way."
    )


def final_sparsity(sparsity: pd.DataFrame) -> float:
    """The per-layer sparsity the gradual runs end at: the mean layer sparsity after their last event."""
    if sparsity.empty:
        return float("nan")
    last = sparsity.loc[sparsity["event"] == sparsity["event"].max()]
    return float(last["sparsity"].mean())


def frontier_points(
    *,
    baseline: pd.DataFrame,
    quant_rows: pd.DataFrame,
    packed: pd.DataFrame,
    pruned: pd.DataFrame,
    slim_checks: pd.DataFrame,
    bench: pd.DataFrame,
    oneshot: pd.DataFrame,
    sparsity: pd.DataFrame,
    dwconv: pd.DataFrame,
    dw_bench: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The frontier table: one row per ConvNet variant with its accuracy over trained models, the comparison
    with its reference, its costs (NaN and 'not measured' where no job measured one) and the Pareto fronts."""
    dense = by_seed(baseline, "final_test_acc")
    # the payload (tensor bytes) where PTQ computed it, as the PTQ and CSR sizes are; else the saved file
    dense_costs = _bench_costs(bench, "dense", "state_dict_bytes", "file")
    fp32 = quant_rows.loc[(quant_rows["net"] == "convnet") & (quant_rows["rounding"] == "fp32")]
    if len(fp32):
        dense_costs.update(bytes=float(fp32["fp32_bytes"].median()), bytes_how="computed")
    points = [_point("fp32", "fp32 ConvNet (Part 1.2)", "fp32", dense, evaluated=_precision(baseline), **dense_costs)]
    points += ptq_points(quant_rows, packed, dense_costs.get("macs", float("nan")))
    for mode in PRUNE_MODES:
        units = by_seed(pruned.loc[pruned["mode"] == mode], "final_test_acc") if len(pruned) else {}
        if units:
            points.append(
                _point(
                    f"pruned-{mode}",
                    f"{display(mode)} pruning (masked)",
                    display(mode),
                    units,
                    "the fp32 model",
                    stats.compare(list(units.values()), list(dense.values())),
                    evaluated=_precision(pruned.loc[pruned["mode"] == mode]),
                    **_bench_costs(bench, f"{mode}_masked", "csr_bytes_compact", "CSR"),
                )
            )
    if len(slim_checks):
        units = by_seed(slim_checks, "test_acc_slim")
        points.append(
            _point(
                "pruned-structured-slim",
                "structured pruning (slim export)",
                display("structured"),
                units,
                "the fp32 model",
                stats.compare(list(units.values()), list(dense.values())),
                **_bench_costs(bench, "structured_slim", "state_dict_bytes", "file"),
            )
        )
    target = final_sparsity(sparsity)
    if len(oneshot) and math.isfinite(target):
        level = oneshot["target_sparsity"].iloc[(oneshot["target_sparsity"] - target).abs().argmin()]
        for mode in PRUNE_MODES:
            rows = oneshot.loc[(oneshot["mode"] == mode) & (oneshot["target_sparsity"] == level)]
            parent = oneshot.loc[(oneshot["mode"] == mode) & (oneshot["target_sparsity"] == 0)]
            if rows.empty:
                continue
            units = by_seed(rows, "test_acc")
            points.append(
                _point(
                    f"oneshot-{mode}",
                    f"one-shot {display(mode)} pruning ({level:.0%})",
                    display(mode),
                    units,
                    "its unpruned parent",
                    stats.compare_units(units, by_seed(parent, "test_acc")),
                    params=float(rows["params_nonzero"].median()),
                    params_how="nonzero",
                )
            )
    if len(dwconv):
        units = by_seed(dwconv, "final_test_acc")
        points.append(
            _point(
                "dwconvnet",
                "DWConvNet (depthwise separable)",
                "depthwise separable",
                units,
                "the fp32 model",
                stats.compare(list(units.values()), list(dense.values())),
                evaluated=_precision(dwconv),
                **(
                    _bench_costs(dw_bench, "dwconvnet", "state_dict_bytes", "file")
                    if dw_bench is not None and len(dw_bench)
                    else {"params": float(dwconv["params_total"].median()), "params_how": "all"}
                ),
            )
        )
    table = pd.DataFrame(points)
    for cost in COSTS:
        table[f"front_{cost}"] = pareto_front(comparable(table, cost), table["acc_mean"])
    return table[COLUMNS]


def same_job(table: pd.DataFrame) -> pd.Series:
    """Which rows' latencies were timed in the fp32 ConvNet's job (their reference latency is its latency):
    absolute latencies from different jobs on a shared machine are not comparable, ratios within a job are."""
    dense = table.loc[table["key"] == "fp32", "latency_ms"]
    if dense.empty or not np.isfinite(float(dense.iloc[0])):
        return pd.Series(False, index=table.index)
    return pd.Series(np.isclose(table["latency_ref_ms"].astype(float), float(dense.iloc[0])), index=table.index)


def comparable(table: pd.DataFrame, cost: str) -> pd.Series:
    """A cost column with what cannot be compared on one axis left out (NaN): latencies timed in another job."""
    values = table[cost].astype(float)
    return values.where(same_job(table)) if cost == "latency_ms" else values


def _batch(table: pd.DataFrame) -> str:
    batches = table["latency_batch"].dropna()
    return str(int(batches.min())) if len(batches) else "1"


def _join(items: list[str]) -> str:
    if not items:
        return "no variant"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
