"""Tests of Part 4's LoRA rank control in the report: its table rows and its sentence, from synthetic CSV rows."""

from __future__ import annotations

import pandas as pd

from effdl.report.part4_lora_ranks import lora_rank_rows, lora_rank_sentence
from effdl.report.results import part4_results


def rank_runs():
    rows, epochs = [], []
    for rank, accs in ((1, [40.0, 41.0, 42.0]), (4, [49.0, 50.5, 51.0])):
        for seed, acc in zip((1, 2, 3), accs):
            trainable = 100 + rank * 522
            run = f"net_freeze_lora_r{rank}_seed{seed}"
            rows.append(
                {
                    "run": run,
                    "lora_r": rank,
                    "seed": seed,
                    "final_test_acc": acc,
                    "params_total": 1000,
                    "params_trainable": trainable,
                }
            )
            epochs += [
                {"run": run, "lora_r": rank, "seed": seed, "epoch": 0, "test_acc": 10.0, "epoch_time_s": 0.0},
                {"run": run, "lora_r": rank, "seed": seed, "epoch": 1, "test_acc": acc, "epoch_time_s": 2.0 + rank},
            ]
    return pd.DataFrame(rows), pd.DataFrame(epochs)


def test_rank_rows_are_labelled_controls_in_rank_order():
    ranks, epochs = rank_runs()
    empty = pd.DataFrame(columns=["variant", "run", "seed", "final_test_acc"])
    results = part4_results(empty, pd.DataFrame(columns=["run", "epoch", "test_acc", "epoch_time_s"]), ranks, epochs)
    table = lora_rank_rows(ranks, results)
    assert list(table["model"]) == ["control: $r=1$", "control: $r=4$"]
    assert table.iloc[0]["acc. after (\\%)"].startswith("41.00") and table.iloc[1]["s / epoch"] == "6.0"
    assert lora_rank_rows(pd.DataFrame(), pd.DataFrame()).empty


def test_rank_sentence_pairs_each_rank_with_the_problem_sets_rank_on_the_seed():
    ranks, _ = rank_runs()
    summary = pd.DataFrame(
        {"variant": ["net_freeze_lora"] * 3 + ["pt_net"] * 3, "seed": [1, 2, 3] * 2, "final_test_acc": [50.0] * 6}
    )
    text = lora_rank_sentence(summary, ranks, num_classes=10, lora_r=10)
    assert "below the head's full rank 10, where the update is restricted" in text
    assert "rank 1 (522 adapter parameters) reaches 41.00" in text and "lower than rank 10's 50.00" in text
    assert "paired t-test" in text
    assert lora_rank_sentence(summary, pd.DataFrame(), 10, 10) == ""
    one_seed = lora_rank_sentence(summary[summary["seed"] == 1], ranks[ranks["seed"] == 1], 10, 10)
    assert "(rank 10's 50.00\\,\\%; one seed, no test)" in one_seed
    full = lora_rank_sentence(summary, ranks.assign(lora_r=ranks["lora_r"] * 20), num_classes=10, lora_r=10)
    assert "restrict nothing" in full


def test_a_rank_control_spec_differs_from_net_freeze_lora_only_in_the_rank():
    from effdl.plan.finetune import lora_rank_spec

    spec = {
        "part": "part4",
        "run": "net_freeze_lora_seed43",
        "seed": 43,
        "model": {"name": "resnet18", "variant": "net_freeze_lora", "lora_r": 10, "lora_alpha": 10},
        "train": {"lr": 0.01, "epochs": 5},
        "labels": {"experiment": "finetune", "variant": "net_freeze_lora"},
    }
    ranked = lora_rank_spec(spec, 2, lora_r=10, lora_alpha=10)
    assert "part" not in ranked and "run" not in ranked  # register_runs names it
    assert ranked["model"] == {**spec["model"], "lora_r": 2, "lora_alpha": 2.0}  # same scale alpha / r = 1
    assert ranked["train"] == spec["train"] and ranked["seed"] == 43
    assert ranked["labels"] == {"experiment": "lora_rank_control", "variant": "net_freeze_lora", "lora_r": 2}
    assert spec["model"]["lora_r"] == 10  # the problem set's run is left alone
