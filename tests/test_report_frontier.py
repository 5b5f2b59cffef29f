"""The efficiency frontier on synthetic CSVs: Pareto fronts, intervals, labelled gaps, the answer's truth, bytes."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from paper_checks import count_words

from effdl.report import frontier as F
from effdl.report import frontier_text as FT
from effdl.report import stats

FP32_BYTES, VALUES, TENSORS = 4_000_000, 990_000, 20
DENSE_MACS = 100_000_000


def ptq_bytes(bits: int, granularity: str) -> int:
    """What the quant job computes: kept tensors, codes at `bits` bits, two float32 scales per tensor/channel."""
    scales = TENSORS if granularity == "tensor" else 400
    return FP32_BYTES - 4 * VALUES + math.ceil(VALUES * bits / 8) + 8 * scales


def quant_rows(seeds, accs: dict, trials: int = 2) -> pd.DataFrame:
    """ConvNet PTQ rows: accs[(granularity, rounding, bits)] -> a per-seed accuracy (trials spread around it)."""
    rows = []
    for i, seed in enumerate(seeds):
        base = {"net": "convnet", "checkpoint": f"part1/sched_multistep_seed{seed}", "fp32_bytes": FP32_BYTES}
        rows.append({**base, "variant": "fp32", "rounding": "fp32", "granularity": "none", "bits": 32,
                     "trial": 0, "packed_bytes": FP32_BYTES, "quantized_values": 0, "quantized_tensors": 0,
                     "test_acc": accs["fp32"][i]})  # fmt: skip
        for setting, values in accs.items():
            if setting == "fp32":
                continue
            granularity, rounding, bits = setting
            for trial in range(trials if rounding == "stochastic" else 1):
                spread = (trial - (trials - 1) / 2) if rounding == "stochastic" else 0.0
                name = f"{granularity}-{rounding}-{bits}bit" + (f"-trial{trial}" if rounding == "stochastic" else "")
                rows.append({**base, "variant": name, "rounding": rounding,
                             "granularity": granularity, "bits": bits, "trial": trial,
                             "packed_bytes": ptq_bytes(bits, granularity), "quantized_values": VALUES,
                             "quantized_tensors": TENSORS, "test_acc": values[i] + spread})  # fmt: skip
    return pd.DataFrame(rows)


def bench(slim: bool = True) -> pd.DataFrame:
    rows = []
    models = {
        "dense": (2.0, DENSE_MACS, 4_016_000, float("nan")),
        "structured_masked": (2.1, DENSE_MACS, 4_030_000, 3_000_000),
        "unstructured_masked": (2.2, DENSE_MACS, 8_000_000, 3_000_000),
    }
    if slim:
        models["structured_slim"] = (0.8, 25_000_000, 1_050_000, float("nan"))
    for model, (latency, macs, sd_bytes, csr) in models.items():
        for batch, factor in ((1, 1.0), (128, 40.0)):
            rows.append({"model": model, "batch_size": batch, "latency_ms_median": latency * factor, "macs": macs,
                         "params": 1_000_000, "params_nonzero": 500_000 if model != "dense" else 1_000_000,
                         "state_dict_bytes": sd_bytes, "csr_bytes_compact": csr})  # fmt: skip
    return pd.DataFrame(rows)


def synthetic(seeds=(43, 44, 45), *, slim=True, dw_seeds=(43,), packed_ok=True, quant=None) -> dict:
    rng = np.random.default_rng(0)
    n = len(seeds)
    noise = lambda: rng.normal(0, 0.3, n)  # noqa: E731
    quant = quant or {
        "fp32": 80 + noise(),
        ("tensor", "nearest", 8): 80 + noise(),
        ("tensor", "nearest", 4): 78 + noise(),
        ("tensor", "nearest", 2): 30 + noise(),
        ("tensor", "stochastic", 2): 40 + noise(),
        ("channel", "nearest", 8): 80 + noise(),
        ("channel", "nearest", 4): 79 + noise(),
        ("channel", "nearest", 2): 50 + noise(),
        ("channel", "stochastic", 2): 55 + noise(),
    }
    q = quant_rows(seeds, quant)
    payload = ptq_bytes(4, "tensor") + (0 if packed_ok else 8)
    packed = pd.DataFrame([{"net": "convnet", "bits": 4, "granularity": "tensor", "checkpoint": q["checkpoint"].iloc[0],
                            "packed_payload_bytes": payload, "packed_file_bytes": payload + 30_000}])  # fmt: skip
    return dict(
        baseline=pd.DataFrame({"seed": seeds, "final_test_acc": 80 + noise()}),
        quant_rows=q,
        packed=packed,
        pruned=pd.DataFrame(
            [
                {"mode": m, "seed": s, "final_test_acc": a + rng.normal(0, 0.3)}
                for m, a in (("structured", 75.0), ("unstructured", 79.0))
                for s in seeds
            ]  # fmt: skip
        ),
        slim_checks=pd.DataFrame({"seed": seeds, "test_acc_slim": 75 + noise()}),
        bench=bench(slim),
        oneshot=pd.DataFrame(
            [
                {
                    "mode": m,
                    "seed": s,
                    "target_sparsity": t,
                    "test_acc": 80 - 40 * t + rng.normal(0, 0.3),
                    "params_nonzero": int(1e6 * (1 - t)),
                }
                for m in ("structured", "unstructured")
                for s in seeds
                for t in (0.0, 0.3, 0.5)
            ]  # fmt: skip
        ),
        sparsity=pd.DataFrame({"event": [1, 1, 2, 2], "sparsity": [0.25, 0.25, 0.5, 0.5]}),
        dwconv=pd.DataFrame(
            {
                "seed": list(dw_seeds),
                "final_test_acc": [70.0] * len(dw_seeds),
                "params_total": [430_000] * len(dw_seeds),
            }
        ),  # fmt: skip
    )


def roundtrip(table: pd.DataFrame, tmp_path) -> pd.DataFrame:
    """The table as the paper's rules read it: through its CSV."""
    from effdl.io import write_csv
    from effdl.report.csvs import read_csv

    write_csv(table, tmp_path / "frontier.csv")
    return F.as_table(read_csv(tmp_path / "frontier.csv"))


