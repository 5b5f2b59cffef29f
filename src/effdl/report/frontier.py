"""The efficiency frontier of the CIFAR-10 ConvNet family: test accuracy against stored bytes, latency and MACs.

Beyond the problem set: every compressed variant the study produces of the Part 1.2 ConvNet (PTQ widths,
granularities and stochastic rounding, gradual structured/unstructured pruning and the slim export, one-shot
pruning, the depthwise-separable DWConvNet) in one table, read from the CSVs the parts already write. A
variant whose bytes, latency or MACs no job measured carries NaN there and a `*_how` label saying so: nothing
is filled in. `frontier_points` computes the table once (rule frontier_table writes it as a CSV); the figure,
the paper's table and the generated answer read that CSV. Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from effdl.plan.quant_variants import parse_variant
from effdl.plan.registry import GRANULARITIES, PRUNE_MODES
from effdl.report import stats
from effdl.report.names import display
from effdl.report.plotting import palette_for, set_style
from effdl.report.texgen import escape, fmt, signed

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
        frame[column] = frame[column].fillna("").astype(str)
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


# ---------------------------------------------------------------------------------------------
# Text: the paper's table, the macros and the generated answer (all from the frontier CSV)


def ratio_phrase(value: float, reference: float, noun: str) -> str:
    """'4.0x fewer bytes', '1.3x more bytes' or 'the same bytes' (ratios that print as 1.0): value against
    reference, for a sentence; '' when either is missing."""
    if not (math.isfinite(value) and math.isfinite(reference)) or value <= 0 or reference <= 0:
        return ""
    ratio = reference / value
    if f"{ratio:.1f}" == "1.0":
        return f"about the same {noun}"
    if ratio > 1:
        return f"{ratio:.1f}$\\times$ fewer {noun}" if noun != "latency" else f"{ratio:.1f}$\\times$ lower latency"
    inverse = value / reference
    return f"{inverse:.1f}$\\times$ more {noun}" if noun != "latency" else f"{inverse:.1f}$\\times$ higher latency"


def accuracy_text(row, digits: int = 2) -> str:
    """'46.29 $\\pm$ 3.84' (the ± convention), the mean alone for one unit, 'n/a' for none."""
    if int(row["n"]) == 0:
        return "n/a"
    return stats.format_interval(row["acc_mean"], row["acc_half"], digits, stats.ACCURACY_RANGE)


def versus_text(row) -> str:
    """'$-1.2$ points, lower than its own fp32 checkpoint', or that one side has one trained model (no test);
    '' for the reference itself."""
    if not row["reference"]:
        return ""
    if row["word"] == "untested" or not math.isfinite(row["diff"]):
        return "one model, no test"
    return f"{signed(row['diff'], 1, plus=True)} points, {stats.relation(row['word'])} {row['reference']}"


def _front_labels(table: pd.DataFrame, cost: str) -> list[str]:
    front = table.loc[table[f"front_{cost}"].astype(bool)].sort_values(cost)
    return [escape(label) for label in front["label"]]


def _cost_cell(value, digits, scale, how="") -> str:
    if not math.isfinite(value):
        return "n.m."
    return fmt(value / scale, digits) + how


def frontier_table_tex(table: pd.DataFrame) -> pd.DataFrame:
    """TeX cells of the paper's table: variant, n, accuracy (± convention; each seed's value when n <= 3),
    comparison, stored kB (marked: c computed, f saved file, s CSR), MMACs, latency, fronts (B, L, M)."""
    marks = {"computed": "", "file": "$^f$", "CSR": "$^s$"}
    rows = []
    comparable_latency = same_job(table)
    for index, row in table.iterrows():
        acc = accuracy_text(row, 1)
        seeds = unit_values(row["acc_units"])
        if 1 < len(seeds) <= stats.SEEDS_SHOWN_MAX:
            acc += " {\\scriptsize(" + ", ".join(f"{v:.1f}" for v in seeds) + ")}"
        versus = (
            ""
            if not row["reference"]
            else ("n/t" if row["word"] == "untested" else f"{signed(row['diff'], 1, plus=True)} ({row['word']})")
        )
        checked = "$^\\dagger$" if str(row["bytes_file_checked"]) == "yes" else ""
        fronts = "".join(letter for letter, cost in zip("BLM", COSTS) if bool(row[f"front_{cost}"]))
        rows.append(
            {
                "variant": escape(row["label"]),
                "n": str(int(row["n"])),
                "test acc. (\\%)": acc,
                "vs. ref. (points)": versus,
                "kB": _cost_cell(row["bytes"], 0, 1e3, marks.get(row["bytes_how"], "") + checked),
                "MMACs": _cost_cell(row["macs"], 1, 1e6),
                f"ms @ {_batch(table)}": latency_cell(row, bool(comparable_latency.loc[index])),
                "front": fronts or "--",
            }
        )
    return pd.DataFrame(rows)


CAPTION = (
    "The ConvNet family on CIFAR-10: test accuracy (each seed's value in brackets when $n\\le3$), its difference "
    "from the reference in points (PTQ and one-shot: paired with their own fp32 parent; trained variants: Welch "
    "against the fp32 ConvNet; n/t: one model, no test), stored kB (computed payload; $^f$ saved file, with the "
    "format's overhead; $^s$ CSR with 16-bit indices; $^\\dagger$ equal to a real bit-packed file), "
    "multiply-accumulates per image as run (dense kernels count the zeros of masked weights), median latency of "
    "one model at the smallest benchmarked batch ($^j$: timed in another job, as a ratio to the dense model timed "
    "beside it), and the Pareto fronts it is on (B bytes, L latency, M MACs)."
)


def table_latex(cells: pd.DataFrame, missing: str) -> str:
    """The paper's table: booktabs, small type and narrow columns (eight columns on one line width)."""
    body = cells.to_latex(index=False, escape=False, column_format="l" + "r" * (len(cells.columns) - 1))
    caption = f"{CAPTION} {missing} \\rebuild{{results/tex/frontier_table.tex}}{{results/metrics/frontier.csv}}"
    return (
        "% generated by the workflow; do not edit\n\\begin{table}[htbp]\n\\centering\n"
        "\\footnotesize\\setlength{\\tabcolsep}{3pt}\n"
        + body
        + f"\\caption{{{caption}}}\n\\label{{tab:frontier}}\n\\end{{table}}\n"
    )


