"""The problem set's expectations checked against this run's CSVs: one computed verdict per claim (torch-free).

Each claim function takes the run's tables (pandas DataFrames, None when a part did not run) and returns a
Claim whose verdict is one of HOLDS, FAILS or UNTESTABLE, decided by a stated test at ALPHA:
  * "A differs from / exceeds B" claims hold when the t-test rejects "no difference" in the claimed direction;
  * "A is about B" (within noise) claims hold when the two-sided t-test does not reject "no difference";
  * deterministic counts (bytes, parameters) hold when they match the claimed factor within a stated tolerance.
A claim is UNTESTABLE when this run cannot speak to it: fewer than two seeds, a reference model that did not
learn (accuracy below MIN_LEARNED_ACC, as in the smoke run), or settings unlike the ones the claim is about.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from effdl.report.texgen import escape

ALPHA = 0.05
HOLDS, FAILS, UNTESTABLE = "holds", "does not hold", "not testable at this scale"
VERDICTS = (HOLDS, FAILS, UNTESTABLE)
MIN_LEARNED_ACC = 30.0  # percent: 3x chance on 10 classes; below it accuracy comparisons say nothing
SEED_FULL_TRAIN_IMAGES = 50_000  # CIFAR-10's training split, what the seed trains on
SEED_FULL_EPOCHS = 100  # Part 1.2's epochs
NOTEBOOK_EPOCH_S = 15.0  # "about 15 s per epoch" on a Colab GPU
FACTOR_TOLERANCE = 0.05  # relative tolerance of "a factor of N" claims on exact counts


@dataclass(frozen=True)
class Claim:
    """One row of the claims table (plain text; the TeX writer escapes it)."""

    part: str
    expectation: str
    source: str  # where the expectation comes from: the seed's text, the notebook, or implied by a question
    measured: str
    test: str
    verdict: str


# ---------------------------------------------------------------------------------------------
# Statistics


def _values(series) -> np.ndarray:
    return np.asarray(pd.to_numeric(pd.Series(series), errors="coerce").dropna(), dtype=float)


def pm(values, digits: int = 2) -> str:
    """'62.31 ± 0.84 (n=3)': mean ± sample sd over runs."""
    v = _values(values)
    if len(v) == 0:
        return "n/a"
    sd = f" ± {v.std(ddof=1):.{digits}f}" if len(v) > 1 else ""
    return f"{v.mean():.{digits}f}{sd} (n={len(v)})"


def _degenerate_p(diff: float, alternative: str) -> float:
    """p-value when both samples have zero spread: 0 if the (exact) difference lies on the alternative's side."""
    if alternative == "greater":
        return 0.0 if diff > 0 else 1.0
    if alternative == "less":
        return 0.0 if diff < 0 else 1.0
    return 0.0 if diff != 0 else 1.0


def welch_p(a, b, alternative: str = "two-sided") -> float:
    """Welch's t-test of mean(a) vs mean(b) (scipy.stats.ttest_ind, equal_var=False); exact when both are constant."""
    a, b = _values(a), _values(b)
    if a.var(ddof=1) == 0 and b.var(ddof=1) == 0:
        return _degenerate_p(a.mean() - b.mean(), alternative)
    return float(stats.ttest_ind(a, b, equal_var=False, alternative=alternative).pvalue)


def one_sample_p(x, popmean: float, alternative: str = "two-sided") -> float:
    """One-sample t-test of mean(x) vs popmean (a paired test when x holds paired differences)."""
    x = _values(x)
    if x.var(ddof=1) == 0:
        return _degenerate_p(x.mean() - popmean, alternative)
    return float(stats.ttest_1samp(x, popmean, alternative=alternative).pvalue)


def p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def directional(p: float) -> str:
    """A directional claim holds when its one-sided test rejects 'no difference' at ALPHA."""
    return HOLDS if p < ALPHA else FAILS


def within_noise(p: float) -> str:
    """An 'about equal' claim holds when the two-sided test does not reject 'no difference' at ALPHA."""
    return FAILS if p < ALPHA else HOLDS


def _too_few(*samples) -> str | None:
    short = [len(_values(s)) for s in samples if len(_values(s)) < 2]
    return f"fewer than 2 runs ({min(short)})" if short else None


def _not_learned(reference, what: str) -> str | None:
    mean = float(np.mean(_values(reference))) if len(_values(reference)) else float("nan")
    if math.isnan(mean) or mean < MIN_LEARNED_ACC:
        return f"{what} reached {mean:.1f} % < {MIN_LEARNED_ACC:.0f} %: it has not learned enough to compare"
    return None