# ---------------------------------------------------------------------------------------------
# Pareto front


def test_pareto_front_keeps_only_undominated_points():
    costs, accs = [1, 2, 3, 4], [50, 70, 60, 80]
    assert F.pareto_front(costs, accs).tolist() == [True, True, False, True]


def test_pareto_front_ties():
    # identical points: neither dominates the other; same cost, lower accuracy: dominated; same accuracy, more cost too
    assert F.pareto_front([1, 1], [50, 50]).tolist() == [True, True]
    assert F.pareto_front([1, 1], [50, 60]).tolist() == [False, True]
    assert F.pareto_front([1, 2], [60, 60]).tolist() == [True, False]


def test_pareto_front_of_one_point_and_of_missing_costs():
    assert F.pareto_front([3.0], [10.0]).tolist() == [True]
    assert F.pareto_front([float("nan"), 2.0], [99.0, 10.0]).tolist() == [False, True]
    assert F.pareto_front([], []).tolist() == []


def test_front_columns_match_a_brute_force_check():
    table = F.frontier_points(**synthetic())
    for cost in F.COSTS:
        shown = table.loc[table[cost].notna()]
        for _, row in shown.iterrows():
            beaten = ((shown[cost] <= row[cost]) & (shown["acc_mean"] >= row["acc_mean"])
                      & ((shown[cost] < row[cost]) | (shown["acc_mean"] > row["acc_mean"]))).any()  # fmt: skip
            assert row[f"front_{cost}"] == (not beaten), (cost, row["key"])
        assert not table.loc[table[cost].isna(), f"front_{cost}"].any()


# ---------------------------------------------------------------------------------------------
# Intervals and units


def test_accuracy_is_over_trained_models_with_trials_averaged_first():
    data = synthetic()
    table = F.frontier_points(**data).set_index("key")
    row = table.loc["ptq-tensor-stochastic-2bit"]
    q = data["quant_rows"]
    stoch = q.loc[(q["rounding"] == "stochastic") & (q["granularity"] == "tensor")]
    assert stoch["trial"].nunique() == 2
    per_model = stoch.groupby("checkpoint")["test_acc"].mean()
    assert row["n"] == 3  # three checkpoints, not six trials
    interval = stats.t_interval(per_model.tolist())
    assert row["acc_mean"] == pytest.approx(interval.mean) and row["acc_half"] == pytest.approx(interval.half_width)
    assert row["test"] == "paired t-test"  # against its own fp32 checkpoint
    dense = table.loc["fp32"]
    assert dense["acc_mean"] == pytest.approx(data["baseline"]["final_test_acc"].mean())
    assert table.loc["pruned-structured", "test"] == "Welch t-test"


