"""Tidy results (effdl.report.results): one row per setting and metric, and the one formatter every output uses."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from effdl.report import claims, results, stats, summaries
from effdl.report.part1 import part1_macros, part1_table


def test_a_row_holds_the_mean_the_t_interval_and_n():
    values = [90.0, 91.0, 92.5]
    row = results.summarise(values, metric="final_test_acc", unit="%", bounds=(0.0, 100.0), setting="lr 0.1")
    interval = stats.t_interval(values)
    assert row["setting"] == "lr 0.1" and row["n"] == 3 and row["unit"] == "%"
    assert row["mean"] == pytest.approx(np.mean(values))
    assert (row["low"], row["high"]) == pytest.approx((interval.low, interval.high))
    assert results.format_result(row) == f"{interval.mean:.2f} $\\pm$ {interval.half_width:.2f}"
    assert results.format_result(row, tex=False, unit=True, n=True).endswith("% (n=3)")


def test_an_interval_past_the_metric_range_prints_clipped_and_one_unit_prints_its_mean():
    row = results.summarise([97.0, 99.9], metric="acc", unit="%", bounds=(0.0, 100.0))
    assert row["high"] == 100.0 and row["low"] < 97.0
    assert results.format_result(row) == f"{row['mean']:.2f} [{row['low']:.2f}, 100.00]"
    one = results.summarise([42.0], metric="acc", unit="%")
    assert math.isnan(one["half_width"]) and results.format_result(one) == "42.00"
    assert results.format_result(results.summarise([], metric="acc", unit="%")) == "n/a"


@pytest.mark.parametrize("values", [[91.0, 92.0, 90.5], [97.0, 99.9], [55.5], [10.0, 10.0]])
def test_every_printer_of_an_interval_is_the_one_formatter(values):
    """The table's mean_ci, the macros' mean_pm, the claims' pm and format_result print the same numbers."""
    row = results.summarise(values, metric="acc", unit="%", bounds=stats.ACCURACY_RANGE)
    tex = results.format_result(row)
    interval = stats.t_interval(values)
    assert stats.mean_ci(values) == tex
    assert summaries.mean_pm(interval.mean, interval.half_width) == tex
    assert claims.pm(values) == results.format_result(row, tex=False, unit=True, n=True)
    assert claims.pm(values).replace("±", "$\\pm$").startswith(tex)


def sweep_and_schedulers() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    common = {"epochs_planned": 2, "diverged": False, "device": "cpu", "git_commit": "abc", "n_train": 100}
    sweep = pd.DataFrame(
        [
            {**common, "lr": lr, "seed": s, "final_test_acc": acc + rng.normal(), "total_time_s": 10 + s}
            for lr, acc in ((0.1, 60.0), (1.0, 10.0))
            for s in (1, 2, 3)
        ]
    )
    sched = pd.DataFrame(
        [
            {**common, "scheduler": name, "lr": 0.1, "seed": s, "final_test_acc": 62 + rng.normal(), "total_time_s": 5}
            for name in ("multistep", "cosine_annealing")
            for s in (1, 2, 3)
        ]
    )
    return sweep, sched


def test_part1_results_are_tidy_and_the_table_prints_them():
    sweep, sched = sweep_and_schedulers()
    table = results.part1_results(sweep, sched)
    assert list(table.columns[: len(results.COLUMNS)]) == results.COLUMNS
    assert list(table.columns[-3:]) == results.PROVENANCE_COLUMNS
    assert len(table) == 2 * (2 + 2) and set(table["metric"]) == {"final_test_acc", "total_time_s"}
    row = results.lookup(table, experiment="lr_sweep", setting="lr 0.1", metric="final_test_acc")
    assert row["n"] == 3 and row["source"] == "part1_lr_sweep/summary.csv" and row["git_commits"] == "abc"
    cells = part1_table(sweep, sched, table).set_index("setting")
    assert cells.loc["lr 0.1", "final test acc (\\%)"] == results.format_result(row)
    # the claims table prints the same row, in plain text with its unit and n
    claim = claims.lr_sweep_best({"sweep": sweep})
    assert f"lr 0.1: {results.format_result(row, tex=False, unit=True, n=True)}" in claim.measured


def test_part1_macros_print_the_tidy_row():
    from test_registry import part1_frames  # the synthetic Part 1 CSVs of the registry tests

    sweep, sweep_epochs, sweep_iters, sched, sched_epochs, sched_iters = part1_frames(
        [0.1, 1.0], ["multistep", "cosine_annealing"], [1, 2, 3]
    )
    table = results.part1_results(sweep, sched)
    macros = part1_macros(
        sweep,
        sched,
        sweep_epochs,
        sched_epochs,
        sweep_iters=sweep_iters,
        sched_iters=sched_iters,
        window=3,
        results=table,
    )
    row = results.lookup(table, experiment="schedulers", setting="multistep", metric="final_test_acc")
    assert macros["PoneAccMultistep"] == results.format_result(row)
    assert not [name for name in macros if name.startswith(("PoneAccLr", "PoneTrend"))]


