"""The claims table: each verdict computed from synthetic CSV tables, and flipped by changing the data."""

from __future__ import annotations

import pandas as pd
import pytest

from effdl.report import claims as c

SEEDS = (43, 44, 45)


def runs(column: str, accs: dict, **extra) -> pd.DataFrame:
    """Summary rows: one per (setting, seed) with final_test_acc from accs[setting][i]."""
    return pd.DataFrame(
        [
            {column: key, "seed": SEEDS[i], "final_test_acc": acc, **extra}
            for key, values in accs.items()
            for i, acc in enumerate(values)
        ]
    )


def quant_rows(fp32, q8, q4, q2, stochastic) -> pd.DataFrame:
    """PTQ rows of the MNIST MLP: one fp32 and one nearest row per checkpoint, trials for stochastic 2-bit."""
    rows = []
    for i, acc in enumerate(fp32):
        ck = f"part2/mnist_mlp_seed{SEEDS[i]}"
        common = {"net": "mnist_mlp", "checkpoint": ck, "fp32_bytes": 407_080, "uint8_bytes": 101_802}
        rows.append({**common, "rounding": "fp32", "granularity": "none", "bits": 32, "trial": 0, "test_acc": acc})
        for bits, accs in ((8, q8), (4, q4), (2, q2)):
            rows.append(
                {
                    **common,
                    "rounding": "nearest",
                    "granularity": "tensor",
                    "bits": bits,
                    "trial": 0,
                    "test_acc": accs[i],
                }
            )
        for trial, acc_t in enumerate(stochastic[i]):
            rows.append(
                {
                    **common,
                    "rounding": "stochastic",
                    "granularity": "tensor",
                    "bits": 2,
                    "trial": trial,
                    "test_acc": acc_t,
                }
            )
    return pd.DataFrame(rows)


def sched(multistep, cosine, **settings) -> pd.DataFrame:
    """Part 1.2 summaries at the seed's full settings on a GPU unless `settings` say otherwise."""
    full = {"epochs_planned": 100, "n_train": 50_000, "n_test": 10_000, "device": "cuda", **settings}
    return runs("scheduler", {"multistep": multistep, "cosine_annealing": cosine}, **full)


EXAMPLE = {"C_in": 10, "C_out": 20, "kernel_size": 5}


@pytest.fixture
def tables() -> dict:
    """A run in which every testable claim holds (full settings on a GPU, so nothing is untestable)."""
    return {
        "sweep": runs("lr", {0.0001: [30.0, 31.0, 32.0], 0.1: [80.0, 81.0, 82.0], 1.0: [60.0, 62.0, 61.0]}),
        "sched": sched([93.0, 93.4, 92.8], [93.1, 93.5, 92.9]),
        "sched_epochs": pd.DataFrame({"epoch": [0, 1, 2, 3], "epoch_time_s": [0.0, 12.0, 13.0, 14.0]}),
        "quant_rows": quant_rows(
            fp32=[97.0, 97.2, 97.1],
            q8=[97.0, 97.1, 97.2],
            q4=[96.5, 96.8, 96.6],
            q2=[40.0, 35.0, 45.0],
            stochastic=[[50.0, 55.0], [52.0, 48.0], [60.0, 58.0]],
        ),
        "sanity": runs("lr", {0.1: [80.5, 81.5, 80.0]}),
        "pruning": runs("mode", {"structured": [88.0, 88.5, 87.5], "unstructured": [92.0, 92.4, 91.8]}),
        "pruning_epochs": pd.DataFrame(
            {"run": ["s", "s", "u", "u"], "epoch": [1, 2, 1, 2], "sparsity": [0.1, 0.5, 0.1, 0.5]}
        ),
        "dw_params": pd.DataFrame(
            [{"impl": "solution", "standard_params": 5000, "separable_params": 450, "measured_ratio": 5000 / 450}]
        ),
        "toy": pd.DataFrame({"greedy_token_acc": [98.0, 99.0, 97.5], "greedy_seq_acc": [90.0, 95.0, 88.0]}),
    }