def test_the_table_shows_seed_points_only_for_few_models(tmp_path):
    few = FT.frontier_table_tex(roundtrip(F.frontier_points(**synthetic()), tmp_path))
    assert "scriptsize(" in few.loc[0, "test acc. (\\%)"] and "$\\pm$" in few.loc[0, "test acc. (\\%)"]
    many = FT.frontier_table_tex(roundtrip(F.frontier_points(**synthetic(seeds=(1, 2, 3, 4, 5))), tmp_path))
    assert "scriptsize(" not in many.loc[0, "test acc. (\\%)"]


# ---------------------------------------------------------------------------------------------
# Missing measurements are labelled, never filled in


def test_unmeasured_costs_stay_missing_and_labelled(tmp_path):
    table = roundtrip(F.frontier_points(**synthetic(slim=False)), tmp_path).set_index("key")
    ptq = table.loc[table.index.str.startswith("ptq-")]
    assert ptq["latency_ms"].isna().all() and (ptq["latency_how"] == F.NOT_MEASURED).all()
    for key in ("dwconvnet", "oneshot-structured", "pruned-structured-slim"):
        if key == "pruned-structured-slim":
            # no benchmark row for the slim export: its accuracy stays, its costs are not made up
            assert table.loc[key, "n"] == 3
        assert math.isnan(table.loc[key, "bytes"]) and math.isnan(table.loc[key, "latency_ms"])
        assert table.loc[key, "bytes_how"] == F.NOT_MEASURED
    cells = FT.frontier_table_tex(table.reset_index())
    dw = cells.loc[cells["variant"].str.startswith("DWConvNet")].iloc[0]
    assert dw["kB"] == dw["MMACs"] == dw["ms @ 1"] == "n.m."
    note = FT.missing_note(table.reset_index())
    assert "PTQ latency" in note and "DWConvNet" in note and "structured pruning (slim export)" in note


def test_figure_leaves_out_what_was_not_measured(tmp_path):
    import matplotlib.pyplot as plt

    table = roundtrip(F.frontier_points(**synthetic()), tmp_path)
    from effdl.report.frontier_figure import frontier_figure

    fig = frontier_figure(table)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "DWConvNet (depthwise separable)" not in legend  # no cost measured: table only
    assert "fp32 ConvNet (Part 1.2)" in legend
    latency_panel = fig.axes[1]
    # only the benchmarked models sit in the latency panel: fp32, two masked and the slim export
    assert sum(len(c.get_offsets()) for c in latency_panel.collections if c.get_sizes().max() > 20) == 4
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# Bytes: computed from the variant's width, checked against the real packed files


def test_ptq_bytes_are_checked_against_packed_files():
    data = synthetic()
    checked = F.packed_check(data["quant_rows"], data["packed"])
    assert len(checked) == 1 and checked["computed"].iloc[0] == checked["file_payload"].iloc[0]
    table = F.frontier_points(**data).set_index("key")
    assert table.loc["ptq-tensor-nearest-4bit", "bytes_file_checked"] == "yes"
    assert table.loc["ptq-tensor-nearest-2bit", "bytes_file_checked"] == ""
    assert table.loc["ptq-tensor-nearest-4bit", "bytes"] == ptq_bytes(4, "tensor")


def test_a_packed_file_that_disagrees_stops_the_table():
    with pytest.raises(ValueError, match="packed file holds"):
        F.frontier_points(**synthetic(packed_ok=False))


def test_a_size_that_is_not_bits_times_values_stops_the_table():
    data = synthetic()
    q = data["quant_rows"]
    q.loc[q["variant"] == "tensor-nearest-2bit", "packed_bytes"] += 100_000  # as if stored at a wider width
    with pytest.raises(ValueError, match="is not 2 bits"):
        F.packed_check(q, data["packed"])


# ---------------------------------------------------------------------------------------------
# The generated answer says only what the table holds


def _capital_label(label: str) -> str:
    """A label as it starts a sentence of the answer."""
    return label[:1].upper() + label[1:]


def _answer(table: pd.DataFrame) -> str:
    return FT.frontier_answer(table)