def latency_cell(row, in_dense_job: bool) -> str:
    """Milliseconds when timed in the fp32 model's job; else the ratio to the dense model timed beside it ($^j$)."""
    if in_dense_job or not math.isfinite(row["latency_ms"]):
        return _cost_cell(row["latency_ms"], 2, 1)
    if not math.isfinite(row["latency_ref_ms"]):
        return "n.m."
    return f"{row['latency_ms'] / row['latency_ref_ms']:.2f}$\\times^j$"


def _batch(table: pd.DataFrame) -> str:
    batches = table["latency_batch"].dropna()
    return str(int(batches.min())) if len(batches) else "1"


def missing_note(table: pd.DataFrame) -> str:
    """Which variants lack which measurement, and why (the table prints n.m. there)."""
    parts = []
    ptq = table.loc[table["key"].str.startswith("ptq-")]
    if len(ptq) and ptq["latency_ms"].isna().all():
        parts.append(f"PTQ latency ({WHY_MISSING['ptq_latency']})")
    if table["key"].str.startswith("oneshot-").any():
        parts.append(f"one-shot pruning's bytes, MACs and latency ({WHY_MISSING['oneshot']})")
    dw = table.loc[table["key"] == "dwconvnet"]
    if len(dw) and dw[list(COSTS)].isna().all(axis=None):
        parts.append(f"DWConvNet's bytes, MACs and latency ({WHY_MISSING['dwconv']})")
    others = table.loc[
        ~table["key"].str.startswith(("ptq-", "oneshot-"))
        & ~table.index.isin(dw.index[dw[list(COSTS)].isna().all(axis=1)]),
        ["label", "bytes", "latency_ms", "macs"],
    ]
    for _, row in others.iterrows():
        missing = [COSTS[c][0] for c in COSTS if not math.isfinite(row[c])]
        if missing:
            parts.append(f"{row['label']}'s {' and '.join(missing)} (no benchmark row)")
    if not parts:
        return "Every variant has all three measurements."
    return "n.m.: not measured: " + "; ".join(parts) + "."


