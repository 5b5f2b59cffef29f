"""How a claim of the claims table is decided and printed: verdicts, the Claim row, effect and p-value text, Holm.

The rules (the module docstring of effdl.report.claims says them in full): the unit of every test is the trained
model; "differs / exceeds" claims are one-sided t-tests, "about equal" claims TOST against a margin; every
p-value of the table is Holm-adjusted (`decide`); exact counts are checked against their factor outside the tests.
Torch-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from effdl.report.results import format_values
from effdl.report.stats import ACCURACY_RANGE, Difference, holm

ALPHA = 0.05
HOLDS, FAILS, INCONCLUSIVE, UNTESTABLE = "holds", "does not hold", "inconclusive", "not testable at this scale"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, UNTESTABLE)
PROBLEM_SET, NOTEBOOK, HYPOTHESIS = "problem set", "course notebook", "this study's hypothesis"
PROVENANCES = (PROBLEM_SET, NOTEBOOK, HYPOTHESIS)
TEST, COUNT, NONE = "test", "count", "none"  # how a verdict is decided: a hypothesis test, an exact count, nothing
# Equivalence margin (test-accuracy points) of every "about equal" claim, when the config gives none. It is the
# schema's default of claims.equivalence_margin_points (a test checks that the two agree); see config/config.yaml.
EQUIVALENCE_MARGIN = 1.0
MIN_LEARNED_ACC = 30.0  # percent: 3x chance on 10 classes; below it accuracy comparisons say nothing


@dataclass(frozen=True)
class Claim:
    """One row of the claims table (plain text; the TeX writer escapes it).

    p_for is the raw p-value of the test that would make the claim hold, p_against that of the test that would
    make it fail (NaN where a claim has no such test); check_claims adds their Holm-adjusted values.
    """

    part: str
    expectation: str
    provenance: str  # one of PROVENANCES
    source: str  # the problem set's or notebook's words (quoted), or what the hypothesis rests on
    measured: str
    effect: str  # the difference and its 90 % CI (tests), or the measured factor (counts)
    test: str
    verdict: str
    kind: str = NONE  # TEST, COUNT or NONE (untestable)
    p_for: float = float("nan")
    p_against: float = float("nan")
    p_for_holm: float = float("nan")
    p_against_holm: float = float("nan")


def _values(series) -> np.ndarray:
    return np.asarray(pd.to_numeric(pd.Series(series), errors="coerce").dropna(), dtype=float)


def pm(values, digits: int = 2, bounds: tuple[float, float] = ACCURACY_RANGE, unit: str = " %") -> str:
    """'62.31 ± 0.84 % (n=3)': mean ± 95 % t half-width over independent units; '[low, high]' where the
    interval is clipped to what the metric can take (effdl.report.results.format_result, as every table)."""
    return format_values(_values(values), digits, bounds=bounds, unit=unit.strip(), tex=False, n=True)


def p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def effect_text(d: Difference | None, unit: str = "points") -> str:
    """'difference +3.68 points, 90 % CI [-1.90, +9.26]': the effect size every test row prints."""
    if d is None:
        return ""
    return f"difference {d.diff:+.2f} {unit}, {100 * (1 - 2 * ALPHA):.0f} % CI [{d.low:+.2f}, {d.high:+.2f}]"


def _too_few(*samples) -> str | None:
    short = [len(_values(s)) for s in samples if len(_values(s)) < 2]
    return f"fewer than 2 trained models ({min(short)})" if short else None


def _not_learned(reference, what: str) -> str | None:
    mean = float(np.mean(_values(reference))) if len(_values(reference)) else float("nan")
    if math.isnan(mean) or mean < MIN_LEARNED_ACC:
        return f"{what} reached {mean:.1f} % < {MIN_LEARNED_ACC:.0f} %: it has not learned enough to compare"
    return None


def _untestable(part, exp, prov, src, measured, test, reason) -> Claim:
    return Claim(part, exp, prov, src, f"{measured}; {reason}" if measured else reason, "", test, UNTESTABLE)


def _tested(part, exp, prov, src, measured, d: Difference | None, test, p_for, p_against) -> Claim:
    """A claim decided by a test: the verdict is set by check_claims, after the Holm correction."""
    return Claim(part, exp, prov, src, measured, effect_text(d), test, INCONCLUSIVE, TEST, p_for, p_against)


def _counted(part, exp, prov, src, measured, effect, test, ok: bool) -> Claim:
    return Claim(part, exp, prov, src, measured, effect, test, HOLDS if ok else FAILS, COUNT)


def _directional(d: Difference, bound: float, direction: str) -> tuple[float, float]:
    """(p_for, p_against) of 'the difference is above (direction greater) / below (less) bound'."""
    other = "less" if direction == "greater" else "greater"
    return d.one_sided_p(bound, direction), d.one_sided_p(bound, other)


def decide(claims: list[Claim], alpha: float = ALPHA) -> list[Claim]:
    """Holm-adjust p_for and p_against over the table's tests and set each tested claim's verdict: holds when
    adjusted p_for < alpha, does not hold when adjusted p_against < alpha, inconclusive otherwise."""
    tested = [i for i, c in enumerate(claims) if c.kind == TEST]
    p_for = holm([claims[i].p_for for i in tested])
    p_against = holm([claims[i].p_against for i in tested])
    out = list(claims)
    for i, pf, pa in zip(tested, p_for, p_against):
        verdict = HOLDS if pf < alpha else FAILS if pa < alpha else INCONCLUSIVE
        c = claims[i]
        test = f"{c.test}; {p_text(c.p_for)}, Holm-adjusted {p_text(pf)}"
        out[i] = replace(c, verdict=verdict, test=test, p_for_holm=pf, p_against_holm=pa)
    return out
