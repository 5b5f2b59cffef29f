"""The written answers' sentences, built from trend words (effdl.report.words) and tests (effdl.report.stats).

Each function returns TeX text whose every comparison or trend word is computed from the CSV frames it gets;
what the data cannot support (a plateau in two epochs, a ranking from one seed) is left out or said so, and no
count is printed in a form a reader would stumble on ("1 of 1 drop", "up to 0 %"): each count has its own words.
"""

from __future__ import annotations

import pandas as pd

from effdl.report import words
from effdl.report.names import display
from effdl.report.results import TIME_RANGE, format_values
from effdl.report.stats import compare, ranked_best, relation, t_interval
from effdl.report.texgen import escape


def lr_label(lr: float) -> str:
    return f"{float(lr):g}"


def _accuracy_phrase(curve: pd.Series, num_classes: int = 10) -> str:
    """'accuracy rises from 15.2 to 40.1\\%' / 'accuracy ends at chance level (10.0\\%)'."""
    if curve.empty:
        return "accuracy has no finite value"
    first, last = float(curve.iloc[0]), float(curve.iloc[-1])
    if words.at_chance(last, num_classes):
        return f"accuracy ends at chance level ({last:.1f}\\%)"
    if len(curve) == 1:
        return f"accuracy ends at {last:.1f}\\%"
    direction = words.change_word(last - first, up="rises", down="falls", same="stays near")
    if direction != "rises" and direction != "falls":
        return f"accuracy stays near {last:.1f}\\%"
    return f"accuracy {direction} from {first:.1f} to {last:.1f}\\%"


def sweep_trends(summary: pd.DataFrame, epochs: pd.DataFrame, iters: pd.DataFrame, window: int) -> dict[str, str]:
    """1.1.4: per learning rate, the loss trend (spikes, level reached) and the accuracy trend; the best rate
    (claimed only when it beats every other rate in a Welch t-test), and why, matched to which rate won."""
    lrs = sorted(summary["lr"].unique())
    trends, loss = [], {}
    for lr in lrs:
        loss[lr] = words.mean_loss_trend(iters[iters["lr"] == lr], window)
        acc = words.mean_curve(epochs[epochs["lr"] == lr])
        text = f"lr {lr_label(lr)}: {loss[lr].sentence()}; {_accuracy_phrase(acc)}"
        diverged = int(summary.loc[summary["lr"] == lr, "diverged"].astype(bool).sum())
        if diverged:
            text += f" ({diverged} of {words.count(int((summary['lr'] == lr).sum()), 'run')} diverged)"
        trends.append(text)
    groups = {lr: summary.loc[summary["lr"] == lr, "final_test_acc"].tolist() for lr in lrs}
    best, clear = ranked_best(groups)
    others = [lr for lr in lrs if lr != best]
    n = int(summary["seed"].nunique())
    by_word: dict[str, list[str]] = {}
    for lr in others:
        by_word.setdefault(compare(groups[best], groups[lr]).word, []).append(f"lr {lr_label(lr)}")
    against = "; ".join(versus(word, words.join_words(rates)) for word, rates in by_word.items())
    if n < 2:
        best_sentence = f"lr {lr_label(best)} reached the highest accuracy, but with one seed no ranking is claimed."
    elif clear:
        best_sentence = f"lr {lr_label(best)} worked best ({against}; Welch t-test, n = {n} seeds)."
    else:
        best_sentence = (
            f"lr {lr_label(best)} reached the highest mean accuracy ({against}; Welch t-test, "
            f"n = {n} seeds), so no rate is clearly best."
        )
    return {
        "PoneSweepTrends": "; ".join(trends),
        "PoneBestSentence": best_sentence,
        "PoneSweepWhy": _why(best, lrs, loss),
    }


def _why(best: float, lrs: list, loss: dict) -> str:
    """The explanation, matched to the data: which side of the winner lost, and how its loss behaved."""
    smaller, larger = [lr for lr in lrs if lr < best], [lr for lr in lrs if lr > best]
    parts = []
    if smaller:
        parts.append("smaller rates move the weights too little per step within the epochs available")
    if larger:
        top = loss[max(larger)]
        if top.nonfinite:
            how = " (its loss diverges)"
        elif top.spike:
            how = " (its loss spikes)"
        elif top.direction == "falls slightly":
            how = " (its loss falls only slightly)"
        elif top.direction != "falls":
            how = " (its loss stays high)"
        else:
            how = ""
        parts.append(f"the largest rate overshoots along steep directions{how}")
    if not parts:
        return ""
    return "Plausibly, " + " and ".join(parts) + "."