def frontier_macros(table: pd.DataFrame, checked: int, finetune: pd.DataFrame | None = None) -> dict[str, str]:
    """The frontier section's macros: counts, the note on missing measurements, the LoRA sentence, the answer."""
    m = {
        "FrontierVariants": str(len(table)),
        "FrontierBatch": _batch(table),
        "FrontierMissing": escape(missing_note(table)),
        "FrontierChecked": checked_sentence(table, checked),
        "FrontierTiming": timing_sentence(table),
        "FrontierEvaluation": evaluation_sentence(table),
        "FrontierLora": lora_sentence(finetune) if finetune is not None else "",
        "FrontierAnswer": frontier_answer(table),
    }
    return m


def timing_sentence(table: pd.DataFrame) -> str:
    """Which latencies come from which job, and the dense model's latency in each (ratios stay within a job)."""
    timed = table.loc[table["latency_ms"].notna()]
    refs = sorted({round(float(v), 6) for v in timed["latency_ref_ms"].dropna()})
    if len(refs) < 2:
        return ""
    dense = table.loc[table["key"] == "fp32", "latency_ms"]
    other = [r for r in refs if not (len(dense) and math.isclose(r, float(dense.iloc[0]), rel_tol=1e-9))]
    return (
        f"The DWConvNet was timed in a second job beside the dense ConvNet again ({fmt(other[0], 2)} ms there, "
        f"{fmt(float(dense.iloc[0]), 2)} ms in the pruning benchmark); every latency ratio in the text is taken "
        "within one job."
        if other and len(dense)
        else ""
    )


def checked_sentence(table: pd.DataFrame, checked: int) -> str:
    """How the PTQ bytes were checked against real packed files (a count of 0 said as such)."""
    if not table["key"].str.startswith("ptq-").any():
        return "This run quantized no ConvNet."
    if checked == 0:
        return (
            "No bit-packed ConvNet file of this run matches a width and granularity of the table, so its PTQ "
            "sizes are computed only (codes at their width plus the float32 scales and the unquantized tensors)."
        )
    return (
        f"Computed PTQ sizes (codes at their width plus the float32 scales and the unquantized tensors) equal "
        f"the payload of the real bit-packed files in all {checked} cases that exist ($^\\dagger$)."
    )


def lora_sentence(finetune: pd.DataFrame) -> str:
    """LoRA's trainable parameters against full fine-tuning (Part 4's ResNet-18, outside this family)."""
    if finetune is None or finetune.empty or "params_trainable" not in finetune:
        return ""
    counts = finetune.groupby("variant")[["params_trainable", "params_total"]].median()
    if "net_freeze_lora" not in counts.index or "pt_net" not in counts.index:
        return ""
    lora, full = counts.loc["net_freeze_lora"], counts.loc["pt_net"]
    acc = {v: by_seed(finetune.loc[finetune["variant"] == v], "final_test_acc") for v in ("net_freeze_lora", "pt_net")}
    comparison = stats.compare_units(acc["net_freeze_lora"], acc["pt_net"])
    word = stats.relation(comparison.word)
    return (
        f"LoRA (Part 4, a ResNet-18 on CINIC-10, so not on this frontier) trains "
        f"{fmt(int(lora['params_trainable']))} of {fmt(int(lora['params_total']))} parameters "
        f"({100 * lora['params_trainable'] / lora['params_total']:.1f}\\%) and ends at "
        f"{stats.mean_ci(list(acc['net_freeze_lora'].values()))}\\% test accuracy, {word} full fine-tuning of all "
        f"{fmt(int(full['params_trainable']))} ({stats.mean_ci(list(acc['pt_net'].values()))}\\%)."
    )