def _untestable(part, expectation, source, measured, test, reason) -> Claim:
    return Claim(part, expectation, source, f"{measured}; {reason}" if measured else reason, test, UNTESTABLE)


# ---------------------------------------------------------------------------------------------
# The claims (one function each; `t` maps table names to DataFrames or None)


def _acc_by(frame: pd.DataFrame, column: str, value) -> pd.Series:
    return frame.loc[
        np.isclose(frame[column], value) if frame[column].dtype.kind in "fi" else frame[column] == value,
        "final_test_acc",
    ]


def lr_sweep_best(t) -> Claim:
    part, exp, src = "1.1", "Among lr 1e-4 / 0.1 / 1.0 (5 epochs), lr 0.1 ends highest", "implied by 1.1.4"
    test = "Welch t-test, one-sided, vs the next best lr"
    sweep = t.get("sweep")
    if sweep is None or sweep.empty:
        return _untestable(part, exp, src, "", test, "Part 1.1 did not run")
    means = sweep.groupby("lr")["final_test_acc"].mean().sort_values(ascending=False)
    if not any(np.isclose(means.index, 0.1)):
        return _untestable(part, exp, src, "", test, "lr 0.1 is not in the sweep")
    best = _acc_by(sweep, "lr", 0.1)
    others = [lr for lr in means.index if not np.isclose(lr, 0.1)]
    runner = others[0] if others else None
    rival = _acc_by(sweep, "lr", runner) if runner is not None else pd.Series(dtype=float)
    measured = f"lr 0.1: {pm(best)} %; next best lr {runner:g}: {pm(rival)} %" if runner is not None else pm(best)
    reason = _too_few(best, rival) or _not_learned(best, "lr 0.1")
    if reason:
        return _untestable(part, exp, src, measured, test, reason)
    p = welch_p(best, rival, "greater")
    return Claim(part, exp, src, measured, f"{test}, {p_text(p)}", directional(p))


def schedulers_equal(t) -> Claim:
    part, exp, src = "1.2", "MultiStep and cosine annealing end within noise of each other", "implied by 1.2.3"
    test = "Welch t-test, two-sided"
    sched = t.get("sched")
    if sched is None or not {"multistep", "cosine_annealing"} <= set(sched["scheduler"]):
        return _untestable(part, exp, src, "", test, "Part 1.2 did not run both schedulers")
    multi, cos = _acc_by(sched, "scheduler", "multistep"), _acc_by(sched, "scheduler", "cosine_annealing")
    epochs = int(sched["epochs_planned"].max())
    measured = f"MultiStep {pm(multi)} %, cosine {pm(cos)} % after {epochs} epochs"
    reason = _too_few(multi, cos) or _not_learned(multi, "MultiStep")
    if reason:
        return _untestable(part, exp, src, measured, test, reason)
    p = welch_p(multi, cos)
    return Claim(part, exp, src, measured, f"{test}, {p_text(p)}", within_noise(p))


def convnet_90(t) -> Claim:
    part, src = "1.2", "notebook (ConvNet docstring)"
    exp = "The ConvNet passes 90 % test accuracy at the seed's full settings"
    test = "one-sample t-test, one-sided, vs 90 %"
    sched = t.get("sched")
    if sched is None or sched.empty or "multistep" not in set(sched["scheduler"]):
        return _untestable(part, exp, src, "", test, "Part 1.2 MultiStep did not run")
    multi = sched[sched["scheduler"] == "multistep"]
    acc = multi["final_test_acc"]
    epochs, n_train = int(multi["epochs_planned"].max()), int(multi["n_train"].max())
    measured = f"MultiStep {pm(acc)} % after {epochs} epochs on {n_train:,} images"
    if epochs < SEED_FULL_EPOCHS or n_train < SEED_FULL_TRAIN_IMAGES:
        return _untestable(
            part,
            exp,
            src,
            measured,
            test,
            f"the seed's settings are {SEED_FULL_EPOCHS} epochs on {SEED_FULL_TRAIN_IMAGES:,} images",
        )
    reason = _too_few(acc)
    if reason:
        return _untestable(part, exp, src, measured, test, reason)
    p = one_sample_p(acc, 90.0, "greater")
    return Claim(part, exp, src, measured, f"{test}, {p_text(p)}", directional(p))


