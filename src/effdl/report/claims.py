"""The problem set's expectations and the study's own hypotheses checked against this run's CSVs (torch-free).

Each claim function takes the run's tables (pandas DataFrames, None when a part did not run) and returns a
Claim; `check_claims` then decides every verdict at once, with the Holm correction over the table's tests:
  * the unit of every test is the trained model: repeated trials of one model (stochastic rounding) are
    averaged first, and their spread is reported separately as a labelled sd;
  * "A differs from / exceeds B" claims hold when a t-test (Welch, or paired on the model) rejects "no
    difference" in the claimed direction, and do not hold when the opposite direction is significant;
  * "A is about B" claims are two one-sided tests (TOST) against a margin fixed in the configuration
    (claims.equivalence_margin_points): they hold when the 90 % CI of the difference lies inside +/- margin,
    do not hold when it lies outside, and are inconclusive otherwise;
  * every p-value of the table's tests is Holm-adjusted over the table (one family for "holds", one for
    "does not hold"); a test whose adjusted p-values decide neither way is "inconclusive";
  * exact counts (bytes, parameters) and measured times are checked against their stated factor, outside
    the tests and the correction.
A claim is UNTESTABLE when this run cannot speak to it: fewer than two trained models, a reference model that
did not learn (accuracy below MIN_LEARNED_ACC), or settings unlike the ones the claim is about.
Each claim says where its expectation comes from: the problem set (its words quoted), the course notebook,
or this study's own hypothesis.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import pandas as pd

from effdl.report.claims_table import (  # noqa: F401 (the TeX writer's names, where tex_claims imports them)
    CLAIMS_CAPTION,
    CLAIMS_COLUMNS,
    PROVENANCE_LABELS,
    claims_latex_table,
    claims_longtable,
    claims_macros,
)
from effdl.report.stats import compare_units, difference, tost, unit_means
from effdl.report.verdicts import (  # noqa: F401 (re-exported: callers read verdicts and helpers from here)
    ALPHA,
    COUNT,
    EQUIVALENCE_MARGIN,
    FAILS,
    HOLDS,
    HYPOTHESIS,
    INCONCLUSIVE,
    MIN_LEARNED_ACC,
    NONE,
    NOTEBOOK,
    PROBLEM_SET,
    PROVENANCES,
    TEST,
    UNTESTABLE,
    VERDICTS,
    Claim,
    _counted,
    _directional,
    _not_learned,
    _tested,
    _too_few,
    _untestable,
    _values,
    decide,
    effect_text,
    p_text,
    pm,
)

SEED_FULL_TRAIN_IMAGES = 50_000  # CIFAR-10's training split, what the problem set trains on
SEED_FULL_EPOCHS = 100  # Part 1.2's epochs
NOTEBOOK_EPOCH_S = 15.0  # "about 15 s per epoch" on a Colab GPU
FACTOR_TOLERANCE = 0.05  # relative tolerance of "a factor of N" claims on exact counts


# ---------------------------------------------------------------------------------------------
# The claims (one function each; `t` maps table names to DataFrames or None)


def _acc_by(frame: pd.DataFrame, column: str, value) -> pd.Series:
    return frame.loc[
        np.isclose(frame[column], value) if frame[column].dtype.kind in "fi" else frame[column] == value,
        "final_test_acc",
    ]


def lr_sweep_best(t) -> Claim:
    part, exp, prov = "1.1", "Among lr 1e-4 / 0.1 / 1.0 (5 epochs), lr 0.1 ends highest", HYPOTHESIS
    src = "the problem set asks “Which learning rate seemed to work best?”; 0.1 is our expectation"
    test = "Welch t-test, one-sided, vs the next best lr"
    sweep = t.get("sweep")
    if sweep is None or sweep.empty:
        return _untestable(part, exp, prov, src, "", test, "Part 1.1 did not run")
    means = sweep.groupby("lr")["final_test_acc"].mean().sort_values(ascending=False)
    if not any(np.isclose(means.index, 0.1)):
        return _untestable(part, exp, prov, src, "", test, "lr 0.1 is not in the sweep")
    best = _acc_by(sweep, "lr", 0.1)
    others = [lr for lr in means.index if not np.isclose(lr, 0.1)]
    runner = others[0] if others else None
    rival = _acc_by(sweep, "lr", runner) if runner is not None else pd.Series(dtype=float)
    measured = f"lr 0.1: {pm(best)}; next best lr {runner:g}: {pm(rival)}" if runner is not None else pm(best)
    reason = _too_few(best, rival) or _not_learned(best, "lr 0.1")
    if reason:
        return _untestable(part, exp, prov, src, measured, test, reason)
    d = difference(best, rival)
    return _tested(part, exp, prov, src, measured, d, test, *_directional(d, 0.0, "greater"))


def _margin_text(margin: float) -> str:
    return f"TOST, margin ± {margin:g} point{'' if margin == 1 else 's'}"


def schedulers_equal(t, margin: float = EQUIVALENCE_MARGIN) -> Claim:
    part, exp, prov = "1.2", "MultiStep and cosine annealing end within the margin of each other", HYPOTHESIS
    src = "the problem set only asks to “Describe the trends”; equality is our expectation"
    test = _margin_text(margin) + ", Welch"
    sched = t.get("sched")
    if sched is None or not {"multistep", "cosine_annealing"} <= set(sched["scheduler"]):
        return _untestable(part, exp, prov, src, "", test, "Part 1.2 did not run both schedulers")
    multi, cos = _acc_by(sched, "scheduler", "multistep"), _acc_by(sched, "scheduler", "cosine_annealing")
    epochs = int(sched["epochs_planned"].max())
    measured = f"MultiStep {pm(multi)}, cosine {pm(cos)} after {epochs} epochs"
    if epochs < SEED_FULL_EPOCHS:
        reason = (
            f"at {epochs} instead of {SEED_FULL_EPOCHS} epochs the scaled milestones leave MultiStep flat "
            "for its last epochs: where the two end says nothing of the full schedule"
        )
        return _untestable(part, exp, prov, src, measured, test, reason)
    reason = _too_few(multi, cos) or _not_learned(multi, "MultiStep")
    if reason:
        return _untestable(part, exp, prov, src, measured, test, reason)
    e = tost(multi, cos, margin)
    return _tested(part, exp, prov, src, measured, e.difference, test, e.p_equivalent, e.p_beyond)


def convnet_90(t) -> Claim:
    part, prov = "1.2", NOTEBOOK
    src = "notebook, ConvNet docstring: over 90 % CIFAR-10 test accuracy"
    exp = "The ConvNet passes 90 % test accuracy at the problem set's full settings"
    test = "one-sample t-test, one-sided, vs 90 %"
    sched = t.get("sched")
    if sched is None or sched.empty or "multistep" not in set(sched["scheduler"]):
        return _untestable(part, exp, prov, src, "", test, "Part 1.2 MultiStep did not run")
    multi = sched[sched["scheduler"] == "multistep"]
    acc = multi["final_test_acc"]
    epochs, n_train = int(multi["epochs_planned"].max()), int(multi["n_train"].max())
    measured = f"MultiStep {pm(acc)} after {epochs} epochs on {n_train:,} images"
    if epochs < SEED_FULL_EPOCHS or n_train < SEED_FULL_TRAIN_IMAGES:
        reason = f"the problem set's settings are {SEED_FULL_EPOCHS} epochs on {SEED_FULL_TRAIN_IMAGES:,} images"
        return _untestable(part, exp, prov, src, measured, test, reason)
    reason = _too_few(acc)
    if reason:
        return _untestable(part, exp, prov, src, measured, test, reason)
    d = difference(_values(acc) - 90.0)
    return _tested(part, exp, prov, src, measured, d, test, *_directional(d, 0.0, "greater"))


def epoch_time(t) -> Claim:
    part, exp, prov = "1.2", "About 15 s per epoch (100 epochs in 25-30 min) on a Colab GPU", NOTEBOOK
    src = "notebook, Code Cell 1.4: about 15 s per epoch on a Colab GPU"
    test = "measured time, not a test: median epoch time scaled to 50,000 images, holds if ≤ 2 × 15 s"
    epochs, sched = t.get("sched_epochs"), t.get("sched")
    if epochs is None or sched is None or epochs.empty:
        return _untestable(part, exp, prov, src, "", test, "Part 1.2 did not run")
    trained = epochs[epochs["epoch"] >= 1]
    n_train = int(sched["n_train"].max())
    median = float(trained["epoch_time_s"].median())
    projected = median * SEED_FULL_TRAIN_IMAGES / n_train
    devices = sorted(set(sched["device"].astype(str)))
    measured = f"median epoch {median:.1f} s on {n_train:,} images ({', '.join(devices)})"
    effect = f"{projected:.0f} s projected to 50,000 images"
    if not any(d.startswith("cuda") for d in devices):
        return _untestable(part, exp, prov, src, measured, test, "no GPU in this run; the figure is for a Colab GPU")
    return _counted(part, exp, prov, src, measured, effect, test, projected <= 2 * NOTEBOOK_EPOCH_S)


def _ptq(t, rounding: str, bits: int | None, granularity: str = "tensor", net: str = "mnist_mlp") -> pd.DataFrame:
    rows = t.get("quant_rows")
    if rows is None or rows.empty:
        return pd.DataFrame(columns=["checkpoint", "test_acc", "trial", "fp32_bytes", "uint8_bytes"])
    sel = (rows["net"] == net) & (rows["rounding"] == rounding)
    if rounding != "fp32":
        sel &= (rows["bits"] == bits) & (rows["granularity"] == granularity)
    return rows[sel]


def per_model(rows: pd.DataFrame) -> dict:
    """{checkpoint: test accuracy}, trials of one trained model averaged: the unit of every Part 2 test."""
    return unit_means(rows["test_acc"], rows["checkpoint"])


def _paired_loss(t, rounding: str, bits: int) -> tuple[dict, dict, np.ndarray]:
    """fp32 and quantized accuracy per trained model, and the per-model accuracy loss fp32 - quantized (points)."""
    fp32, quant = per_model(_ptq(t, "fp32", None)), per_model(_ptq(t, rounding, bits))
    common = sorted(set(fp32) & set(quant))
    return fp32, quant, np.asarray([fp32[c] - quant[c] for c in common], dtype=float)


def memory_4x(t) -> Claim:
    part, exp, prov = "2.1", "8-bit quantization gives a 4× reduction in memory", PROBLEM_SET
    src = "2.1.3: “achieves a 4x reduction in memory”"
    test = f"exact byte count, holds within {FACTOR_TOLERANCE:.0%} of 4×"
    q8 = _ptq(t, "nearest", 8)
    if q8.empty:
        return _untestable(part, exp, prov, src, "", test, "Part 2 did not run")
    ratio = float((q8["fp32_bytes"] / q8["uint8_bytes"]).mean())
    measured = (
        f"MNIST MLP: {int(q8['fp32_bytes'].iloc[0]):,} B fp32 vs {int(q8['uint8_bytes'].iloc[0]):,} B "
        "uint8 codes + shifts/scales"
    )
    return _counted(part, exp, prov, src, measured, f"{ratio:.3f}×", test, abs(ratio - 4) <= 4 * FACTOR_TOLERANCE)


def ptq_8bit(t, margin: float = EQUIVALENCE_MARGIN) -> Claim:
    part, exp, prov = "2.2", "8-bit PTQ is within the margin of fp32", HYPOTHESIS
    src = "2.2.2 asks for “the drop/increase in accuracy”; no change is our expectation"
    test = _margin_text(margin) + ", paired on the trained model"
    fp32, quant, loss = _paired_loss(t, "nearest", 8)
    measured = f"fp32 {pm(list(fp32.values()))}, 8-bit {pm(list(quant.values()))}"
    reason = _too_few(loss) or _not_learned(list(fp32.values()), "the fp32 MLP")
    if reason:
        return _untestable(part, exp, prov, src, measured, test, reason)
    e = tost(-loss, None, margin)
    return _tested(part, exp, prov, src, measured, e.difference, test, e.p_equivalent, e.p_beyond)


def _loss_bound(t, bits: int, bound: float, side: str, exp: str, src: str) -> Claim:
    test = f"paired t-test of the per-model loss vs {bound:g} points, one-sided"
    fp32, quant, loss = _paired_loss(t, "nearest", bits)
    measured = f"{bits}-bit {pm(list(quant.values()))}, loss {pm(loss, bounds=(-100.0, 100.0), unit=' points')}"
    reason = _too_few(loss) or _not_learned(list(fp32.values()), "the fp32 MLP")
    if reason:
        return _untestable("2.2", exp, HYPOTHESIS, src, measured, test, reason)
    d = difference(loss)
    return _tested("2.2", exp, HYPOTHESIS, src, measured, d, test, *_directional(d, bound, side))


def ptq_4bit(t) -> Claim:
    src = "2.2.3 asks for the accuracy and its drop; the 2-point bound is our estimate"
    return _loss_bound(t, 4, 2.0, "less", "4-bit PTQ loses under 2 points", src)


def ptq_2bit(t) -> Claim:
    src = "2.2.4 asks for the accuracy and its drop; the 10-point bound is our estimate"
    return _loss_bound(t, 2, 10.0, "greater", "2-bit nearest PTQ loses more than 10 points", src)


def stochastic_vs_nearest(rows: pd.DataFrame | None, bits: int = 2, net: str = "mnist_mlp"):
    """stats.compare_units of stochastic vs nearest accuracy, one value per trained model (its trials averaged):
    the single computation behind Part 2.3's claim and its answer."""
    t = {"quant_rows": rows}
    return compare_units(per_model(_ptq(t, "stochastic", bits, net=net)), per_model(_ptq(t, "nearest", bits, net=net)))