def _drop_phrase(changes: list[float], drops: list[int]) -> str:
    """'jumps by 5.2 points after epoch 25' / 'changes by +5.2, +0.3 and -0.1 points after epochs 25, 50 and 75'."""
    valid = [(e, c) for e, c in zip(drops, changes) if pd.notna(c)]
    if not valid:
        return ""
    if len(valid) == 1:
        epoch, change = valid[0]
        word = words.change_word(change, up="jumps", down="drops", same="barely changes")
        amount = f" by {abs(change):.1f} points" if word != "barely changes" else ""
        return f"{word}{amount} {words.epochs_phrase([epoch])}"
    listed = words.join_words([f"${c:+.1f}$" for _, c in valid])
    return f"changes by {listed} points {words.epochs_phrase([e for e, _ in valid])}"


def scheduler_trend(epochs: pd.DataFrame, iters: pd.DataFrame, window: int, step_schedule: bool) -> str:
    """1.2.3 for one scheduler: accuracy shape (plateau before the first drop, jumps at drops, steadiness,
    where it gains most) and the loss (drops at milestones, level reached)."""
    acc = words.mean_curve(epochs)
    drops = [d for d in words.lr_drops(epochs) if d < acc.index.max()]
    clauses = []
    if step_schedule and drops:
        plateau = words.plateau_before(acc, drops[0])
        lead = {
            True: "plateaus before the first rate drop, then ",
            False: "still rises at the first rate drop, then ",
            None: "",
        }[plateau]
        jumps = _drop_phrase([words.change_across(acc, d) for d in drops], drops)
        clauses.append(f"accuracy {lead}{jumps}" if jumps else f"accuracy {words.steadiness(acc)}")
        loss_curve = words.mean_curve(epochs, "train_loss")
        changes = [words.change_across(loss_curve, d) for d in drops]
        loss = words.mean_loss_trend(iters, window)
        clauses.append(_loss_at_drops([c for c in changes if pd.notna(c)], loss))
    else:
        text = f"accuracy {words.steadiness(acc)}"
        quarter = words.largest_gain_quarter(acc)
        if quarter is not None:
            text += f", gaining most in the {['first', 'second', 'third', 'last'][quarter - 1]} quarter"
        clauses.append(text)
        clauses.append(words.mean_loss_trend(iters, window).sentence())
    return "; ".join(clauses)


def _loss_at_drops(changes: list[float], loss: words.LossTrend) -> str:
    """'loss falls at the rate drop' / 'at every rate drop' / 'at 2 of the 3 rate drops', then where it ends."""
    end = "" if loss.nonfinite else f", ending at {loss.end:.2f}"
    if not changes:
        return loss.sentence()
    falls = sum(c < 0 for c in changes)
    if len(changes) == 1:
        return ("loss falls at the rate drop" if falls else "loss does not fall at the rate drop") + end
    if falls == len(changes):
        return f"loss falls at each of the {len(changes)} rate drops{end}"
    if falls == 0:
        return f"loss falls at none of the {len(changes)} rate drops{end}"
    return f"loss falls at {falls} of the {len(changes)} rate drops{end}"


def versus(word: str, other: str, unit: str = "seed") -> str:
    """A comparison word before its reference: 'higher than X', 'within noise of X'; with one `unit` on a side
    no test is possible: 'untested against X (fewer than two seeds)'."""
    if word == "untested":
        return f"untested against {other} (fewer than two {unit}s)"
    return f"{relation(word)} {other}"


def scheduler_comparison(summary: pd.DataFrame, a: str = "multistep", b: str = "cosine_annealing") -> str:
    """'MultiStep ends higher than cosine annealing' or, with one seed on a side, the two accuracies and no verdict."""
    x = summary.loc[summary["scheduler"] == a, "final_test_acc"]
    y = summary.loc[summary["scheduler"] == b, "final_test_acc"]
    result = compare(x, y)
    if result.word == "untested":
        # short: the 1.2.3 answer around it must stay within its 50 words
        return f"{display(a)} ends at {_mean_text(x)} and {display(b)} at {_mean_text(y)} (one seed: untested)"
    return f"{display(a)} ends {relation(result.word)} {display(b)}"


def _mean_text(values: pd.Series) -> str:
    finite = pd.to_numeric(values, errors="coerce").replace([float("inf"), -float("inf")], float("nan")).dropna()
    return f"{finite.mean():.1f}\\%" if len(finite) else "an unmeasured accuracy"