def epoch_time(t) -> Claim:
    part, exp, src = "1.2", "About 15 s per epoch (100 epochs in 25-30 min) on a Colab GPU", "notebook (Code Cell 1.4)"
    test = "median epoch time scaled to 50,000 images, holds if ≤ 2 × 15 s"
    epochs, sched = t.get("sched_epochs"), t.get("sched")
    if epochs is None or sched is None or epochs.empty:
        return _untestable(part, exp, src, "", test, "Part 1.2 did not run")
    trained = epochs[epochs["epoch"] >= 1]
    n_train = int(sched["n_train"].max())
    median = float(trained["epoch_time_s"].median())
    projected = median * SEED_FULL_TRAIN_IMAGES / n_train
    devices = sorted(set(sched["device"].astype(str)))
    measured = (
        f"median epoch {median:.1f} s on {n_train:,} images ({', '.join(devices)}), "
        f"{projected:.0f} s projected to 50,000"
    )
    if not any(d.startswith("cuda") for d in devices):
        return _untestable(part, exp, src, measured, test, "no GPU in this run; the figure is for a Colab GPU")
    return Claim(part, exp, src, measured, test, HOLDS if projected <= 2 * NOTEBOOK_EPOCH_S else FAILS)


def _ptq(t, rounding: str, bits: int | None, granularity: str = "tensor", net: str = "mnist_mlp") -> pd.DataFrame:
    rows = t.get("quant_rows")
    if rows is None or rows.empty:
        return pd.DataFrame(columns=["checkpoint", "test_acc", "trial", "fp32_bytes", "uint8_bytes"])
    sel = (rows["net"] == net) & (rows["rounding"] == rounding)
    if rounding != "fp32":
        sel &= (rows["bits"] == bits) & (rows["granularity"] == granularity)
    return rows[sel]


