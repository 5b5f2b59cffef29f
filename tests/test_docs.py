"""docs/architecture.md lists every module under src/effdl/, and every effdl name it mentions exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
DOC = (REPO / "docs" / "architecture.md").read_text()


def module_file(dotted: str) -> Path | None:
    """The file of a dotted module or package name, or None."""
    path = SRC.joinpath(*dotted.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def all_modules() -> set[str]:
    names = set()
    for path in (SRC / "effdl").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_module_is_documented():
    mentioned = set(re.findall(r"`(effdl(?:\.\w+)*)", DOC))
    missing = sorted(all_modules() - mentioned - {"effdl"})
    assert not missing, f"docs/architecture.md does not list {missing}"


def test_every_documented_name_exists():
    wrong = []
    for dotted in sorted(set(re.findall(r"\beffdl(?:\.\w+)+", DOC))):
        if module_file(dotted):
            continue
        parent, _, attribute = dotted.rpartition(".")
        source = module_file(parent)
        defined = source and re.search(rf"^(?:def|class) {attribute}\b|^{attribute}\s*=", source.read_text(), re.M)
        if not defined:
            wrong.append(dotted)
    assert not wrong, f"docs/architecture.md names {wrong}, which do not exist"


def test_the_checks_see_a_missing_module():
    assert module_file("effdl.engine") is not None and module_file("effdl.no_such_module") is None
    assert "effdl.report.part3" in all_modules()


def test_readme_showcase_block_is_the_generated_one():
    """The README's showcase block holds docs/cpu-tier/claims.md verbatim (python -m effdl.report.showcase)."""
    from effdl.report.showcase import SHOWCASE_BEGIN, SHOWCASE_END

    readme = (REPO / "README.md").read_text()
    assert readme.count(SHOWCASE_BEGIN) == 1 and readme.count(SHOWCASE_END) == 1
    block = readme.split(SHOWCASE_BEGIN)[1].split(SHOWCASE_END)[0]
    claims = REPO / "docs" / "cpu-tier" / "claims.md"
    if claims.exists():
        assert claims.read_text() in block, "README's showcase is stale: rerun python -m effdl.report.showcase"
    for image in re.findall(r"\]\((docs/cpu-tier/[\w.-]+\.png)\)", block):
        assert (REPO / image).is_file(), image


# ---- every command README.md and docs/ print is a command that works (issue 25)

DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# commands the docs print that a test cannot run here, each with the reason
NOT_RUN = {
    "export": "sets an environment variable",
    "source": "reads tests/slurm/cluster.sh's env file (tests/workflow/test_slurm.py)",
    "python -c": "downloads ImageNet weights (tests/test_weights_download.py checks the hash logic)",
}


def doc_commands() -> list[tuple[str, str]]:
    """(file, command) for every line of a ```bash block and every complete inline `.venv/bin/...`, `bash ...`
    or `effdl ...` span; `a && b` gives two commands, comments are dropped, placeholders (`...`, `<x>`) skipped."""
    import shlex

    found = []
    for path in DOC_FILES:
        text = path.read_text()
        lines = [line for block in re.findall(r"```bash\n(.*?)```", text, re.S) for line in block.splitlines()]
        lines += re.findall(r"`((?:\.venv/bin/|bash |effdl )[^`]+)`", text)
        for line in lines:
            line = line.split(" # ", 1)[0].split("  #", 1)[0].strip()
            if not line or line.startswith("#") or re.search(r"\.\.\.|<\w|\[\w", line):
                continue
            for command in line.split("&&"):
                words = shlex.split(command)
                if words[:3] == ["nice", "-n", "10"]:
                    words = words[3:]
                found.append((path.name, " ".join(shlex.quote(w) for w in words)))
    return found