def test_answer_names_exactly_the_front_and_true_ratios(tmp_path):
    table = roundtrip(F.frontier_points(**synthetic()), tmp_path)
    answer = _answer(table)
    fronts = re.findall(r"for ([^()]+?) \((\d+) measured\), (.*?)(?=; for |\. )", answer)
    assert [name for name, _, _ in fronts] == [F.COSTS[c][0] for c in F.COSTS]
    for (_, measured, listed), cost in zip(fronts, F.COSTS):
        assert int(measured) == table[cost].notna().sum()
        expected = table.loc[table[f"front_{cost}"]].sort_values(cost)["label"].tolist()
        named = [label for label in table["label"] if label in listed]
        assert sorted(named) == sorted(expected[:3])
    dense = table.loc[table["key"] == "fp32"].iloc[0]
    ratios = words = 0
    for _, row in table.loc[table["key"] != "fp32"].iterrows():
        label = re.escape(_capital_label(row["label"]))
        pattern = rf"{label} has ([\d.]+)\$\\times\$ (fewer|more) bytes"
        for ratio_text, direction in re.findall(pattern, answer):
            ratios += 1
            ratio = dense["bytes"] / row["bytes"]
            assert (direction == "fewer") == (ratio > 1)
            assert float(ratio_text) == pytest.approx(ratio if ratio > 1 else 1 / ratio, abs=0.05)
    for _, row in table.loc[table["word"].isin(["higher", "lower", "within noise"])].iterrows():
        if _capital_label(row["label"]) + " has" in answer:
            clause = answer.split(_capital_label(row["label"]) + " has")[1].split(").")[0]
            assert stats.relation(row["word"]) in clause
            words += 1
    assert ratios >= 4 and words >= 3  # two PTQ clauses, three pruned models (and the DWConvNet when measured)


def test_answer_with_one_model_has_no_test_words_and_no_degenerate_numbers(tmp_path):
    table = roundtrip(F.frontier_points(**synthetic(seeds=(43,))), tmp_path)
    answer = _answer(table)
    assert "within noise" not in answer and "higher than" not in answer and "lower than" not in answer
    assert "no test" in answer
    for bad in ("nan", "inf", "$\\pm$", "0 variants", "1 variants"):
        assert bad not in answer
    assert (table["n"] == 1).all() and table["acc_half"].isna().all()


def test_answer_stays_within_its_word_limit_for_the_largest_table(tmp_path):
    table = roundtrip(F.frontier_points(**synthetic(seeds=(1, 2, 3, 4, 5), dw_seeds=(1, 2))), tmp_path)
    assert len(table) >= 14
    answer = _answer(table)
    assert count_words(answer) <= 200
    assert all(s[0].isupper() or s[0].isdigit() for s in re.split(r"(?<=\.) ", answer))


def test_answer_without_quantization_or_pruning_says_nothing_about_them(tmp_path):
    data = synthetic()
    data["quant_rows"] = data["quant_rows"].iloc[0:0]
    data["pruned"] = data["pruned"].iloc[0:0]
    data["slim_checks"] = data["slim_checks"].iloc[0:0]
    table = roundtrip(F.frontier_points(**data), tmp_path)
    answer = _answer(table)
    assert "PTQ" not in answer and "pruning" not in answer
    assert "DWConvNet" in answer


def test_ratio_phrase_words():
    assert FT.ratio_phrase(1.0, 4.0, "bytes") == "4.0$\\times$ fewer bytes"
    assert FT.ratio_phrase(2.0, 1.0, "bytes") == "2.0$\\times$ more bytes"
    assert FT.ratio_phrase(1.01, 1.0, "MACs") == "about the same MACs"
    assert FT.ratio_phrase(1.0, 2.0, "latency") == "2.0$\\times$ lower latency"
    assert FT.ratio_phrase(float("nan"), 2.0, "bytes") == ""


def dw_bench(dense_ms: float = 3.0, dw_ms: float = 1.5) -> pd.DataFrame:
    """The frontier's own benchmark job: the dense ConvNet again and the DWConvNet, on a busier machine."""
    return pd.DataFrame(
        [
            {
                "model": model,
                "batch_size": 1,
                "latency_ms_median": ms,
                "macs": macs,
                "params": params,
                "params_nonzero": params,
                "state_dict_bytes": params * 4 + 9_000,
            }  # fmt: skip
            for model, ms, macs, params in (
                ("dense", dense_ms, DENSE_MACS, 1_000_000),
                ("dwconvnet", dw_ms, 40_000_000, 430_000),
            )  # fmt: skip
        ]
    )


def test_a_measured_dwconvnet_joins_the_panels_with_ratios_within_its_own_job(tmp_path):
    data = synthetic()
    table = roundtrip(F.frontier_points(**data, dw_bench=dw_bench(dense_ms=3.0, dw_ms=1.5)), tmp_path)
    dw = table.set_index("key").loc["dwconvnet"]
    assert dw["latency_ms"] == 1.5 and dw["latency_ref_ms"] == 3.0 and dw["bytes_how"] == "file"
    answer = _answer(table)
    # 3.0 / 1.5 in its own job, not 2.0 (the pruning benchmark's dense) / 1.5
    assert "2.0$\\times$ lower latency" in answer.split("DWConvNet (depthwise separable) has")[1]
    assert "DWConvNet" not in FT.missing_note(table)
    assert "second job" in FT.timing_sentence(table)
    assert FT.timing_sentence(F.frontier_points(**data)) == ""  # one job: nothing to say