def _paired_loss(t, rounding: str, bits: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """fp32 rows, quantized rows and the per-checkpoint accuracy loss fp32 - quantized (points)."""
    fp32, quant = _ptq(t, "fp32", None), _ptq(t, rounding, bits)
    base = fp32.set_index("checkpoint")["test_acc"]
    loss = (base - quant.groupby("checkpoint")["test_acc"].mean()).dropna()
    return fp32, quant, loss


def memory_4x(t) -> Claim:
    part, exp, src = "2.1", "8-bit quantization gives a 4× reduction in memory", "seed 2.1.3"
    test = f"exact byte count, holds within {FACTOR_TOLERANCE:.0%} of 4×"
    q8 = _ptq(t, "nearest", 8)
    if q8.empty:
        return _untestable(part, exp, src, "", test, "Part 2 did not run")
    ratio = float((q8["fp32_bytes"] / q8["uint8_bytes"]).mean())
    measured = (
        f"MNIST MLP: {int(q8['fp32_bytes'].iloc[0]):,} B fp32 vs {int(q8['uint8_bytes'].iloc[0]):,} B "
        f"uint8 codes + shifts/scales = {ratio:.3f}×"
    )
    return Claim(part, exp, src, measured, test, HOLDS if abs(ratio - 4) <= 4 * FACTOR_TOLERANCE else FAILS)


def ptq_8bit(t) -> Claim:
    part, exp, src = "2.2", "8-bit PTQ is within noise of fp32", "implied by 2.2.2"
    test = "paired t-test over trained models, two-sided"
    fp32, quant, loss = _paired_loss(t, "nearest", 8)
    measured = f"fp32 {pm(fp32['test_acc'])} %, 8-bit {pm(quant['test_acc'])} %, loss {pm(loss)} points"
    reason = _too_few(loss) or _not_learned(fp32["test_acc"], "the fp32 MLP")
    if reason:
        return _untestable(part, exp, src, measured, test, reason)
    p = one_sample_p(loss, 0.0)
    return Claim(part, exp, src, measured, f"{test}, {p_text(p)}", within_noise(p))


def _loss_bound(t, bits: int, bound: float, side: str, exp: str, src: str) -> Claim:
    test = f"paired t-test of the loss vs {bound:g} points, one-sided"
    fp32, quant, loss = _paired_loss(t, "nearest", bits)
    measured = f"{bits}-bit {pm(quant['test_acc'])} %, loss {pm(loss)} points"
    reason = _too_few(loss) or _not_learned(fp32["test_acc"], "the fp32 MLP")
    if reason:
        return _untestable("2.2", exp, src, measured, test, reason)
    p = one_sample_p(loss, bound, side)
    return Claim("2.2", exp, src, measured, f"{test}, {p_text(p)}", directional(p))


def ptq_4bit(t) -> Claim:
    return _loss_bound(t, 4, 2.0, "less", "4-bit PTQ loses under 2 points", "implied by 2.2.3")


def ptq_2bit(t) -> Claim:
    return _loss_bound(t, 2, 10.0, "greater", "2-bit nearest PTQ loses more than 10 points", "implied by 2.2.4")


def stochastic_2bit(t) -> Claim:
    part, exp, src = "2.3", "Stochastic 2-bit differs from nearest 2-bit (with a run-to-run spread)", "seed 2.3"
    test = "one-sample t-test of (stochastic - nearest, same model) vs 0, two-sided"
    near, sto = _ptq(t, "nearest", 2), _ptq(t, "stochastic", 2)
    base = near.set_index("checkpoint")["test_acc"]
    diff = (sto["test_acc"] - sto["checkpoint"].map(base)).dropna()
    spread = sto.groupby("checkpoint")["test_acc"].std().mean() if len(sto) else float("nan")
    measured = (
        f"stochastic {pm(sto['test_acc'])} % (trial sd {spread:.2f}), nearest {pm(near['test_acc'])} %, "
        f"difference {pm(diff)} points"
    )
    reason = _too_few(diff) or _not_learned(_ptq(t, "fp32", None)["test_acc"], "the fp32 MLP")
    if reason:
        return _untestable(part, exp, src, measured, test, reason)
    p = one_sample_p(diff, 0.0)
    return Claim(part, exp, src, measured, f"{test}, {p_text(p)}", directional(p))


def sparse_sanity(t) -> Claim:
    part, src = "3.2", "seed 3.2.1"
    exp = "The unpruned SparseConvNet is approximately equal to Part 1.1's ConvNet (lr 0.1)"
    test = "Welch t-test, two-sided"
    sanity, sweep = t.get("sanity"), t.get("sweep")
    if sanity is None or sweep is None or sanity.empty:
        return _untestable(part, exp, src, "", test, "Part 3.2 or Part 1.1 did not run")
    sparse = sanity["final_test_acc"]
    lr = float(sanity["lr"].iloc[0])
    dense = _acc_by(sweep, "lr", lr)
    measured = f"SparseConvNet {pm(sparse)} %, ConvNet {pm(dense)} % (lr {lr:g})"
    reason = _too_few(sparse, dense) or _not_learned(dense, "the ConvNet")
    if reason:
        return _untestable(part, exp, src, measured, test, reason)
    p = welch_p(sparse, dense)
    return Claim(part, exp, src, measured, f"{test}, {p_text(p)}", within_noise(p))


def structured_vs_unstructured(t) -> Claim:
    part, exp, src = "3.4", "50 % structured pruning costs more accuracy than 50 % unstructured", "implied by 3.4.5"
    test = "Welch t-test, one-sided"
    pruning = t.get("pruning")
    if pruning is None or not {"structured", "unstructured"} <= set(pruning["mode"]):
        return _untestable(part, exp, src, "", test, "Parts 3.3/3.4 did not run")
    s, u = _acc_by(pruning, "mode", "structured"), _acc_by(pruning, "mode", "unstructured")
    measured = f"structured {pm(s)} %, unstructured {pm(u)} %"
    epochs = t.get("pruning_epochs")
    if epochs is not None and "sparsity" in epochs:
        final = epochs.sort_values("epoch").groupby("run").tail(1)["sparsity"]
        measured += f" at {100 * final.mean():.1f} % final sparsity"
        if abs(final.mean() - 0.5) > 0.02:
            return _untestable(part, exp, src, measured, test, "the runs did not end at 50 % sparsity")
    reason = _too_few(s, u) or _not_learned(u, "unstructured pruning")
    if reason:
        return _untestable(part, exp, src, measured, test, reason)
    p = welch_p(s, u, "less")
    return Claim(part, exp, src, measured, f"{test}, {p_text(p)}", directional(p))


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
    part, exp, src = "6.1", "A separable conv reduces the parameters by a factor of C_out", "seed 6.1.3"
    test = f"exact parameter count, holds within {FACTOR_TOLERANCE:.0%} of C_out"
    row = _dw_row(t)
    if row is None:
        return _untestable(part, exp, src, "", test, "Part 6 did not run")
    c_out, ratio = int(example["C_out"]), float(row["measured_ratio"])
    measured = (
        f"({example['C_in']}, {c_out}, {example['kernel_size']}): {int(row['standard_params']):,} vs "
        f"{int(row['separable_params']):,} = {ratio:.2f}×, C_out = {c_out}"
    )
    return Claim(part, exp, src, measured, test, HOLDS if abs(ratio - c_out) <= FACTOR_TOLERANCE * c_out else FAILS)


def dw_factor_theory(t, example: dict) -> Claim:
    part, exp, src = "6.1", "It has K² C_out / (K² + C_out) times fewer parameters", "implied by 6.1.3"
    test = "exact parameter count vs the formula"
    row = _dw_row(t)
    if row is None:
        return _untestable(part, exp, src, "", test, "Part 6 did not run")
    k2, c_out = int(example["kernel_size"]) ** 2, int(example["C_out"])
    theory = k2 * c_out / (k2 + c_out)
    ratio = float(row["measured_ratio"])
    measured = f"{ratio:.3f}× measured, {theory:.3f}× by the formula"
    return Claim(part, exp, src, measured, test, HOLDS if math.isclose(ratio, theory, rel_tol=1e-9) else FAILS)


def toy_learns(t) -> Claim:
    part, exp, src = "5", "The toy transformer learns (digit reversal)", "implied by 5.1"
    test = "one-sample t-test of greedy token accuracy vs chance (10 %), one-sided"
    toy = t.get("toy")
    if toy is None or toy.empty:
        return _untestable(part, exp, src, "", test, "the toy transformer did not run")
    tok, seq = toy["greedy_token_acc"], toy["greedy_seq_acc"]
    measured = f"greedy token accuracy {pm(tok)} %, whole sequences {pm(seq)} %"
    reason = _too_few(tok)
    if reason:
        return _untestable(part, exp, src, measured, test, reason)
    p = one_sample_p(tok, 10.0, "greater")
    return Claim(part, exp, src, measured, f"{test}, {p_text(p)}", directional(p))


def check_claims(tables: dict, dw_example: dict) -> pd.DataFrame:
    """Every claim's row, in the problem set's order (columns: the Claim fields)."""
    claims = [
        lr_sweep_best(tables),
        schedulers_equal(tables),
        epoch_time(tables),
        convnet_90(tables),
        memory_4x(tables),
        ptq_8bit(tables),
        ptq_4bit(tables),
        ptq_2bit(tables),
        stochastic_2bit(tables),
        sparse_sanity(tables),
        structured_vs_unstructured(tables),
        toy_learns(tables),
        dw_factor_cout(tables, dw_example),
        dw_factor_theory(tables, dw_example),
    ]
    return pd.DataFrame([asdict(c) for c in claims])


# ---------------------------------------------------------------------------------------------
# TeX


_TEX_SYMBOLS = {"±": r"$\pm$", "≤": r"$\le$", "×": r"$\times$", "²": r"$^2$", r"C\_out": r"$C_\text{out}$"}


def _tex(text: str) -> str:
    out = escape(text)
    for plain, tex in _TEX_SYMBOLS.items():
        out = out.replace(plain, tex)
    return out


def claims_latex_table(claims: pd.DataFrame) -> pd.DataFrame:
    """The table as TeX cells: expectation (part, source), measured, test, verdict (bold when it fails)."""
    verdict = {HOLDS: "holds", FAILS: r"\textbf{does not hold}", UNTESTABLE: "not testable at this scale"}
    ragged = r"\raggedright\let\\\tabularnewline "  # narrow p-columns unjustified, \\ still ends the row
    rows = []
    for c in claims.itertuples():
        rows.append(
            {
                "expectation": f"{ragged}{_tex(c.part)}: {_tex(c.expectation)} \\emph{{({_tex(c.source)})}}",
                "measured": ragged + _tex(c.measured),
                "test": ragged + _tex(c.test),
                "verdict": ragged + verdict[c.verdict],
            }
        )
    return pd.DataFrame(rows)


def claims_macros(claims: pd.DataFrame) -> dict[str, str]:
    """Counts per verdict for the section's text: \\ClaimsTotal, \\ClaimsHold, \\ClaimsFail, \\ClaimsUntestable."""
    counts = claims["verdict"].value_counts()
    return {
        "ClaimsTotal": str(len(claims)),
        "ClaimsHold": str(int(counts.get(HOLDS, 0))),
        "ClaimsFail": str(int(counts.get(FAILS, 0))),
        "ClaimsUntestable": str(int(counts.get(UNTESTABLE, 0))),
        "ClaimsAlpha": f"{ALPHA:g}",
        "ClaimsMinLearned": f"{MIN_LEARNED_ACC:.0f}",
    }
