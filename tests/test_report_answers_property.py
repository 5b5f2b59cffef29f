"""Property tests of the written answers: synthetic CSVs of every small shape give no degenerate phrase and no
sentence that contradicts its own data.

Hypothesis draws the frames the answer generators read: 1 to 5 seeds, 1 to 6 epochs, accuracies from a small
grid (so ties are common), one pruning event or several, zero sparsity, and NaN in the accuracy columns.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from effdl.report import answers, words
from effdl.report.part3 import oneshot_safe_sentence
from effdl.report.part4 import _versus

# Template output a reader would stumble on, whatever the counts.
DEGENERATE = {
    "n of n": re.compile(r"\b(\d+) of (?:the )?\1\b"),
    "0 of": re.compile(r"\b0 of\b"),
    "up to 0%": re.compile(r"up to 0(?:\.0+)?\s*\\?%"),
    "nan/inf": re.compile(r"\b(?:nan|inf|NaN|None)\b"),
    "n/a": re.compile(r"n/a"),
    "not tested (one": re.compile(r"not tested \(one"),
    "empty brackets": re.compile(r"\(\s*\)"),
    "double space": re.compile(r"\S  +\S"),
    "space before punctuation": re.compile(r" [,.;]"),
    "1 with a plural": re.compile(r"(?<![\d.])1 (?:events|drops|seeds|runs|epochs|points)\b"),
    "plural number with a singular": re.compile(r"(?<![\d.])(?:[02-9]|\d{2,}) (?:event|drop|seed|run|epoch)\b(?!s)"),
    "at no epoch": re.compile(r"at no epoch"),
}

SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
ACCS = st.sampled_from([10.0, 10.5, 30.0, 30.0, 45.5, 60.0, 60.0, 61.0, 80.0, float("nan")])


def assert_readable(text: str) -> None:
    for name, pattern in DEGENERATE.items():
        match = pattern.search(text)
        assert match is None, f"degenerate phrase ({name}): {match.group(0)!r} in {text!r}"


@st.composite
def sweep(draw):
    """An lr sweep: summary, epochs and iters frames with n seeds, 1-6 epochs and 1-3 rates."""
    n_seeds, n_epochs = draw(st.integers(1, 5)), draw(st.integers(1, 6))
    lrs = draw(st.lists(st.sampled_from([0.0001, 0.01, 0.1, 1.0]), min_size=1, max_size=3, unique=True))
    summary, epochs, iters = [], [], []
    for lr in lrs:
        for seed in range(43, 43 + n_seeds):
            run = f"lr{lr}_s{seed}"
            curve = [draw(ACCS) for _ in range(n_epochs)]
            summary.append({"run": run, "lr": lr, "seed": seed, "final_test_acc": curve[-1], "diverged": False})
            for epoch, acc in enumerate(curve, start=1):
                epochs.append({"run": run, "lr": lr, "seed": seed, "epoch": epoch, "test_acc": acc})
            start, end = draw(st.sampled_from([2.3, 2.0, 1.0])), draw(st.sampled_from([2.3, 2.2, 1.0, 0.3]))
            losses = np.linspace(start, end, 4 * n_epochs)
            if draw(st.booleans()):
                losses[draw(st.integers(0, len(losses) - 1))] = draw(st.sampled_from([9.0, float("nan")]))
            for i, loss in enumerate(losses):
                iters.append(
                    {"run": run, "lr": lr, "seed": seed, "iteration": i + 1, "epoch_float": i / 4, "loss": loss}
                )
    return pd.DataFrame(summary), pd.DataFrame(epochs), pd.DataFrame(iters)


@given(sweep(), st.integers(1, 6))
@SETTINGS
def test_sweep_answers_read_right(frames, window):
    summary, epochs, iters = frames
    text = answers.sweep_trends(summary, epochs, iters, window)
    for value in text.values():
        assert_readable(value)
    means = summary.groupby("lr")["final_test_acc"].mean()
    if means.notna().any():
        named = float(re.match(r"lr ([0-9.e-]+)", text["PoneBestSentence"]).group(1))
        assert means[named] == means.max(), "the rate named best does not have the highest mean accuracy"
    if summary["seed"].nunique() < 2:
        assert "no ranking is claimed" in text["PoneBestSentence"]
    for lr in summary["lr"].unique():
        trend = words.mean_loss_trend(iters[iters["lr"] == lr], window)
        check_loss_sentence(trend.sentence(), trend)


def check_loss_sentence(sentence: str, trend: words.LossTrend) -> None:
    """A loss sentence's words and numbers agree with the smoothed curve they come from."""
    assert_readable(sentence)
    moved = re.search(r"loss (falls|rises)(?: slightly)? from ([0-9.]+) to ([0-9.]+)", sentence)
    if moved:
        word, a, b = moved.group(1), float(moved.group(2)), float(moved.group(3))
        assert (a > b) if word == "falls" else (a < b), sentence
        assert abs(a - trend.start) < 0.006 and abs(b - trend.end) < 0.006, sentence
    if "stays near" in sentence:
        assert abs(trend.end - trend.start) <= words.LOSS_FLAT_RATIO * abs(trend.start) + 0.006, sentence
    if "spikes to" in sentence:
        assert trend.peak > words.SPIKE_FACTOR * trend.end, sentence


