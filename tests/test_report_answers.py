"""Tests of effdl.report.answers: the answers' sentences follow synthetic CSVs, and flip when the data flips."""

from __future__ import annotations

import numpy as np
import pandas as pd

from effdl.report import answers
from effdl.report.results import TIME_RANGE, format_values

SEEDS = (43, 44, 45)


def sweep_frames(final: dict, spike_lr=None, seeds=SEEDS):
    """Summary, epochs and iters frames of an lr sweep whose final accuracies are `final[lr]` (+ seed jitter)."""
    summary, epochs, iters = [], [], []
    for lr, acc in final.items():
        for k, seed in enumerate(seeds):
            run, end = f"lr{lr}_s{seed}", acc + 0.3 * (k - 1)
            summary.append({"run": run, "lr": lr, "seed": seed, "final_test_acc": end, "diverged": False})
            for epoch, value in ((1, end / 2), (2, end)):
                epochs.append({"run": run, "lr": lr, "seed": seed, "epoch": epoch, "test_acc": value})
            losses = np.linspace(2.3, 1.0, 20)
            if lr == spike_lr:
                losses[5] = 40.0
            for i, loss in enumerate(losses):
                iters.append(
                    {"run": run, "lr": lr, "seed": seed, "iteration": i + 1, "epoch_float": i / 10, "loss": loss}
                )
    return pd.DataFrame(summary), pd.DataFrame(epochs), pd.DataFrame(iters)


def test_the_best_rate_is_named_from_the_data_and_flips_with_it():
    text = answers.sweep_trends(*sweep_frames({0.0001: 20.0, 0.1: 60.0, 1.0: 30.0}), window=4)
    assert text["PoneBestSentence"].startswith("lr 0.1 worked best")
    assert "higher than lr 0.0001 and lr 1" in text["PoneBestSentence"]
    assert "smaller rates" in text["PoneSweepWhy"] and "largest rate" in text["PoneSweepWhy"]
    flipped = answers.sweep_trends(*sweep_frames({0.0001: 20.0, 0.1: 30.0, 1.0: 60.0}), window=4)
    assert flipped["PoneBestSentence"].startswith("lr 1 worked best")
    assert "largest rate" not in flipped["PoneSweepWhy"]


def test_no_winner_is_claimed_within_noise_or_with_one_seed():
    close = answers.sweep_trends(*sweep_frames({0.1: 60.0, 1.0: 59.9}), window=4)
    assert (
        "no rate is clearly best" in close["PoneBestSentence"] and "within noise of lr 1" in close["PoneBestSentence"]
    )
    single = answers.sweep_trends(*sweep_frames({0.1: 60.0, 1.0: 20.0}, seeds=(43,)), window=4)
    assert "one seed no ranking is claimed" in single["PoneBestSentence"]


def test_the_loss_spike_is_mentioned_only_when_there_is_one():
    spiky = answers.sweep_trends(*sweep_frames({0.1: 60.0, 1.0: 10.5}, spike_lr=1.0), window=4)
    # the peak quoted is the plotted moving average's (window 4: the raw 40 spreads over 4 iterations), not the raw 40
    losses = np.linspace(2.3, 1.0, 20)
    losses[5] = 40.0
    peak = np.convolve(losses, np.ones(4) / 4, mode="valid").max()
    assert f"lr 1: loss spikes to {peak:.2f}" in spiky["PoneSweepTrends"] and "its loss spikes" in spiky["PoneSweepWhy"]
    assert "accuracy ends at chance level" in spiky["PoneSweepTrends"]
    calm = answers.sweep_trends(*sweep_frames({0.1: 60.0, 1.0: 30.0}), window=4)
    assert "spikes" not in calm["PoneSweepTrends"] and "lr 1: loss falls from" in calm["PoneSweepTrends"]


def schedule_frames(accs, lrs, run="r"):
    epochs = pd.DataFrame(
        {
            "run": run,
            "epoch": range(1, len(accs) + 1),
            "test_acc": accs,
            "epoch_lr": lrs,
            "train_loss": np.linspace(2.0, 0.5, len(accs)),
        }
    )
    iters = pd.DataFrame(
        {"run": run, "iteration": range(1, 41), "epoch_float": np.arange(40) / 4, "loss": np.linspace(2.3, 0.4, 40)}
    )
    return epochs, iters