def snakemake_problems(args: list[str]) -> list[str]:
    """What is wrong with a snakemake command line: options Snakemake refuses, files, rules and keys that do not
    exist. Parsed with Snakemake's own parser, so a misspelt flag fails here."""
    import yaml
    from snakemake.cli import get_argument_parser

    try:
        parsed = get_argument_parser().parse_args(args)
    except SystemExit:
        return [f"snakemake refuses {args}"]
    problems = [f"no config file {f}" for f in parsed.configfile or [] if not (REPO / f).is_file()]
    profile = parsed.workflow_profile
    if profile and profile != "none" and not (REPO / profile / "config.yaml").is_file():
        problems.append(f"no workflow profile {profile}")
    rules_text = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    problems += [f"no rule {r}" for r in parsed.until or [] if f"rule {r}:" not in rules_text]
    for target in parsed.targets or []:
        figure = re.fullmatch(r"results/figs/(\w+)\.pdf", target)
        if not figure or f'"results/figs/{figure.group(1)}.pdf"' not in rules_text:
            problems.append(f"target {target} is no figure a rule writes")
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for setting in parsed.config or []:
        key = setting.split("=", 1)[0]
        if key not in config:
            problems.append(f"--config {key}: no such key in config/config.yaml")
    return problems


def command_problems(command: str) -> list[str]:
    """Check one documented command without running anything expensive; [] when it holds."""
    import shlex

    from effdl import cli

    words = shlex.split(command)
    program, args = words[0], words[1:]
    if program in NOT_RUN or f"{Path(program).name} {args[0] if args else ''}".strip() in NOT_RUN:
        return []
    if program.endswith("snakemake"):
        return snakemake_problems(args)
    if program.endswith("effdl"):
        if {"-h", "--help"} & set(args):
            return [] if args[0] in cli.COMMANDS else [f"no effdl command {args[0]}"]
        try:
            parsed = cli.parser_of(args[0]).parse_args(args[1:])
        except SystemExit:
            return [f"effdl refuses {args}"]
        return [f"no config file {f}" for f in getattr(parsed, "configfile", []) if not (REPO / f).is_file()]
    if program == "bash":
        script = REPO / args[0]
        if not script.is_file():
            return [f"no script {args[0]}"]
        text = script.read_text()
        return [
            f"{args[0]} has no option {a}"
            for a in args[1:]
            if not re.search(rf"(?<![\w-]){re.escape(a)}(?![\w-])", text)
        ]
    if program == "python" and args[:2] == ["-m", "venv"]:
        return []
    if program.endswith("/pip") and args[:2] == ["install", "-c"]:
        extras = re.findall(r"\.\[(\w+)\]", " ".join(args))
        pyproject = (REPO / "pyproject.toml").read_text()
        return [f"no extra {e}" for e in extras if f"\n{e} = [" not in pyproject] + (
            [] if (REPO / args[2]).is_file() else [f"no {args[2]}"]
        )
    if program.endswith("/python"):
        if args[:2] == ["-m", "pytest"]:
            paths = [a for a in args[2:] if a.startswith("tests/")]
            return [f"no test file {p}" for p in paths if not (REPO / p).exists()]
        if args and args[0].endswith(".py"):
            return [] if (REPO / args[0]).is_file() else [f"no script {args[0]}"]
    return [f"no check for this kind of command: {command} (add one to tests/test_docs.py)"]


def test_every_documented_command_exists_and_parses():
    commands = doc_commands()
    assert len(commands) > 40, "the command collector found too little: is the markup still ```bash?"
    problems = [f"{name}: {command}: {p}" for name, command in commands for p in command_problems(command)]
    assert not problems, "\n".join(problems)


def test_the_command_checks_see_a_broken_command():
    assert command_problems(".venv/bin/snakemake --no-such-flag")
    assert command_problems(".venv/bin/snakemake --configfile config/nope.yaml")
    assert command_problems(".venv/bin/snakemake results/figs/no_such_figure.pdf")
    assert command_problems(".venv/bin/effdl plan --cores 4")
    assert command_problems("bash workflow/setup.sh --no-such-option")
    assert command_problems("rm -rf results")


def test_the_readme_stays_short_and_maps_docs():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 180
    for page in ("gpu", "slurm", "recovery", "cache", "performance", "configuration", "architecture"):
        assert f"(docs/{page}.md)" in readme, f"README's docs map lacks docs/{page}.md"
        if page == "recovery" and not (REPO / "docs" / "recovery.md").exists():
            continue  # written on branch h-robust; checked once merged
        assert (REPO / "docs" / f"{page}.md").is_file(), page
    smoke = readme.index("--configfile config/smoke.yaml")
    assert smoke < readme.index(".venv/bin/snakemake                "), "the smoke run comes before the full study"
    ci = (REPO / ".ci" / "run").read_text()
    assert "pytest" in ci and "bash workflow/setup.sh && .venv/bin/python -m pytest -q" in readme
