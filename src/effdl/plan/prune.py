"""Part 3's plan, decided while Snakemake builds the DAG: the pruning modes and the epochs after which pruning fires."""

from __future__ import annotations

from effdl.plan.registry import PRUNE_MODES as _MODES

PRUNE_MODES = tuple(_MODES)  # effdl.plan.registry.PRUNE_MODES is their home


def prune_after_epochs(schedule: dict) -> list[int]:
    """Completed-epoch counts (the CSV `epoch` column, 1-based) after which the schedule prunes; ValueError when
    the events do not fit in the run or would prune past 100 %. Keys: prune_start, prune_end, prune_every, epochs,
    prune_percentage (the `prune.schedule` config section)."""
    after = list(range(schedule["prune_start"], schedule["prune_end"] + 1, schedule["prune_every"]))
    if not after or after[-1] > schedule["epochs"]:
        raise ValueError(
            f"prune.schedule: pruning after epochs {after} does not fit in {schedule['epochs']} epochs. "
            "Fix: set prune_start <= prune_end <= epochs."
        )
    if len(after) * schedule["prune_percentage"] > 1 + 1e-9:
        raise ValueError(
            f"prune.schedule: {len(after)} events x prune_percentage {schedule['prune_percentage']} exceeds 100% "
            "sparsity. Fix: fewer events or a smaller percentage."
        )
    return after