def stochastic_2bit(t, margin: float = EQUIVALENCE_MARGIN) -> Claim:
    part, exp, prov = "2.3", "Stochastic 2-bit differs from nearest 2-bit", HYPOTHESIS
    src = "2.3 asks for “the drop/increase in accuracy”; a difference is our expectation"
    test = "paired t-test over trained models (trials averaged per model), two-sided; TOST against the margin"
    near, sto = _ptq(t, "nearest", 2), _ptq(t, "stochastic", 2)
    sto_models, near_models = per_model(sto), per_model(near)
    common = sorted(set(sto_models) & set(near_models))
    diff = np.asarray([sto_models[c] - near_models[c] for c in common], dtype=float)
    trial_sd = sto.groupby("checkpoint")["test_acc"].std().mean() if len(sto) else float("nan")
    measured = (
        f"stochastic {pm(list(sto_models.values()))} (trials within a model: sd {trial_sd:.2f}), "
        f"nearest {pm(list(near_models.values()))}"
    )
    reason = _too_few(diff) or _not_learned(list(per_model(_ptq(t, "fp32", None)).values()), "the fp32 MLP")
    if reason:
        return _untestable(part, exp, prov, src, measured, test, reason)
    result = stochastic_vs_nearest(t.get("quant_rows"))
    e = tost(diff, None, margin)
    return _tested(part, exp, prov, src, measured, e.difference, test, result.p, e.p_equivalent)