def test_the_notebook_and_the_rebuild_appendix_carry_the_frontier(tmp_path):
    from pathlib import Path

    from effdl.report.notebook import paper_exhibits
    from effdl.report.rebuild import rebuild_entries

    sections = Path(__file__).resolve().parents[1] / "paper" / "sections"
    table = tmp_path / "results" / "tex" / "frontier_table.tex"
    table.parent.mkdir(parents=True)
    cells = FT.frontier_table_tex(roundtrip(F.frontier_points(**synthetic()), tmp_path))
    from effdl.report.texgen import df_to_latex

    df_to_latex(cells, table, escape=False, label="tab:frontier",
                caption="x \\rebuild{results/tex/frontier_table.tex}{results/metrics/frontier.csv}")  # fmt: skip
    exhibits = {Path(e.path).name: e for e in paper_exhibits(sections, str(tmp_path / "results"))}
    assert exhibits["frontier.pdf"].part == "6" and exhibits["frontier.pdf"].kind == "figure"
    assert exhibits["frontier_table.tex"].part == "6" and exhibits["frontier_table.tex"].kind == "table"
    entries = {e.label: e for e in rebuild_entries([(sections / "part6_frontier.tex").read_text(), table.read_text()])}
    assert entries["fig:frontier"].target == "results/figs/frontier.pdf"
    assert entries["tab:frontier"].sources == "results/metrics/frontier.csv"
    main = (sections.parent / "main.tex").read_text()
    assert "\\input{sections/part6_frontier}" in main


def test_a_width_that_contradicts_the_variant_name_stops_the_table():
    data = synthetic()
    q = data["quant_rows"]
    q.loc[q["variant"] == "channel-nearest-4bit", "bits"] = 8
    with pytest.raises(ValueError, match="recorded at 8 bits"):
        F.packed_check(q, data["packed"])


def test_a_latency_from_another_job_is_a_ratio_not_a_point_on_the_latency_axis(tmp_path):
    # the second job ran on a busier machine: its dense model took 30 ms, not 2 ms
    table = roundtrip(F.frontier_points(**synthetic(), dw_bench=dw_bench(dense_ms=30.0, dw_ms=0.5)), tmp_path)
    dw = table.loc[table["key"] == "dwconvnet"].iloc[0]
    assert not dw["front_latency_ms"]  # 0.5 ms would beat everything, but it is not comparable
    cells = FT.frontier_table_tex(table)
    assert cells.loc[table.index[table["key"] == "dwconvnet"][0], "ms @ 1"] == "0.02$\\times^j$"
    assert "$^j$" in FT.CAPTION
    assert F.comparable(table, "latency_ms").notna().sum() == 4


def test_the_evaluation_precision_of_each_row_is_said(tmp_path):
    data = synthetic()
    for name in ("baseline", "pruned", "dwconv"):
        data[name] = data[name].assign(precision="bf16")
    table = roundtrip(F.frontier_points(**data), tmp_path).set_index("key")
    assert table.loc["fp32", "evaluated"] == table.loc["pruned-structured", "evaluated"] == "bf16"
    assert table.loc["ptq-tensor-nearest-8bit", "evaluated"] == table.loc["pruned-structured-slim", "evaluated"]
    assert table.loc["oneshot-structured", "evaluated"] == "fp32"
    sentence = F.evaluation_sentence(table.reset_index())
    assert "fp32 ConvNet (Part 1.2)" in sentence.split(" in bf16")[0] and "different precisions" in sentence
    same = roundtrip(F.frontier_points(**synthetic()), tmp_path)
    assert F.evaluation_sentence(same) == "Every accuracy was evaluated in fp32."


def test_the_notebook_shows_the_table_as_plain_text(tmp_path):
    from effdl.report.nbdisplay import tex_table_rows

    cells = FT.frontier_table_tex(roundtrip(F.frontier_points(**synthetic()), tmp_path))
    rows = tex_table_rows(FT.table_latex(cells, "n.m.: not measured."))
    assert len(rows) == len(cells) + 1 and "(" in rows[1][2]
    assert not any("\\" in cell for row in rows for cell in row), rows


def test_the_paper_table_carries_the_note_on_what_was_not_measured(tmp_path):
    table = roundtrip(F.frontier_points(**synthetic()), tmp_path)
    assert FT.missing_note(table) and FT.escape(FT.missing_note(table)) in FT.frontier_table_latex(table)
