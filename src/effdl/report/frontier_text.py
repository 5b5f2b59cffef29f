"""The efficiency frontier's text for the paper: table cells and caption, macros and the generated answer.

Everything here reads the frontier table (`effdl.report.frontier.frontier_points`, written once as
results/metrics/frontier.csv): a sentence names a variant, a ratio or a comparison word only as the table holds
it, so the text changes when the data does. Torch-free.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from effdl.report import stats
from effdl.report.frontier import (
    COSTS,
    WHY_MISSING,
    _batch,
    _join,
    by_seed,
    comparable,
    evaluation_sentence,
    same_job,
    unit_values,
)
from effdl.report.texgen import escape, fmt, signed


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


def frontier_table_latex(table: pd.DataFrame) -> str:
    """The paper's frontier table with the note on what was not measured in its caption."""
    return table_latex(frontier_table_tex(table), escape(missing_note(table)))


def frontier_macros(table: pd.DataFrame, checked: int, finetune: pd.DataFrame | None = None) -> dict[str, str]:
    """The frontier section's macros: counts, the LoRA sentence, the answer (the missing costs: table caption)."""
    m = {
        "FrontierVariants": str(len(table)),
        "FrontierBatch": _batch(table),
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