def _clause(row, dense) -> str:
    """'{label} has 4.0x fewer bytes, 3.9x fewer MACs, 2.1x lower latency ({comparison})': ratios to the fp32
    ConvNet (latency: to the dense model timed in the same job)."""
    parts = [ratio_phrase(row[c], dense[c], noun) for c, noun in (("bytes", "bytes"), ("macs", "MACs"))]
    latency = ratio_phrase(row["latency_ms"], row["latency_ref_ms"], "latency")
    parts = [p for p in parts if p] + ([latency] if latency else [])
    what = ", ".join(parts) if parts else "no measured cost"
    return f"{escape(row['label'])} has {what} ({versus_text(row)})"


def frontier_answer(table: pd.DataFrame, limit_variants: int = 3) -> str:
    """What each compression buys, from the table: the fronts, then one clause per kind of compression, each
    with its measured ratios to the fp32 ConvNet and its accuracy comparison. No variant is named in advance."""
    dense = table.loc[table["key"] == "fp32"]
    if dense.empty:
        return "This run has no fp32 ConvNet to compare with."
    dense = dense.iloc[0]
    fronts = []
    for cost, (name, _) in COSTS.items():
        measured = int(np.isfinite(comparable(table, cost)).sum())
        if measured < 2:
            continue
        labels = _front_labels(table, cost)
        more = len(labels) - limit_variants
        listed = _join(labels[:limit_variants]) + (f" and {more} more" if more > 0 else "")
        fronts.append(f"for {name} ({measured} measured), {listed}")
    sentences = ["On the Pareto fronts are, " + "; ".join(fronts) + "."] if fronts else []
    ptq = table.loc[table["key"].str.startswith("ptq-")]
    if len(ptq):
        smallest = ptq.sort_values(["bytes", "acc_mean"], ascending=[True, False]).iloc[0]
        kept = ptq.loc[ptq["word"].isin(["within noise", "higher"])].sort_values("bytes")
        clauses = [_clause(smallest, dense)]
        if len(kept) and kept.iloc[0]["key"] != smallest["key"]:
            clauses.insert(0, _clause(kept.iloc[0], dense))
        latency = "" if ptq["latency_ms"].notna().any() else " No quantized model was timed."
        sentences += [f"{_capital(clause)}." for clause in clauses]
        sentences += [latency.strip()] if latency else []
    pruned = table.loc[table["key"].str.startswith("pruned-")]
    if len(pruned):
        sentences += [f"{_capital(_clause(row, dense))}." for _, row in pruned.iterrows()]
    dw = table.loc[table["key"] == "dwconvnet"]
    if len(dw):
        row = dw.iloc[0]
        params = ratio_phrase(row["params"], dense["params"], "parameters")
        if math.isfinite(row["bytes"]) or math.isfinite(row["latency_ms"]):
            sentences.append(f"{_capital(_clause(row, dense))}.")
        else:
            sentences.append(f"{escape(row['label'])} has {params or 'unmeasured parameters'} ({versus_text(row)}).")
    return " ".join(sentences)


def _capital(text: str) -> str:
    """A sentence that starts with a variant's label starts with a capital letter."""
    return text[:1].upper() + text[1:]


def _join(items: list[str]) -> str:
    if not items:
        return "no variant"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ---------------------------------------------------------------------------------------------
# The figure

MARKERS = {"fp32": "o", "8": "s", "4": "D", "2": "v", "stochastic": "X", "masked": "^", "slim": "P", "dw": "*"}