def verdicts(tables) -> dict[str, str]:
    table = c.check_claims(tables, EXAMPLE)
    assert set(table["verdict"]) <= set(c.VERDICTS)
    return dict(zip(table["expectation"], table["verdict"]))


def verdict_of(tables, fragment: str) -> str:
    matches = [v for k, v in verdicts(tables).items() if fragment in k]
    assert len(matches) == 1, fragment
    return matches[0]


def test_every_claim_holds_on_a_full_run_except_the_literal_factor_of_c_out(tables):
    got = verdicts(tables)
    assert len(got) == 14
    failing = [k for k, v in got.items() if v != c.HOLDS]
    assert failing == ["A separable conv reduces the parameters by a factor of C_out"]  # 11.1x, not 20x


@pytest.mark.parametrize(
    "fragment, flip",
    [
        (
            "lr 0.1 ends highest",
            lambda t: t.update(sweep=runs("lr", {0.1: [80.0, 81.0, 82.0], 1.0: [83.0, 84.0, 85.0]})),
        ),
        (
            "lr 0.1 ends highest",
            lambda t: t.update(sweep=runs("lr", {0.1: [80.0, 85.0, 75.0], 1.0: [79.0, 84.0, 76.0]})),
        ),
        ("MultiStep and cosine", lambda t: t.update(sched=sched([93.0, 93.4, 92.8], [90.0, 90.2, 89.9]))),
        ("About 15 s per epoch", lambda t: t["sched_epochs"].__setitem__("epoch_time_s", [0.0, 40.0, 41.0, 42.0])),
        ("passes 90 %", lambda t: t["sched"].__setitem__("final_test_acc", [88.0, 89.0, 88.5, 89.2, 88.1, 88.3])),
        ("4× reduction", lambda t: t["quant_rows"].__setitem__("uint8_bytes", 200_000)),
        (
            "8-bit PTQ is within noise",
            lambda t: t.update(
                quant_rows=quant_rows(
                    [97.0, 97.2, 97.1],
                    [95.0, 95.1, 95.2],
                    [96.5, 96.8, 96.6],
                    [40.0, 35.0, 45.0],
                    [[50.0], [52.0], [60.0]],
                )
            ),
        ),
        (
            "4-bit PTQ loses under 2",
            lambda t: t.update(
                quant_rows=quant_rows(
                    [97.0, 97.2, 97.1],
                    [97.0, 97.1, 97.2],
                    [90.5, 91.8, 90.6],
                    [40.0, 35.0, 45.0],
                    [[50.0], [52.0], [60.0]],
                )
            ),
        ),
        (
            "2-bit nearest PTQ loses more",
            lambda t: t.update(
                quant_rows=quant_rows(
                    [97.0, 97.2, 97.1],
                    [97.0, 97.1, 97.2],
                    [96.5, 96.8, 96.6],
                    [95.0, 94.0, 96.0],
                    [[50.0], [52.0], [60.0]],
                )
            ),
        ),
        (
            "Stochastic 2-bit differs",
            lambda t: t.update(
                quant_rows=quant_rows(
                    [97.0, 97.2, 97.1],
                    [97.0, 97.1, 97.2],
                    [96.5, 96.8, 96.6],
                    [40.0, 35.0, 45.0],
                    [[38.0, 42.0], [37.0, 33.0], [44.0, 46.0]],
                )
            ),
        ),
        ("unpruned SparseConvNet", lambda t: t.update(sanity=runs("lr", {0.1: [70.0, 71.0, 70.5]}))),
        (
            "structured pruning costs more",
            lambda t: t.update(
                pruning=runs("mode", {"structured": [92.0, 92.5, 91.5], "unstructured": [92.0, 92.4, 91.8]})
            ),
        ),
        (
            "toy transformer learns",
            lambda t: t.update(
                toy=pd.DataFrame({"greedy_token_acc": [9.0, 11.0, 10.5], "greedy_seq_acc": [0.0, 0.0, 0.0]})
            ),
        ),
        ("K² C_out / (K² + C_out)", lambda t: t["dw_params"].__setitem__("measured_ratio", 10.0)),
    ],
)
def test_changing_the_data_turns_a_claim_to_does_not_hold(tables, fragment, flip):
    assert verdict_of(tables, fragment) == c.HOLDS
    flip(tables)
    assert verdict_of(tables, fragment) == c.FAILS


