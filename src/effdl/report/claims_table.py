"""The claims table in TeX: rows grouped by provenance, a longtable with its caption, and the section's counts."""

from __future__ import annotations

import pandas as pd

from effdl.report.texgen import escape
from effdl.report.verdicts import (
    ALPHA,
    COUNT,
    EQUIVALENCE_MARGIN,
    FAILS,
    HOLDS,
    HYPOTHESIS,
    INCONCLUSIVE,
    MIN_LEARNED_ACC,
    NOTEBOOK,
    PROBLEM_SET,
    PROVENANCES,
    TEST,
    UNTESTABLE,
)

_TEX_SYMBOLS = {
    "±": r"$\pm$",
    "≤": r"$\le$",
    "×": r"$\times$",
    "²": r"$^2$",
    r"C\_out": r"$C_\text{out}$",
    "“": "``",
    "”": "''",
}
PROVENANCE_LABELS = {PROBLEM_SET: "Problem set", NOTEBOOK: "Course notebook", HYPOTHESIS: "Our hypothesis"}


def _tex(text: str) -> str:
    out = escape(text)
    for plain, tex in _TEX_SYMBOLS.items():
        out = out.replace(plain, tex)
    return out


def claims_latex_table(claims: pd.DataFrame) -> pd.DataFrame:
    """The table as TeX cells, grouped by provenance (the problem set's statements, the notebook's, then our own
    hypotheses): expectation (part, provenance, quoted source), measured, effect, test, verdict (bold if it fails)."""
    verdict = {
        HOLDS: "holds",
        FAILS: r"\textbf{does not hold}",
        INCONCLUSIVE: "inconclusive",
        UNTESTABLE: "not testable at this scale",
    }
    ragged = r"\raggedright\let\\\tabularnewline "  # narrow p-columns unjustified, \\ still ends the row
    order = {p: i for i, p in enumerate(PROVENANCES)}
    grouped = claims.assign(_order=claims["provenance"].map(order)).sort_values("_order", kind="stable")
    rows = []
    for c in grouped.itertuples():
        rows.append(
            {
                "expectation": f"{ragged}\\textbf{{{PROVENANCE_LABELS[c.provenance]}}}, {_tex(c.part)}: "
                f"{_tex(c.expectation)} \\emph{{({_tex(c.source)})}}",
                "measured": ragged + _tex(c.measured),
                "effect": ragged + _tex(c.effect),
                "test": ragged + _tex(c.test),
                "verdict": ragged + verdict[c.verdict],
            }
        )
    return pd.DataFrame(rows)


CLAIMS_COLUMNS = "p{3.6cm}p{3.3cm}p{2.7cm}p{2.8cm}p{1.8cm}"  # fits \\linewidth at \\footnotesize
CLAIMS_CAPTION = (
    "What the problem set and the course notebook state, our own hypotheses, and what this run found: each "
    "verdict is computed from the run's CSV files (Holm-adjusted tests at $\\alpha = \\ClaimsAlpha$, "
    "equivalence margin $\\pm\\ClaimsMargin$ accuracy points; \\S\\ref{sec:claims})."
)


def claims_longtable(claims: pd.DataFrame) -> str:
    """The claims table as a TeX longtable (it runs over pages; its header repeats) with caption and label."""
    return claims_latex_table(claims).to_latex(
        index=False,
        escape=False,
        column_format=CLAIMS_COLUMNS,
        longtable=True,
        caption=CLAIMS_CAPTION,
        label="tab:claims",
    )


def verdict_tally(counts: pd.Series, total: int) -> str:
    """'Of 14 expectations, 9 hold, 1 does not, 1 is inconclusive and 3 are not testable at this scale'."""

    def say(n: int, one: str, many: str) -> str:
        return f"{n} {one if n == 1 else many}"

    parts = [
        say(int(counts.get(HOLDS, 0)), "holds", "hold"),
        say(int(counts.get(FAILS, 0)), "does not", "do not"),
        say(int(counts.get(INCONCLUSIVE, 0)), "is inconclusive", "are inconclusive"),
        say(int(counts.get(UNTESTABLE, 0)), "is not testable at this scale", "are not testable at this scale"),
    ]
    expectations = "expectation" if total == 1 else "expectations"
    return f"Of {total} {expectations}, {', '.join(parts[:-1])} and {parts[-1]}"


def claims_macros(claims: pd.DataFrame, margin: float = EQUIVALENCE_MARGIN) -> dict[str, str]:
    """Counts per verdict, and of our own hypotheses, for the section's text (\\ClaimsTotal, \\ClaimsTally, ...)."""
    counts = claims["verdict"].value_counts()
    provenance = claims["provenance"].value_counts()
    return {
        "ClaimsTotal": str(len(claims)),
        "ClaimsTally": verdict_tally(counts, len(claims)),
        "ClaimsTests": str(int((claims["kind"] == TEST).sum())),
        "ClaimsCounts": str(int((claims["kind"] == COUNT).sum())),
        "ClaimsHypotheses": str(int(provenance.get(HYPOTHESIS, 0))),
        "ClaimsAlpha": f"{ALPHA:g}",
        "ClaimsMargin": f"{margin:g}",
        "ClaimsMinLearned": f"{MIN_LEARNED_ACC:.0f}",
    }
