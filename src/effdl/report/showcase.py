"""The README's showcase of a finished run: a few of its figures as small PNGs and its claims table in Markdown.

    effdl showcase variants/cpu/results --out docs/cpu-tier --readme README.md   # PNGs, claims.md, README block
    effdl showcase variants/cpu/results --out /tmp/show --partial                 # a run in progress, so far

reads `<results>/figs/<name>.pdf` and `<results>/metrics/claims.csv` (rule tex_claims), renders the PDFs with
poppler's `pdftoppm` (installed with TeX by workflow/setup.sh), writes `claims.md` beside the PNGs and puts the
same table into README.md between the SHOWCASE_BEGIN / SHOWCASE_END markers, so README and docs cannot drift.
A finished run's `<results>/benchmarks` also gives `stages.md`: where its wall time went (effdl.report.stages).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from effdl.io import atomic_write, write_text
from effdl.report.claims import FAILS
from effdl.report.provenance import UNTIMED_RULES
from effdl.report.stages import breakdown_markdown, job_intervals, minutes, stage_breakdown

# Parts 1.1, 2 and 3 (one figure per kind of result) and the efficiency frontier that sets them side by side
SHOWCASE_FIGURES = ("lr_sweep", "quantization", "pruning", "frontier")
PNG_DPI = 60  # a 6.5-inch-wide figure -> ~390 px: legible on GitHub, a few tens of kB
SHOWCASE_BEGIN = "<!-- showcase: begin (effdl showcase; do not edit by hand) -->"
SHOWCASE_END = "<!-- showcase: end -->"
PROVENANCE_TABLE = Path("metrics/part1_lr_sweep/epochs.csv")  # any run table: every row carries provenance


class ShowcaseError(RuntimeError):
    """A results folder that cannot be shown: the message names what is missing and how to build it."""


def figure_png(pdf: Path, png: Path, dpi: int = PNG_DPI) -> None:
    """Render the first page of `pdf` to `png` at `dpi` (pdftoppm), written atomically."""
    if shutil.which("pdftoppm") is None:
        raise ShowcaseError("pdftoppm (poppler-utils) is not installed. Fix: bash workflow/setup.sh installs it")
    with tempfile.TemporaryDirectory() as tmp:
        stem = Path(tmp) / "page"
        subprocess.run(
            ["pdftoppm", "-png", "-singlefile", "-r", str(dpi), str(pdf), str(stem)], check=True, capture_output=True
        )
        with atomic_write(png, "wb") as handle:
            handle.write(stem.with_suffix(".png").read_bytes())


def _cell(text: object) -> str:
    return str(text).replace("|", r"\|").replace("\n", " ")


def claims_markdown(claims: pd.DataFrame) -> str:
    """The claims table as GitHub Markdown: part, expectation (whose, and its source), measured, effect (difference
    and CI), test, verdict (bold if it fails); a claims.csv from before the effect column shows none."""
    header = "| part | expectation (whose) | what this run found | effect | test | verdict |"
    lines = [header, "| --- | --- | --- | --- | --- | --- |"]
    for c in claims.itertuples():
        verdict = f"**{c.verdict}**" if c.verdict == FAILS else c.verdict
        whose = f"{c.provenance}: " if isinstance(getattr(c, "provenance", None), str) else ""
        expectation = f"{_cell(c.expectation)} ({_cell(whose)}{_cell(c.source)})"
        effect = getattr(c, "effect", "")
        effect = "" if not isinstance(effect, str) else effect
        lines.append(
            f"| {_cell(c.part)} | {expectation} | {_cell(c.measured)} | {_cell(effect)} | {_cell(c.test)} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def run_line(results: Path) -> str:
    """One line naming the run the showcase comes from: commit, config hash, device, torch (from its rows)."""
    table = results / PROVENANCE_TABLE
    if not table.exists():
        return "Run: provenance not found (no part1_lr_sweep epochs table)."
    row = pd.read_csv(table).iloc[-1]
    return (
        f"Run: commit `{str(row['git_commit'])[:12]}`, config `{str(row['config_hash'])[:12]}`, "
        f"device `{row['device']}`, torch {row['torch_version']}."
    )


def stages_text(table) -> str:
    """stages.md: a first line with the wall time (the README quotes it), then the breakdown table."""
    total = table.set_index("stage").loc["total"]
    untimed = ", ".join(UNTIMED_RULES)
    return (
        f"Wall time {minutes(total['wall seconds'])} from the first job's start to the last timed job's end "
        f"({int(total['jobs'])} timed jobs, {minutes(total['job seconds'])} of job time).\n\n"
        "Each second is split evenly among the jobs running in it (benchmark files: seconds, and the time the "
        "job ended); per-epoch test evaluation is part of training. Rules that write no benchmark file (the "
        f"paper cannot tabulate its own build) are not in it: {untimed}; Snakemake's log says when they ended."
        "\n\n" + breakdown_markdown(table)
    )


def embed(readme: str, block: str) -> str:
    """`readme` with the text between the showcase markers replaced by `block`; the markers must be there."""
    if readme.count(SHOWCASE_BEGIN) != 1 or readme.count(SHOWCASE_END) != 1:
        raise ShowcaseError(f"README.md needs exactly one '{SHOWCASE_BEGIN}' and one '{SHOWCASE_END}' line")
    head, rest = readme.split(SHOWCASE_BEGIN)
    _, tail = rest.split(SHOWCASE_END)
    return f"{head}{SHOWCASE_BEGIN}\n{block}{SHOWCASE_END}{tail}"


def showcase_block(results: Path, out: Path, readme: Path, figures, missing: list[str]) -> str:
    """The README text: the run line, the figures (paths relative to the README), the claims table or, for a
    partial run, a line naming what is still missing."""
    rel = out.resolve().relative_to(readme.resolve().parent)
    images = " ".join(f"![{name}]({(rel / f'{name}.png').as_posix()})" for name in figures)
    claims = out / "claims.md"
    stages = out / "stages.md"
    if stages.exists() and not missing:
        link = (rel / "stages.md").as_posix()
        images += f"\n\n{stages.read_text().splitlines()[0]} By stage: [{link}]({link})."
    if missing:
        tail = (
            f"This run has not finished: {', '.join(missing)} are not built yet, so the claims table "
            "(and those figures) will appear when it has.\n"
        )
    else:
        tail = claims.read_text()
    return f"{run_line(results)}\n\n{images}\n\n{tail}"


def write_showcase(
    results: Path, out: Path, readme: Path | None = None, figures=SHOWCASE_FIGURES, *, partial: bool = False
) -> list[Path]:
    """Write `out`/<figure>.png and `out`/claims.md from a finished `results` folder; update `readme` if given.

    With `partial`, a run still in progress is shown as far as it got: the figures it has, no claims table (and
    no stale one: earlier PNGs and claims.md of missing outputs are removed), and a line naming what is missing.
    """
    results, out = Path(results), Path(out)
    claims_csv = results / "metrics" / "claims.csv"
    wanted = {name: results / "figs" / f"{name}.pdf" for name in figures}
    missing = [str(path) for path in [*wanted.values(), claims_csv] if not path.exists()]
    shown = [name for name, pdf in wanted.items() if pdf.exists()]
    if missing and not (partial and shown):
        raise ShowcaseError(
            f"{results} is not a finished run: missing {', '.join(missing)}. "
            "Fix: build it first (snakemake ... results/paper.pdf with the same --directory and --configfile)"
            + ("" if partial else ", or pass --partial to show what it has")
        )
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in figures:
        if name in shown:
            figure_png(wanted[name], out / f"{name}.png")
            written.append(out / f"{name}.png")
        else:
            (out / f"{name}.png").unlink(missing_ok=True)
    if claims_csv.exists():
        write_text(claims_markdown(pd.read_csv(claims_csv)), out / "claims.md")
        written.append(out / "claims.md")
    else:
        (out / "claims.md").unlink(missing_ok=True)
    benchmarks = results / "benchmarks"
    if benchmarks.is_dir() and not missing:
        write_text(stages_text(stage_breakdown(job_intervals(benchmarks))), out / "stages.md")
        written.append(out / "stages.md")
    else:
        (out / "stages.md").unlink(missing_ok=True)
    if readme is not None:
        block = showcase_block(results, out, Path(readme), shown, [Path(m).name for m in missing])
        write_text(embed(Path(readme).read_text(), block), readme)
        written.append(Path(readme))
    return written


def parser(prog: str = "effdl showcase") -> argparse.ArgumentParser:
    """The command line of `effdl showcase`."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Render a finished run's figures (RESULTS/figs/<name>.pdf) as PNG and its claims table "
        "(RESULTS/metrics/claims.csv) as Markdown into --out; with --readme, also replace that file's showcase "
        "block. Nothing else is written; files it replaces are named first.",
    )
    parser.add_argument("results", type=Path, help="a finished run's results/ folder, e.g. variants/cpu/results")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs and claims.md, e.g. docs/cpu-tier")
    parser.add_argument("--readme", type=Path, help="also update this file's showcase block (e.g. README.md)")
    parser.add_argument("--figures", nargs="+", default=list(SHOWCASE_FIGURES), help="figure names under figs/")
    parser.add_argument("--partial", action="store_true", help="show a run in progress as far as it got")
    return parser


def main(argv: list[str] | None = None, prog: str = "effdl showcase") -> int:
    """`effdl showcase RESULTS --out DIR [--readme README.md]`: writes only where told, and says what it replaces."""
    args = parser(prog).parse_args(argv)
    targets = [args.out / f"{name}.png" for name in args.figures] + [args.out / "claims.md"]
    replaced = [path for path in [*targets, args.readme] if path is not None and path.exists()]
    if replaced:
        print(f"replaces {', '.join(map(str, replaced))}")
    try:
        written = write_showcase(args.results, args.out, args.readme, tuple(args.figures), partial=args.partial)
    except ShowcaseError as err:
        print(err, file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # `python -m effdl.report.showcase`, an alias of `effdl showcase`
    from effdl.cli import main as cli_main

    sys.exit(cli_main(["showcase", *sys.argv[1:]]))