def sparse_sanity(t, margin: float = EQUIVALENCE_MARGIN) -> Claim:
    part, prov = "3.2", PROBLEM_SET
    src = "3.2.1: “Confirm that this performance is approximately equal to what you observed in Part 1.1”"
    exp = "The unpruned SparseConvNet is approximately equal to Part 1.1's ConvNet (lr 0.1)"
    test = _margin_text(margin) + ", Welch"
    sanity, sweep = t.get("sanity"), t.get("sweep")
    if sanity is None or sweep is None or sanity.empty:
        return _untestable(part, exp, prov, src, "", test, "Part 3.2 or Part 1.1 did not run")
    sparse = sanity["final_test_acc"]
    lr = float(sanity["lr"].iloc[0])
    dense = _acc_by(sweep, "lr", lr)
    measured = f"SparseConvNet {pm(sparse)}, ConvNet {pm(dense)} (lr {lr:g})"
    reason = _too_few(sparse, dense) or _not_learned(dense, "the ConvNet")
    if reason:
        return _untestable(part, exp, prov, src, measured, test, reason)
    e = tost(sparse, dense, margin)
    return _tested(part, exp, prov, src, measured, e.difference, test, e.p_equivalent, e.p_beyond)


def _by_seed(frame: pd.DataFrame, column: str, value) -> dict:
    rows = frame[frame[column] == value]
    return dict(zip(rows["seed"], rows["final_test_acc"])) if "seed" in rows else {}


