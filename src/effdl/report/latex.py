"""Strict LaTeX build: run latexmk and fail on errors, undefined references and wide overfull boxes."""

from __future__ import annotations

import errno
import re
import shutil
import subprocess
from pathlib import Path

from effdl.io import atomic_write
from effdl.resources import ResourceError, as_resource_error, describe, resource_errno

UNDEFINED = re.compile(r"(LaTeX Warning: (Reference|Citation) .* undefined.*|There were undefined references.*)")
OVERFULL = re.compile(r"Overfull \\[hv]box \((\d+(?:\.\d+)?)pt too (?:wide|high)\).*")
# Errors as `-file-line-error` writes them (`./sections/part2.tex:18: LaTeX Error: ...`) or without it (`! ...`),
# followed (in the log) by TeX's context line `l.18 <the source line>`.
ERROR = re.compile(
    r"^(?:(?P<file>[^\s:!][^:\n]*\.(?:tex|sty|cls|def|bbl|aux|toc|out)):(?P<line>\d+): |! )(?P<msg>.*)"
    r"(?:\n(?:.*\n){0,6}?(?P<context>l\.\d+ .*))?",
    re.MULTILINE,
)


class LatexError(RuntimeError):
    """The paper did not build cleanly; the message quotes the offending LaTeX log line."""


def check_log(log_text: str, max_overfull_pt: float) -> list[str]:
    """Problems found in a LaTeX log: error lines, undefined references/citations, overfull boxes past the limit."""
    problems = [_error_line(m) for m in ERROR.finditer(log_text)]
    problems += sorted({m.group(0) for m in UNDEFINED.finditer(log_text)})
    problems += [m.group(0) for m in OVERFULL.finditer(log_text) if float(m.group(1)) > max_overfull_pt]
    return problems


def _error_line(match: re.Match) -> str:
    """'paper/sections/part2.tex, line 18: LaTeX Error: ... (source: l.18 \\foo)', or '! ...' without a file."""
    context = f" (at {match['context'].strip()})" if match["context"] else ""
    if match["file"]:
        return f"{match['file'].removeprefix('./')}, line {match['line']}: {match['msg'].strip()}{context}"
    return f"! {match['msg'].strip()}{context}"


def _nearly_full(folder: Path, margin: int = 1 << 20) -> bool:
    """Less than `margin` bytes (1 MiB) free where the paper builds: too little for TeX's files."""
    try:
        return shutil.disk_usage(folder).free < margin
    except OSError:
        return False


def build_pdf(
    main_tex: str | Path,
    build_dir: str | Path,
    out_pdf: str | Path,
    max_overfull_pt: float,
    timeout_s: int = 300,
    results_dir: str | None = None,
) -> str:
    """Compile `main_tex` with latexmk into `build_dir`, check the log strictly, copy the PDF to `out_pdf`.

    `results_dir` (relative to main_tex's folder, or absolute) becomes the paper's `\\resultsdir`, where it
    reads generated TeX and figures; None keeps the paper's own default.
    """
    main_tex, build_dir, out_pdf = Path(main_tex).resolve(), Path(build_dir).resolve(), Path(out_pdf)
    try:
        build_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise as_resource_error(err, build_dir, "creating") or err from err
    pretex = [f"-usepretex=\\def\\resultsdir{{{results_dir}}}"] if results_dir else []
    cmd = [
        "latexmk",
        "-pdf",
        "-interaction=nonstopmode",
        "-halt-on-error",
        "-file-line-error",
        "-cd",
        *pretex,
        f"-outdir={build_dir}",
        str(main_tex),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    log_path = build_dir / (main_tex.stem + ".log")
    log_text = log_path.read_text(errors="replace") if log_path.exists() else ""
    problems = check_log(log_text, max_overfull_pt)
    # a full disk makes TeX write truncated .aux/.toc files and then report undefined references: the
    # cause is in latexmk's output or deep in the log (issue 28), so look for it first
    code = None
    if proc.returncode or problems:
        code = resource_errno(RuntimeError(proc.stdout + proc.stderr + log_text))
        # TeX does not check its \write's: a full disk may leave only a short .aux and no message at all
        if code is None and _nearly_full(build_dir):
            code = errno.ENOSPC
    if code is not None:
        raise ResourceError(code, describe(code, build_dir, "building the paper in"), str(build_dir))
    if proc.returncode != 0 or problems:
        detail = "\n".join(problems[:10]) or proc.stdout[-2000:]
        raise LatexError(
            f"the paper did not build cleanly (latexmk exit {proc.returncode}); LaTeX log {log_path}:\n{detail}"
        )
    with atomic_write(out_pdf, "wb") as handle:
        handle.write((build_dir / (main_tex.stem + ".pdf")).read_bytes())
    return proc.stdout