def test_part5_and_part6_results_hold_one_row_per_metric():
    toy = pd.DataFrame(
        {
            "seed": [1, 2, 3],
            "greedy_token_acc": [99.0, 98.0, 100.0],
            "greedy_seq_acc": [90.0, 91.0, 95.0],
            "tf_token_acc": [99.5, 99.0, 100.0],
            "train_time_s": [10.0, 11.0, 12.0],
            "device": "cpu",
        }
    )
    five = results.part5_results(toy)
    assert list(five["metric"]) == ["greedy_token_acc", "greedy_seq_acc", "tf_token_acc", "train_time_s"]
    assert set(five["n"]) == {3} and results.lookup(five, metric="greedy_token_acc")["high"] == 100.0
    summary = pd.DataFrame(
        {"seed": [1, 2], "final_test_acc": [80.0, 82.0], "best_test_acc": [81.0, 83.0], "total_time_s": [5.0, 6.0]}
    )
    epochs = pd.DataFrame({"run": ["a", "a", "b", "b"], "epoch": [1, 2, 1, 2], "train_acc": [50.0, 70.0, 55.0, 75.0]})
    six = results.part6_results(summary, epochs)
    error = results.lookup(six, metric="final_train_error")
    assert error["n"] == 2 and error["mean"] == pytest.approx(27.5)


def test_part2_table_and_macros_print_the_tidy_rows_of_the_ptq_summary():
    from test_registry import ptq_rows  # the synthetic PTQ rows of the registry tests

    from effdl.report.part2 import part2_table, summarize_ptq

    summary = summarize_ptq(ptq_rows([8, 4, 2], ["tensor", "channel"], 2))
    table = results.part2_results(summary)
    assert len(table) == len(summary) and set(table["metric"]) == {"test_acc"}
    row = results.lookup(table, experiment="mnist_mlp", setting="tensor nearest 8-bit", metric="test_acc")
    assert row["n"] == summary["checkpoints"].max()
    cells = part2_table(summary, table)
    assert results.format_result(row) in set(cells["tensor (\\%)"])


def test_part3_results_hold_the_final_accuracies_the_macros_print():
    pruned = pd.DataFrame(
        {
            "mode": ["structured"] * 3 + ["unstructured"] * 3,
            "seed": [1, 2, 3] * 2,
            "final_test_acc": [55.0, 57.0, 53.0, 58.0, 59.5, 57.0],
        }
    )
    baseline = pd.DataFrame({"seed": [1, 2, 3], "final_test_acc": [60.0, 62.0, 99.9]})
    sanity = pd.DataFrame({"seed": [1], "final_test_acc": [40.0]})
    three = results.part3_results(pruned, baseline, sanity)
    assert list(three["setting"]) == ["sparse_convnet", "baseline", "structured", "unstructured"]
    assert set(three["metric"]) == {"final_test_acc"} and list(three["n"]) == [1, 3, 3, 3]
    structured = results.lookup(three, experiment="pruning", setting="structured")
    assert structured["mean"] == pytest.approx(55.0) and structured["part"] == "3.3"
    # the printed rows are the convention's (a clipped interval included: the baseline's crosses 100 %)
    for values, setting in ((baseline["final_test_acc"], "baseline"), (sanity["final_test_acc"], "sparse_convnet")):
        assert results.format_result(results.lookup(three, setting=setting)) == stats.mean_ci(values)
    assert "[" in results.format_result(results.lookup(three, setting="baseline"))


def test_part4_results_hold_each_models_accuracies_and_epoch_time_and_the_table_prints_them():
    from test_finetune import fake_results

    from effdl.report.part4 import finetune_macros, finetune_table
    from effdl.report.part4_lora_ranks import lora_rank_rows

    summary, epochs = fake_results()
    ranks = summary[summary["variant"] == "net_freeze_lora"].assign(lora_r=2, run=lambda f: f["run"] + "_r2")
    ranks_epochs = epochs[epochs["variant"] == "net_freeze_lora"].assign(lora_r=2, run=lambda f: f["run"] + "_r2")
    ranks = ranks.assign(final_test_acc=ranks["final_test_acc"] - 5)
    four = results.part4_results(summary, epochs, ranks, ranks_epochs)
    assert set(four["metric"]) == {"pre_finetune_acc", "final_test_acc", "epoch_time_s"}
    assert len(four) == 3 * (summary["variant"].nunique() + 1) and set(four["n"]) == {2}
    final = results.lookup(four, experiment="finetune", setting="net_freeze_lora", metric="final_test_acc")
    assert final["mean"] == pytest.approx(70.5) and final["source"] == "part4_finetune/summary.csv"
    control = results.lookup(four, experiment="lora_ranks", setting="net_freeze_lora r=2", metric="final_test_acc")
    assert control["mean"] == pytest.approx(65.5) and control["source"] == "part4_lora_ranks/summary.csv"
    seconds = results.lookup(four, experiment="finetune", setting="pt_net", metric="epoch_time_s")
    assert seconds["mean"] == pytest.approx(4.0)  # epoch 0 (evaluation only) is not an epoch of training
    table = finetune_table(summary, epochs, four)
    assert table.loc[2, "acc. after (\\%)"] == results.format_result(final)
    assert lora_rank_rows(ranks, four).loc[0, "acc. after (\\%)"] == results.format_result(control)
    macros = finetune_macros(summary, epochs, 10, 10, 10, four)
    assert macros["PfourAccNetFreezeLora"] == results.format_result(final)