def pruning_modes(pruning: pd.DataFrame) -> tuple[list[float], list[float], bool]:
    """(structured, unstructured) final accuracies and whether they pair on the seed: the same seed gives both
    modes the same initial weights and batches, so when every seed has both the runs pair (in seed order). The
    one place that decides how 3.4's comparison is made; the claim and the Part 3 answer both call it."""
    s_seed, u_seed = _by_seed(pruning, "mode", "structured"), _by_seed(pruning, "mode", "unstructured")
    n_s, n_u = int((pruning["mode"] == "structured").sum()), int((pruning["mode"] == "unstructured").sum())
    if s_seed and set(s_seed) == set(u_seed) and len(s_seed) == n_s == n_u:
        seeds = sorted(s_seed)
        return [s_seed[k] for k in seeds], [u_seed[k] for k in seeds], True
    return (
        _acc_by(pruning, "mode", "structured").tolist(),
        _acc_by(pruning, "mode", "unstructured").tolist(),
        False,
    )


def structured_vs_unstructured(t) -> Claim:
    part, exp, prov = "3.4", "50 % structured pruning costs more accuracy than 50 % unstructured", HYPOTHESIS
    src = "3.4.5 asks to “Describe any observations”; a larger cost is our expectation"
    pruning = t.get("pruning")
    if pruning is None or not {"structured", "unstructured"} <= set(pruning["mode"]):
        return _untestable(part, exp, prov, src, "", "t-test, one-sided", "Parts 3.3/3.4 did not run")
    s, u, paired = pruning_modes(pruning)
    test = "paired t-test over seeds (same initial weights), one-sided" if paired else "Welch t-test, one-sided"
    measured = f"structured {pm(s)}, unstructured {pm(u)}"
    if paired:  # the unit is the seed's pair of trained models: show each pair's difference
        measured += "; per seed " + ", ".join(f"{a - b:+.1f}" for a, b in zip(s, u))
    epochs = t.get("pruning_epochs")
    if epochs is not None and "sparsity" in epochs:
        final = epochs.sort_values("epoch").groupby("run").tail(1)["sparsity"]
        measured += f" at {100 * final.mean():.1f} % final sparsity"
        if abs(final.mean() - 0.5) > 0.02:
            return _untestable(part, exp, prov, src, measured, test, "the runs did not end at 50 % sparsity")
    reason = _too_few(s, u) or _not_learned(u, "unstructured pruning")
    if reason:
        return _untestable(part, exp, prov, src, measured, test, reason)
    d = difference(s, u, paired=paired)
    return _tested(part, exp, prov, src, measured, d, test, *_directional(d, 0.0, "less"))