@st.composite
def schedule(draw):
    """Epoch and iteration frames of one scheduler over n seeds; step schedules drop the rate 0-2 times."""
    n_seeds, n_epochs = draw(st.integers(1, 5)), draw(st.integers(1, 6))
    drops = sorted(draw(st.sets(st.integers(1, max(1, n_epochs - 1)), max_size=2))) if n_epochs > 1 else []
    epochs, iters = [], []
    for seed in range(n_seeds):
        lr = 0.1
        for epoch in range(1, n_epochs + 1):
            row = {"run": f"s{seed}", "epoch": epoch, "epoch_lr": lr, "test_acc": draw(ACCS)}
            row["train_loss"] = draw(st.sampled_from([2.3, 2.0, 1.5, 1.5, float("nan")]))
            epochs.append(row)
            if epoch in drops:
                lr /= 10
        losses = np.linspace(draw(st.sampled_from([2.35, 2.3])), draw(st.sampled_from([2.3, 2.2, 1.0])), 4 * n_epochs)
        for i, loss in enumerate(losses):
            iters.append({"run": f"s{seed}", "iteration": i + 1, "epoch_float": i / 4, "loss": loss})
    return pd.DataFrame(epochs), pd.DataFrame(iters)


@given(schedule(), st.booleans(), st.integers(1, 6))
@SETTINGS
def test_scheduler_answers_read_right(frames, step, window):
    epochs, iters = frames
    text = answers.scheduler_trend(epochs, iters, window, step)
    assert_readable(text)
    trend = words.mean_loss_trend(iters, window)
    loss_clause = text.split("; ")[-1]
    if loss_clause.startswith("loss ") and " rate drop" not in loss_clause:
        check_loss_sentence(loss_clause, trend)
    drops = [d for d in words.lr_drops(epochs) if d < words.mean_curve(epochs).index.max()]
    changes = [words.change_across(words.mean_curve(epochs, "train_loss"), d) for d in drops]
    changes = [c for c in changes if not math.isnan(c)]
    if "loss falls at the rate drop" in text:
        assert changes == [c for c in changes if c < 0] and len(changes) == 1
    if "loss does not fall at the rate drop" in text:
        assert len(changes) == 1 and changes[0] >= 0
    if "loss falls at each of" in text:
        assert all(c < 0 for c in changes)
    if "loss falls at none of" in text:
        assert all(c >= 0 for c in changes)