def run_times(summary: pd.DataFrame, by: str = "scheduler") -> str:
    """1.2.4: per setting the per-seed times and their mean ± 95% t-interval (effdl.report.results.format_result,
    as Part 1's table prints them); runs slower than twice the median are noise."""
    times = summary["total_time_s"].astype(float)
    slow = words.slow_runs(times)
    parts = []
    for key, group in summary.sort_values("seed").groupby(by, sort=True):
        per_seed = ", ".join(f"{t:.1f}{'*' if slow[i] else ''}" for i, t in group["total_time_s"].items())
        mean = format_values(group["total_time_s"].astype(float), 1, bounds=TIME_RANGE, unit="s")
        parts.append(f"{escape(display(key))} {mean} (seeds: {per_seed})")
    text = "; ".join(parts) + "."
    if slow.any():
        text += f" Starred: over twice the median ({times.median():.1f}\\,s), machine noise, not the scheduler."
    return text


def matching_epoch_comparison(sanity: pd.DataFrame, reference: pd.DataFrame) -> tuple[int, str, str, str]:
    """3.2: the epoch both runs reached, the two accuracies there (mean over seeds) and the Welch verdict as a
    clause ('SparseConvNet's accuracy is higher than ConvNet's')."""
    epoch = int(min(sanity["epoch"].max(), reference["epoch"].max()))
    a = sanity.loc[sanity["epoch"] == epoch, "test_acc"]
    b = reference.loc[reference["epoch"] == epoch, "test_acc"]
    word = compare(a, b).word
    if word == "untested":
        clause = "with fewer than two seeds on a side the two accuracies are not tested against each other"
    else:
        clause = f"SparseConvNet's accuracy is {relation(word)} ConvNet's"
    return epoch, f"{t_interval(a).mean:.2f}", f"{t_interval(b).mean:.2f}", clause


def pruning_events(epochs: pd.DataFrame) -> dict[str, str]:
    """3.3.4 for one mode: how many events lowered accuracy at once, what the next epoch did, how it ends."""
    acc = words.mean_curve(epochs)
    events = sorted(int(e) for e in epochs.loc[epochs["prune_event"].astype(str) == "True", "epoch"].unique())
    dips = [(e, float(acc[e] - acc[e - 1])) for e in events if e - 1 in acc.index and e in acc.index]
    after = [(e, words.change_across(acc, e)) for e in events if e + 1 not in events]  # next epoch prunes nothing
    after = [(e, c) for e, c in after if pd.notna(c)]
    dips = [(e, d) for e, d in dips if pd.notna(d)]
    event_text = _events_text(dips, len(events))
    if after:
        mean_after = sum(c for _, c in after) / len(after)
        word = words.change_word(mean_after, up="recovered", down="kept falling", same="barely changed")
        next_text = f"the epoch after an event {word} (mean change ${mean_after:+.1f}$ points)"
    else:
        next_text = "no event is followed by an epoch without pruning, so recovery is not measured"
    ending = words.ending_phrase(acc) if len(acc) and pd.notna(acc.iloc[-1]) else "ends unmeasured"
    return {"events": event_text, "next": next_text, "ending": ending}


def _events_text(dips: list[tuple[int, float]], n_events: int) -> str:
    """How many pruning events lowered test accuracy at once (by FLAT_POINTS or more), worded for the count."""
    flat = f"{words.FLAT_POINTS:g} {'point' if words.FLAT_POINTS == 1 else 'points'}"
    if not dips:
        return "no pruning event has a measured epoch before it to compare with"
    lowered = sum(d <= -words.FLAT_POINTS for _, d in dips)
    if len(dips) == 1:
        epoch, change = dips[0]
        verb = "lowered" if lowered else "did not lower"
        which = "the pruning event" if n_events == 1 else f"the event after epoch {epoch}"
        return f"{which} {verb} test accuracy at once by {flat} or more (a change of ${change:+.1f}$ points)"
    low, high = min(d for _, d in dips), max(d for _, d in dips)
    spread = f"changes from ${low:+.1f}$ to ${high:+.1f}$ points"
    if lowered == len(dips):
        share = f"each of the {len(dips)} events"
    elif lowered == 0:
        share = f"none of the {len(dips)} events"
    else:
        share = f"{lowered} of the {len(dips)} events"
    if len(dips) < n_events:
        share += " measured against the epoch before"
    return f"{share} lowered test accuracy at once by {flat} or more ({spread})"


PRECISION_NAMES = {"bf16": "bf16 autocast", "fp32": "fp32", "fp16": "fp16 autocast"}


def precision_text(frame: pd.DataFrame) -> str:
    """The training precision(s) of a frame's runs, as the reader names them ('bf16 autocast', 'fp32')."""
    if "precision" not in frame:
        return "an unrecorded precision"
    values = sorted(frame["precision"].dropna().astype(str).unique())
    return words.join_words([PRECISION_NAMES.get(v, v) for v in values]) or "an unrecorded precision"
