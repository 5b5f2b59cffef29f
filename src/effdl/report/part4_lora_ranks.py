"""Part 4's control beyond the problem set: the LoRA head at ranks below the head's full rank, where LoRA restricts
the update; table rows beside the problem set's three models and one sentence. Torch-free (report rules)."""

from __future__ import annotations

import pandas as pd

from effdl.report import stats
from effdl.report.part4 import model_row
from effdl.report.texgen import fmt

RESNET18_FEATURES = 512  # inputs of ResNet-18's classifier (as effdl.report.part4)


def rank_label(rank: int) -> str:
    """The table's model cell of a rank control (net_freeze_lora at rank r; the caption says so): short, so the
    six-column table fits the text width."""
    return f"control: $r={int(rank)}$"


def lora_rank_rows(ranks: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """Rows in effdl.report.part4.finetune_table's columns for the rank-control runs (one per rank, lowest first),
    their numbers from Part 4's tidy `results` (effdl.report.results.part4_results with the rank runs)."""
    if ranks.empty:
        return pd.DataFrame()
    rows = []
    for rank in sorted(ranks["lora_r"].unique()):
        run = ranks[ranks["lora_r"] == rank].iloc[0]
        rows.append(model_row(rank_label(rank), run, results, "lora_ranks", f"net_freeze_lora r={int(rank)}"))
    return pd.DataFrame(rows)


def lora_rank_sentence(summary: pd.DataFrame, ranks: pd.DataFrame, num_classes: int, lora_r: int) -> str:
    """What restricting the LoRA update buys and costs: each rank's accuracy and head parameters, against the
    problem set's rank (paired on the seed: the same start and batches)."""
    if ranks.empty:
        return ""
    full_rank = min(RESNET18_FEATURES, num_classes)
    reference = summary[summary["variant"] == "net_freeze_lora"].set_index("seed")["final_test_acc"]
    parts = []
    for rank in sorted(ranks["lora_r"].unique()):
        runs = ranks[ranks["lora_r"] == rank].set_index("seed")["final_test_acc"]
        versus = stats.compare_units(runs.to_dict(), reference.to_dict())
        head = int(rank) * (RESNET18_FEATURES + num_classes)
        against = f"rank {lora_r}'s {stats.mean_ci(reference)}\\,\\%"
        verdict = (
            f"{stats.relation(versus.word)} {against}; {stats.p_text(versus)}"
            if versus.word != "untested"
            else f"{against}; one seed, no test"
        )
        parts.append(
            f"rank {int(rank)} ({fmt(head)} adapter parameters) reaches {stats.mean_ci(runs)}\\,\\% ({verdict})"
        )
    restricting = [int(r) for r in sorted(ranks["lora_r"].unique()) if r < full_rank]
    what = (
        f"ranks below the head's full rank {full_rank}, where the update is restricted"
        if restricting
        else f"ranks that are not below the head's full rank {full_rank}, so they restrict nothing"
    )
    return f"Beyond the problem set, the same LoRA head at {what} (same scale $\\alpha/r$, same seeds): " + (
        "; ".join(parts) + "."
    )
