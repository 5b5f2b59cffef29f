"""Display helpers the submission notebook's cells call: source by object name, figures and tables from results/.

Figures are PDFs (the paper's); `show_figure` rasterises one with poppler's `pdftoppm` and embeds the PNG.
Tables are the generated booktabs TeX the paper inputs; `show_table` parses the tabular into a DataFrame.
IPython is imported lazily, so this module imports without it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from effdl.report.sources import object_source


def _display(*objects) -> None:
    from IPython.display import display

    display(*objects)


def show_source(*refs: str) -> None:
    """Print where each "module:name" object lives in src/ and display its source, read from the file now."""
    from IPython.display import Code

    for ref in refs:
        snippet = object_source(ref)
        print(f"{ref}  ({snippet.display_path()}, lines {snippet.start}-{snippet.end})")
        _display(Code(snippet.text, language="python"))


def pdf_to_png(pdf: str | Path, dpi: int = 90) -> bytes:
    """The first page of a PDF as PNG bytes (poppler's pdftoppm)."""
    if shutil.which("pdftoppm") is None:
        raise RuntimeError(
            "pdftoppm (poppler-utils) is not installed. Fix: run workflow/setup.sh or apt-get install poppler-utils."
        )
    with tempfile.TemporaryDirectory() as tmp:
        stem = Path(tmp) / "page"
        subprocess.run(
            ["pdftoppm", "-png", "-r", str(dpi), "-singlefile", str(pdf), str(stem)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return stem.with_suffix(".png").read_bytes()


def show_figure(path: str, rebuild: str) -> None:
    """Display a figure of the paper from results/ (PDF rasterised, or a PNG as is) with its rebuild command."""
    figure = Path(path)
    if not figure.is_file():
        raise FileNotFoundError(f"{path} does not exist. Fix: build it with `{rebuild}`.")
    from IPython.display import Image

    print(f"{path}  (rebuild: {rebuild})")
    data = figure.read_bytes() if figure.suffix.lower() == ".png" else pdf_to_png(figure)
    _display(Image(data=data, format="png"))


_SYMBOLS = {
    "pm": "±",
    "times": "×",
    "dagger": "†",
    "Delta": "Δ",
    "delta": "δ",
    "approx": "≈",
    "le": "≤",
    "leq": "≤",
    "ge": "≥",
    "geq": "≥",
    "mu": "μ",
    "sigma": "σ",
    "alpha": "α",
    "beta": "β",
    "sin": "sin",
    "cos": "cos",
    "to": "→",
    "cdot": "·",
    "ldots": "...",
}
_TEX_REPLACEMENTS = [
    (re.compile(r"\\(?:textbf|textit|emph|texttt|mathrm|text|textsc)\{([^{}]*)\}"), r"\1"),
    (re.compile(r"\{,\}"), ","),
    (re.compile(r"\\([%&_#$])"), r"\1"),
    (re.compile(r"\\textasciitilde\{\}|\\~\{\}"), "~"),
    *[(re.compile(rf"\\{name}(?![A-Za-z])"), symbol) for name, symbol in _SYMBOLS.items()],
    (re.compile(r"\\,|~"), " "),
    (re.compile(r"\$([^$]*)\$"), r"\1"),
    (re.compile(r"\\multicolumn\{\d+\}\{[^}]*\}\{([^{}]*)\}"), r"\1"),
    (re.compile(r"\\(?:tiny|scriptsize|footnotesize|small|normalsize)(?![A-Za-z])\s*"), ""),  # size switches
]


def detex(cell: str) -> str:
    """Plain text of a simple TeX table cell (formatting macros, escapes and math dollars removed)."""
    text = cell.strip()
    for _ in range(3):  # nested \textbf{\texttt{...}}
        for pattern, repl in _TEX_REPLACEMENTS:
            text = pattern.sub(repl, text)
    return re.sub(r"\s+", " ", text.replace("{", "").replace("}", "")).strip()


def plain_text(tex: str) -> str:
    """Plain text of a TeX snippet such as a caption: formatting removed, remaining commands dropped."""
    text = re.sub(r"\\(?:ref|label|cite)\{[^}]*\}", "", tex)
    text = re.sub(r"\\(?:textbf|textit|emph|texttt|mathrm|text|textsc|nolinkurl|url)\{", "{", text)
    text = detex(text)
    text = re.sub(r"\\[A-Za-z]+\*?", "", text)
    return re.sub(r"\s+", " ", text.replace("\\", "")).strip()


def tex_table_rows(tex: str) -> list[list[str]]:
    """Rows of the first tabular in `tex` as plain-text cells (rules and comments dropped)."""
    match = re.search(r"\\begin\{tabular\}\{.*?\}\n(.*?)\\end\{tabular\}", tex, re.DOTALL)
    if not match:
        raise ValueError("no tabular environment found")
    body = re.sub(r"(?<!\\)%.*", "", match.group(1))
    body = re.sub(r"\\(toprule|midrule|bottomrule|hline)(\[[^\]]*\])?|\\cmidrule(\([^)]*\))?\{[^}]*\}", "", body)
    rows = []
    for raw in re.split(r"\\\\", body):
        if raw.strip():
            rows.append([detex(c) for c in re.split(r"(?<!\\)&", raw)])
    return rows


def show_table(path: str, rebuild: str) -> None:
    """Display a generated table of the paper (results/tex/*.tex) as a DataFrame, with its rebuild command."""
    table = Path(path)
    if not table.is_file():
        raise FileNotFoundError(f"{path} does not exist. Fix: build it with `{rebuild}`.")
    import pandas as pd

    print(f"{path}  (rebuild: {rebuild})")
    tex = table.read_text(encoding="utf-8")
    caption = re.search(r"\\caption\{(.*)\}", tex)
    if caption:
        print(detex(caption.group(1)))
    rows = tex_table_rows(tex)
    header, body = rows[0], rows[1:]
    width = max(len(r) for r in rows)
    header = header + [""] * (width - len(header))
    _display(pd.DataFrame([r + [""] * (width - len(r)) for r in body], columns=header))