def _dw_row(t):
    """The 6.1 layer's counts (the student's layer, `mine`, when present; both layers' counts agree)."""
    params = t.get("dw_params")
    if params is None or params.empty:
        return None
    if "comparison" in params:
        params = params[params["comparison"].astype(str).str.startswith("layer")]
    preferred = params[params["impl"] == "mine"]
    rows = preferred if not preferred.empty else params
    return rows.iloc[0] if not rows.empty else None


def dw_factor_cout(t, example: dict) -> Claim:
    part, exp, prov = "6.1", "A separable conv reduces the parameters by a factor of C_out", PROBLEM_SET
    src = "6.1.3: “reduces the number of parameters by a factor of the number of output channels”"
    test = f"exact parameter count, holds within {FACTOR_TOLERANCE:.0%} of C_out"
    row = _dw_row(t)
    if row is None:
        return _untestable(part, exp, prov, src, "", test, "Part 6 did not run")
    c_out, ratio = int(example["C_out"]), float(row["measured_ratio"])
    measured = (
        f"({example['C_in']}, {c_out}, {example['kernel_size']}): {int(row['standard_params']):,} vs "
        f"{int(row['separable_params']):,}, C_out = {c_out}"
    )
    ok = abs(ratio - c_out) <= FACTOR_TOLERANCE * c_out
    return _counted(part, exp, prov, src, measured, f"{ratio:.2f}×", test, ok)