def _style(row) -> tuple[str, str]:
    """(colour key, marker) of a frontier row: colour by family, marker by width or kind."""
    key = row["key"]
    if key == "fp32":
        return "fp32", MARKERS["fp32"]
    if key.startswith("ptq-"):
        _, granularity, rounding, bits = key.split("-")
        return granularity, MARKERS["stochastic" if rounding == "stochastic" else bits.removesuffix("bit")]
    if key.startswith("pruned-"):
        mode = key.split("-")[1]
        return mode, MARKERS["slim" if key.endswith("slim") else "masked"]
    return key, MARKERS["dw"]


def frontier_figure(table: pd.DataFrame):
    """One panel per measured cost (stored bytes, latency, MACs; log axes): each variant's mean accuracy with
    its 95% t-interval (each seed's point beside it when n <= 3), the Pareto front as a step line, front
    points ringed. Variants a cost was not measured for are absent from that panel (the table says why)."""
    set_style()
    costs = [c for c in COSTS if np.isfinite(comparable(table, c)).sum() >= 1]
    fig, axes = plt.subplots(1, max(1, len(costs)), figsize=(3.2 * max(1, len(costs)), 4.2), squeeze=False)
    styles = {row["key"]: _style(row) for _, row in table.iterrows()}
    colours = palette_for([s[0] for s in styles.values()])
    colours["fp32"] = (0.1, 0.1, 0.1)
    colours["dwconvnet"] = (0.45, 0.25, 0.6)  # a dark colour no registry entry uses: a star must stay visible
    handles = {}
    for ax, cost in zip(axes[0], costs):
        name, unit = COSTS[cost]
        scale = {"kB": 1e3, "M": 1e6, "ms": 1.0}[unit]
        shown = table.loc[np.isfinite(comparable(table, cost))]
        for _, row in shown.iterrows():
            colour_key, marker = styles[row["key"]]
            x = row[cost] / scale
            seeds = unit_values(row["acc_units"])
            if 1 < len(seeds) <= stats.SEEDS_SHOWN_MAX:
                ax.scatter([x] * len(seeds), seeds, s=9, color=colours[colour_key], alpha=0.45, zorder=2)
            elif len(seeds) > stats.SEEDS_SHOWN_MAX:
                low, high = stats.clipped(stats.t_interval(seeds), stats.ACCURACY_RANGE)
                ax.errorbar(x, row["acc_mean"], yerr=[[row["acc_mean"] - low], [high - row["acc_mean"]]],
                            color=colours[colour_key], linewidth=0.9, zorder=2)  # fmt: skip
            on_front = bool(row[f"front_{cost}"])
            handles[row["label"]] = ax.scatter(
                x,
                row["acc_mean"],
                s=90 if marker == MARKERS["dw"] else 46,
                marker=marker,
                color=colours[colour_key],
                edgecolor="black" if on_front else "white",
                linewidth=1.1 if on_front else 0.5,
                zorder=4,
                label=row["label"],
            )
        front = shown.loc[shown[f"front_{cost}"].astype(bool)].sort_values(cost)
        if len(front):
            ax.step(front[cost] / scale, front["acc_mean"], where="post", color="0.3", linewidth=1.0,
                    linestyle="--", zorder=3, label="Pareto front")  # fmt: skip
        if cost != "latency_ms":  # bytes and MACs span orders of magnitude; latencies a factor of a few
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        label = f"{name} at batch {_batch(table)} ({unit})" if cost == "latency_ms" else f"{name} ({unit})"
        ax.set(xlabel=label, ylabel="test accuracy (%)" if ax is axes[0][0] else "")
    seeds_max = int(table["n"].max()) if len(table) else 0
    note = "points: each seed, beside the mean" if seeds_max <= stats.SEEDS_SHOWN_MAX else "bars: mean and 95% CI"
    labels = list(handles)
    fig.legend(
        [handles[k] for k in labels],
        labels,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=3,
        fontsize=7,
        frameon=False,
    )
    rows = math.ceil(len(labels) / 3)
    fig.suptitle(f"The ConvNet family against its costs (ringed and dashed: Pareto front of the means; {note})")
    fig.tight_layout(rect=(0, min(0.45, 0.06 * rows + 0.02), 1, 0.95))
    return fig