@given(st.integers(1, 5), st.integers(1, 5), ACCS, ACCS)
@SETTINGS
def test_comparisons_read_right(n_a, n_b, a, b):
    summary = pd.DataFrame(
        {
            "scheduler": ["multistep"] * n_a + ["cosine_annealing"] * n_b,
            "seed": list(range(n_a)) + list(range(n_b)),
            "final_test_acc": [a + 0.1 * k for k in range(n_a)] + [b + 0.1 * k for k in range(n_b)],
            "total_time_s": [1.0 + k for k in range(n_a + n_b)],
            "variant": ["net_freeze"] * n_a + ["pt_net"] * n_b,
        }
    )
    assert_readable(answers.scheduler_comparison(summary))
    assert_readable(answers.run_times(summary))
    for word in ("higher", "lower", "within noise", "untested"):
        assert_readable(answers.versus(word, "fp32", "model"))
        assert_readable(_versus(word, "pt_net", summary, "net_freeze"))


@st.composite
def pruning(draw):
    """Per-epoch accuracies of one pruning mode over n seeds, with one event or several (any epoch, the first
    included, so that some events have no epoch before them)."""
    n_seeds, n_epochs = draw(st.integers(1, 5)), draw(st.integers(1, 6))
    events = draw(st.sets(st.integers(1, n_epochs), min_size=1, max_size=n_epochs))
    rows = []
    for seed in range(n_seeds):
        for epoch in range(1, n_epochs + 1):
            rows.append(
                {"run": f"s{seed}", "epoch": epoch, "test_acc": draw(ACCS), "prune_event": str(epoch in events)}
            )
    return pd.DataFrame(rows)


@given(pruning())
@SETTINGS
def test_pruning_answers_read_right(epochs):
    text = answers.pruning_events(epochs)
    for value in text.values():
        assert_readable(value)
    acc = words.mean_curve(epochs)
    events = sorted(int(e) for e in epochs.loc[epochs["prune_event"] == "True", "epoch"].unique())
    dips = [float(acc[e] - acc[e - 1]) for e in events if e - 1 in acc.index and e in acc.index]
    dips = [d for d in dips if not math.isnan(d)]
    lowered = sum(d <= -words.FLAT_POINTS for d in dips)
    sentence = text["events"]
    counted = re.search(r"\b(\d+) of the (\d+) events", sentence)
    if counted:
        assert (int(counted.group(1)), int(counted.group(2))) == (lowered, len(dips)), sentence
    if sentence.startswith("each of the"):
        assert lowered == len(dips) > 1, sentence
    if sentence.startswith("none of the"):
        assert lowered == 0 and len(dips) > 1, sentence
    if " did not lower " in sentence:
        assert len(dips) == 1 and lowered == 0, sentence
    elif " lowered test accuracy" in sentence and len(dips) == 1:
        assert lowered == 1, sentence


@given(
    st.lists(st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.9]), min_size=1, max_size=5, unique=True),
    st.data(),
)
@SETTINGS
def test_oneshot_sentence_reads_right(levels, data):
    rows = []
    for mode in ("structured", "unstructured"):
        for level in [0.0, *levels]:
            for seed in range(data.draw(st.integers(1, 3))):
                acc = 80.0 if level == 0 else data.draw(ACCS)
                rows.append({"mode": mode, "target_sparsity": level, "seed": seed, "test_acc": acc})
    oneshot = pd.DataFrame(rows)
    sentence = oneshot_safe_sentence(oneshot)
    assert_readable(sentence)
    dense = oneshot.loc[oneshot["target_sparsity"] == 0, "test_acc"].mean()
    for mode, name in (("structured", "structured"), ("unstructured", "unstructured")):
        means = oneshot[(oneshot["mode"] == mode) & (oneshot["target_sparsity"] > 0)]
        means = means.groupby("target_sparsity")["test_acc"].mean().dropna()
        already = re.search(rf"\b{name} one-shot pruning loses more than 1 point already at ([0-9]+)", sentence)
        if already:
            level = float(already.group(1)) / 100
            assert level == means.index.min() and means[level] < dense - 1, sentence
        upto = re.search(
            rf"\b{name} one-shot pruning stays within 1 point of it (?:at every level tested, )?up to "
            r"([0-9]+)",
            sentence,
        )
        if upto:
            level = float(upto.group(1)) / 100
            assert (means[means.index <= level] >= dense - 1).all(), sentence