def dw_factor_theory(t, example: dict) -> Claim:
    part, exp, prov = "6.1", "It has K² C_out / (K² + C_out) times fewer parameters", PROBLEM_SET
    src = "6.1.3: “Does this match what should theoretically happen?” (the formula is our derivation)"
    test = "exact parameter count vs the formula"
    row = _dw_row(t)
    if row is None:
        return _untestable(part, exp, prov, src, "", test, "Part 6 did not run")
    k2, c_out = int(example["kernel_size"]) ** 2, int(example["C_out"])
    theory = k2 * c_out / (k2 + c_out)
    ratio = float(row["measured_ratio"])
    measured = f"{theory:.3f}× by the formula"
    ok = math.isclose(ratio, theory, rel_tol=1e-9)
    return _counted(part, exp, prov, src, measured, f"{ratio:.3f}× measured", test, ok)


def toy_learns(t) -> Claim:
    part, exp, prov = "5", "The toy transformer learns (digit reversal)", HYPOTHESIS
    src = "beyond the problem set (5.1 only builds the model); learning is our expectation"
    test = "one-sample t-test of greedy token accuracy vs chance (10 %), one-sided"
    toy = t.get("toy")
    if toy is None or toy.empty:
        return _untestable(part, exp, prov, src, "", test, "the toy transformer did not run")
    tok, seq = toy["greedy_token_acc"], toy["greedy_seq_acc"]
    measured = f"greedy token accuracy {pm(tok)}, whole sequences {pm(seq)}"
    reason = _too_few(tok)
    if reason:
        return _untestable(part, exp, prov, src, measured, test, reason)
    d = difference(_values(tok) - 10.0)
    return _tested(part, exp, prov, src, measured, d, test, *_directional(d, 0.0, "greater"))


def check_claims(tables: dict, dw_example: dict, margin: float = EQUIVALENCE_MARGIN) -> pd.DataFrame:
    """Every claim's row, in the problem set's order, decided with the Holm correction (columns: Claim fields)."""
    claims = [
        lr_sweep_best(tables),
        schedulers_equal(tables, margin),
        epoch_time(tables),
        convnet_90(tables),
        memory_4x(tables),
        ptq_8bit(tables, margin),
        ptq_4bit(tables),
        ptq_2bit(tables),
        stochastic_2bit(tables, margin),
        sparse_sanity(tables, margin),
        structured_vs_unstructured(tables),
        toy_learns(tables),
        dw_factor_cout(tables, dw_example),
        dw_factor_theory(tables, dw_example),
    ]
    return pd.DataFrame([asdict(c) for c in decide(claims)])
