"""Unicode in user strings that reach TeX: common symbols mapped to pdfLaTeX commands, the rest refused early."""

from __future__ import annotations

# Characters pdfLaTeX (utf8 input, T1 fonts) cannot typeset as they are, with a TeX spelling that needs no package.
UNICODE_TO_TEX = {
    "\u2265": r"\ensuremath{\geq}",  # ≥
    "\u2264": r"\ensuremath{\leq}",  # ≤
    "\u2260": r"\ensuremath{\neq}",  # ≠
    "\u2248": r"\ensuremath{\approx}",  # ≈
    "\u00b1": r"\ensuremath{\pm}",  # ±
    "\u00d7": r"\ensuremath{\times}",  # ×
    "\u2212": r"\ensuremath{-}",  # − (minus sign)
    "\u2192": r"\ensuremath{\rightarrow}",  # →
    "\u2190": r"\ensuremath{\leftarrow}",  # ←
    "\u2194": r"\ensuremath{\leftrightarrow}",  # ↔
    "\u21d2": r"\ensuremath{\Rightarrow}",  # ⇒
    "\u221e": r"\ensuremath{\infty}",  # ∞
    "\u2713": r"\ensuremath{\surd}",  # ✓
    "\u2714": r"\ensuremath{\surd}",  # ✔
    "\u2717": r"\ensuremath{\times}",  # ✗
    "\u2718": r"\ensuremath{\times}",  # ✘
    "\u00b5": r"\ensuremath{\mu}",  # µ (micro sign)
    "\u03bc": r"\ensuremath{\mu}",  # μ
    "\u03b1": r"\ensuremath{\alpha}",
    "\u03b2": r"\ensuremath{\beta}",
    "\u03b3": r"\ensuremath{\gamma}",
    "\u03b4": r"\ensuremath{\delta}",
    "\u03b5": r"\ensuremath{\epsilon}",
    "\u03bb": r"\ensuremath{\lambda}",
    "\u03c3": r"\ensuremath{\sigma}",
    "\u2014": "---",  # — em dash
    "\u2013": "--",  # – en dash
    "\u2018": "`",  # ‘
    "\u2019": "'",  # ’
    "\u201c": "``",  # “
    "\u201d": "''",  # ”
    "\u2026": r"\ldots{}",  # …
    "\u00a0": "~",  # no-break space
    "\u00b0": r"\textdegree{}",  # °
    "\u2022": r"\textbullet{}",  # •
    "\u00a7": r"\S{}",  # §
    "\u20ac": r"\texteuro{}",  # €
}


def typesettable(ch: str) -> bool:
    """True when pdfLaTeX with T1 fonts typesets `ch` as it is: printable ASCII, or a Latin-1 letter/sign."""
    code = ord(ch)
    return 0x20 <= code < 0x7F or (0xA1 <= code <= 0xFF and ch not in UNICODE_TO_TEX) or ch in "\n\t"


def unmappable(text: str) -> list[str]:
    """The distinct characters of `text` that neither typeset as they are nor have a TeX spelling here."""
    return sorted({ch for ch in str(text) if not typesettable(ch) and ch not in UNICODE_TO_TEX})


def map_unicode(text: str) -> str:
    """Replace every mapped Unicode symbol by its TeX spelling (apply after escaping TeX specials)."""
    return "".join(UNICODE_TO_TEX.get(ch, ch) for ch in str(text))


def describe(chars: list[str]) -> str:
    """'≥ (U+2265), ☃ (U+2603)' for a message."""
    return ", ".join(f"{ch} (U+{ord(ch):04X})" for ch in chars)