def test_multistep_plateau_and_jump_words_follow_the_curve():
    lrs = [0.1] * 6 + [0.01] * 4
    plateau = schedule_frames([30, 50, 60, 64, 64.2, 64.4, 75, 76, 76.2, 76.3], lrs)
    text = answers.scheduler_trend(*plateau, window=4, step_schedule=True)
    assert text.startswith("accuracy plateaus before the first rate drop, then jumps by 10.6 points after epoch 6")
    assert "loss falls at the rate drop" in text and "1 of 1" not in text
    climbing = schedule_frames([30, 40, 50, 60, 70, 80, 78, 79, 80, 80], lrs)
    text = answers.scheduler_trend(*climbing, window=4, step_schedule=True)
    assert text.startswith("accuracy still rises at the first rate drop, then drops by 2.0 points after epoch 6")


def test_cosine_words_follow_the_curve():
    lrs = list(np.linspace(0.1, 0.001, 10))
    late = schedule_frames([10, 11, 12, 13, 14, 15, 16, 30, 50, 60], lrs)
    assert "gaining most in the last quarter" in answers.scheduler_trend(*late, window=4, step_schedule=False)
    early = schedule_frames([10, 50, 55, 57, 58, 59, 60, 60.5, 61, 61.2], lrs)
    text = answers.scheduler_trend(*early, window=4, step_schedule=False)
    assert text.startswith("accuracy rises steadily, gaining most in the first quarter") and "loss falls" in text


def test_scheduler_comparison_and_slow_run_marks():
    summary = pd.DataFrame(
        {
            "scheduler": ["multistep"] * 3 + ["cosine_annealing"] * 3,
            "seed": [1, 2, 3] * 2,
            "final_test_acc": [90, 90.2, 90.1, 80, 80.3, 80.1],
            "total_time_s": [1.0, 1.1, 10.0, 1.0, 1.2, 1.1],
        }
    )
    assert answers.scheduler_comparison(summary) == "MultiStep ends higher than cosine annealing"
    one_seed = summary[summary["seed"] == 1]
    assert answers.scheduler_comparison(one_seed) == (
        "MultiStep ends at 90.0\\% and cosine annealing at 80.0\\% (one seed: untested)"
    )
    times = answers.run_times(summary)
    assert "10.0*" in times and "machine noise" in times and "cosine annealing" in times
    # the one formatter's mean ± 95% t-interval, as Part 1's table prints the same times
    assert format_values([1.0, 1.2, 1.1], 1, bounds=TIME_RANGE, unit="s") in times and ", sd " not in times
    calm = summary.assign(total_time_s=[1.0, 1.1, 1.2, 1.0, 1.2, 1.1])
    assert "machine noise" not in answers.run_times(calm) and "*" not in answers.run_times(calm)


def test_sanity_comparison_uses_the_matching_epoch():
    sanity = pd.DataFrame({"epoch": [1, 1], "test_acc": [30.0, 31.0]})
    reference = pd.DataFrame({"epoch": [1, 1, 2, 2], "test_acc": [30.5, 31.5, 60.0, 61.0]})
    epoch, a, b, word = answers.matching_epoch_comparison(sanity, reference)
    assert (epoch, a, b, word) == (1, "30.50", "31.00", "SparseConvNet's accuracy is within noise of ConvNet's")


def pruning_frame(accs, events):
    return pd.DataFrame(
        {
            "run": "r",
            "epoch": range(1, len(accs) + 1),
            "test_acc": accs,
            "prune_event": [str(e in events) for e in range(1, len(accs) + 1)],
        }
    )


def test_pruning_words_flip_between_recovery_and_collapse():
    recovering = answers.pruning_events(pruning_frame([60, 62, 50, 58, 61, 61.2, 61.3, 61.1], events=[3]))
    assert recovering["events"].startswith("the pruning event lowered test accuracy at once")
    assert "recovered" in recovering["next"] and recovering["ending"].startswith("settles at 61.1")
    collapsing = answers.pruning_events(pruning_frame([60, 62, 50, 30, 10.2], events=[3]))
    assert "kept falling" in collapsing["next"] and collapsing["ending"].startswith("ends at chance level")
    harmless = answers.pruning_events(pruning_frame([60, 62, 62.3, 63, 64], events=[3]))
    assert harmless["events"].startswith("the pruning event did not lower")


def test_back_to_back_events_claim_no_recovery():
    result = answers.pruning_events(pruning_frame([15.0, 10.0], events=[1, 2]))
    assert "recovery is not measured" in result["next"]
    assert result["events"].startswith("the event after epoch 2 lowered") and "a change of $-5.0$" in result["events"]