def test_factor_of_c_out_holds_when_the_ratio_is_c_out(tables):
    assert verdict_of(tables, "by a factor of C_out") == c.FAILS
    tables["dw_params"]["measured_ratio"] = 20.0
    assert verdict_of(tables, "by a factor of C_out") == c.HOLDS


@pytest.mark.parametrize(
    "fragment, shrink",
    [
        (
            "lr 0.1 ends highest",
            lambda t: t.update(sweep=runs("lr", {0.1: [12.0, 14.0, 13.0], 1.0: [10.0, 10.0, 10.0]})),
        ),
        (
            "MultiStep and cosine",
            lambda t: t["sched"].__setitem__("final_test_acc", [15.0, 16.0, 14.0, 15.5, 15.0, 16.0]),
        ),
        ("passes 90 %", lambda t: t["sched"].__setitem__("epochs_planned", 10)),
        ("passes 90 %", lambda t: t["sched"].__setitem__("n_train", 10_000)),
        ("About 15 s per epoch", lambda t: t["sched"].__setitem__("device", "cpu")),
        (
            "8-bit PTQ is within noise",
            lambda t: t.update(quant_rows=t["quant_rows"][t["quant_rows"]["checkpoint"].str.endswith("43")]),
        ),
        ("unpruned SparseConvNet", lambda t: t.update(sanity=None)),
        ("structured pruning costs more", lambda t: t["pruning_epochs"].__setitem__("sparsity", 0.25)),
        ("toy transformer learns", lambda t: t.update(toy=t["toy"].head(1))),
    ],
)
def test_a_run_too_small_or_too_short_makes_a_claim_untestable(tables, fragment, shrink):
    assert verdict_of(tables, fragment) == c.HOLDS
    shrink(tables)
    assert verdict_of(tables, fragment) == c.UNTESTABLE


def test_missing_parts_are_untestable_not_errors():
    table = c.check_claims({}, EXAMPLE)
    assert len(table) == 14
    assert set(table["verdict"]) == {c.UNTESTABLE}


def test_zero_spread_samples_get_an_exact_decision():
    assert c.welch_p([1.0, 1.0], [0.0, 0.0], "greater") == 0.0
    assert c.welch_p([1.0, 1.0], [1.0, 1.0]) == 1.0
    assert c.one_sample_p([3.0, 3.0], 2.0, "less") == 1.0
    assert 0.0 < c.welch_p([1.0, 2.0, 3.0], [1.5, 2.5, 3.5]) < 1.0


def test_latex_table_and_macros_count_the_verdicts(tables):
    table = c.check_claims(tables, EXAMPLE)
    macros = c.claims_macros(table)
    assert (macros["ClaimsTotal"], macros["ClaimsHold"], macros["ClaimsFail"], macros["ClaimsUntestable"]) == (
        "14",
        "13",
        "1",
        "0",
    )
    tex = c.claims_latex_table(table)
    assert list(tex.columns) == ["expectation", "measured", "test", "verdict"]
    assert tex["verdict"].str.contains("does not hold").sum() == 1
    joined = " ".join(tex.to_numpy().ravel())
    assert "±" not in joined and "×" not in joined and "\\pm" in joined and "\\times" in joined
    assert "%" not in joined.replace("\\%", "")
