"""Mutation score of the core modules with mutmut: each module mutated on its own, against only its fast unit tests.

    nice -n 10 .venv/bin/python tests/mutation/run.py engine data          # some modules, every mutant
    nice -n 10 .venv/bin/python tests/mutation/run.py --all --sample 100   # a seeded random sample per module
    nice -n 10 .venv/bin/python tests/mutation/run.py --all --budget 900   # at most 15 min per module
    .venv/bin/python tests/mutation/run.py engine --retest-survivors       # after adding tests: re-run survivors
    .venv/bin/python tests/mutation/run.py --list                          # the module -> tests map

Each module gets a scratch directory (default /tmp/effdl-mutation/<module>) holding a copy of src/ and the unit
tests plus a pyproject.toml whose [tool.mutmut] section mutates that one file and selects that module's test
files; mutmut runs there (one worker, one torch thread, forked from a server that imported torch once), so
nothing is written into the repository. Results: <dir>/summary.json and <dir>/survivors.md (every surviving
mutant's diff). Not part of CI: a full run of all modules takes hours on two cores (a few seconds per mutant), so
--sample N checks a seeded uniform random sample of N mutants per module, and the score comes with a 95 % interval.
Lines that only log (`log(...)`, `print(...)`) are not mutated: their text never reaches a result.

mutmut skips decorated functions; this runner lets it mutate the ones decorated only with @torch.no_grad() or
@torch.inference_mode() (engine.evaluate, the pruning helpers, LoRA's merge), which keep working as trampolines.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_ROOT = Path("/tmp/effdl-mutation")
KA = "tests/test_engine_known_answers.py"

# module -> (source file, unit-test files that exercise it); keep the test lists to fast, CPU-only files
MODULES: dict[str, tuple[str, list[str]]] = {
    "data": ("src/effdl/data.py", ["tests/test_data.py", "tests/test_data_sources.py", "tests/test_engine.py", KA]),
    "engine": ("src/effdl/engine.py", ["tests/test_engine.py", "tests/test_engine_progress.py", KA]),
    "quant": ("src/effdl/compress/quant.py", ["tests/test_quant.py"]),
    "prune": ("src/effdl/compress/prune.py", ["tests/test_prune.py"]),
    "lora": ("src/effdl/compress/lora.py", ["tests/test_lora.py"]),
    "dwconv": ("src/effdl/models/dwconv.py", ["tests/test_dwconv.py"]),
    "matmul_count": (
        "src/effdl/studies/matmul_count.py",
        ["tests/test_transformer.py", "tests/test_matmul_known_answers.py"],
    ),
    "texgen": ("src/effdl/report/texgen.py", ["tests/test_texgen.py", "tests/test_texgen_known_answers.py"]),
    "stats": ("src/effdl/report/stats.py", ["tests/test_report_stats.py"]),  # the comparison words (issue 14)
}
KILLED = {"killed", "caught by type check"}
NOT_RUN = {"not checked", "check was interrupted by user"}
SELF = str(Path(__file__).resolve())


def toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def prepare(module: str, workdir: Path, fresh: bool) -> None:
    """Lay out the scratch directory: src/, the unit tests, and a pyproject.toml configuring mutmut."""
    source, tests = MODULES[module]
    if fresh and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "workflow", "slurm", "mutation")
    if not (workdir / "src").exists():
        shutil.copytree(REPO / "src", workdir / "src", ignore=ignore)
    shutil.rmtree(workdir / "tests", ignore_errors=True)
    shutil.copytree(REPO / "tests", workdir / "tests", ignore=ignore)
    section = f"""
[tool.mutmut]
source_paths = ["src"]
only_mutate = [{json.dumps(source)}]
pytest_add_cli_args_test_selection = {toml_list(tests)}
pytest_add_cli_args = ["-p", "no:cacheprovider", "-m", "not slow and not slurm"]
process_isolation = "forkserver"
use_git_change_detection = false
timeout_multiplier = 10.0
do_not_mutate_patterns = ['^\\s*(log|print)\\(']
"""
    (workdir / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text() + section)


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CI")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", EFFDL_TEST_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def helper(workdir: Path, *args: str) -> None:
    """Run one of this script's internal steps in `workdir` (where mutmut reads its config)."""
    subprocess.run([sys.executable, SELF, *args], cwd=workdir, env=environment(), check=True, stdout=subprocess.DEVNULL)


def run_mutmut(workdir: Path, names: list[str], budget_s: float | None, log) -> int:
    """Run `mutmut run` (patched, see _patch_mutmut) in `workdir`; interrupt it when the budget is spent."""
    cmd = [sys.executable, SELF, "_mutmut", "run", "--max-children", "1", *names]
    with open(workdir / "mutmut.log", "a") as out:
        proc = subprocess.Popen(
            cmd, cwd=workdir, env=environment(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            proc.wait(timeout=budget_s)
        except subprocess.TimeoutExpired:
            log(f"  budget of {budget_s:.0f} s spent: interrupting mutmut (finished mutants keep their result)")
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return proc.returncode


def wilson(killed: int, n: int, z: float = 1.96) -> list[float] | None:
    """95 % Wilson score interval of a kill rate, in percent."""
    if n == 0:
        return None
    p = killed / n
    centre, half = p + z * z / (2 * n), z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    return [round(100 * (centre - half) / (1 + z * z / n), 1), round(100 * (centre + half) / (1 + z * z / n), 1)]


# ---------------------------------------------------------------------------------------------
# Internal steps, each run in a module's scratch directory


def _patch_mutmut() -> None:
    """Let mutmut mutate functions whose only decorators are torch's grad-mode ones."""
    import libcst as cst
    from mutmut.mutation.file_mutation import MutationVisitor

    def grad_mode(decorator: cst.Decorator) -> bool:
        node = decorator.decorator
        return (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and isinstance(node.func.value, cst.Name)
            and node.func.value.value == "torch"
            and node.func.attr.value in ("no_grad", "inference_mode")
            and not node.args
        )

    original = MutationVisitor._skip_node_and_children

    def skip(self, node):
        if isinstance(node, cst.FunctionDef) and node.decorators and all(map(grad_mode, node.decorators)):
            position = self.get_metadata(cst.metadata.PositionProvider, node, None)
            if position and position.start.line in self._ignored_node_lines:
                return original(self, node)
            return original(self, node.with_changes(decorators=[]))
        return original(self, node)

    MutationVisitor._skip_node_and_children = skip


def _mutmut(argv: list[str]) -> int:
    """mutmut's command line, patched."""
    _patch_mutmut()
    from mutmut.__main__ import cli

    return cli.main(args=argv, prog_name="mutmut", standalone_mode=True)


def _generate() -> None:
    """Generate the mutants (the first step of `mutmut run`) and write their names to mutants.json."""
    _patch_mutmut()
    from mutmut.__main__ import copy_also_copy_files, create_mutants, setup_source_paths
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.trampoline import set_mutant_under_test
    from mutmut.utils.file_utils import copy_src_dir, walk_mutatable_files

    set_mutant_under_test("mutant_generation")
    Path("mutants").mkdir(exist_ok=True)
    copy_src_dir()
    copy_also_copy_files()
    setup_source_paths()
    create_mutants(1)
    names = []
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        names += sorted(data.exit_code_by_key)
    Path("mutants.json").write_text(json.dumps(names))


def _summary() -> None:
    """Counts per status to summary.json, and survivors.md with each survivor's diff."""
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.file_utils import walk_mutatable_files

    counts: Counter = Counter()
    survivors = []
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        for name, code in data.exit_code_by_key.items():
            status = status_by_exit_code[code]
            counts[status] += 1
            if status not in KILLED | NOT_RUN:
                survivors.append((name, status, str(path)))
    checked = sum(n for s, n in counts.items() if s not in NOT_RUN)
    killed = sum(counts[s] for s in KILLED)
    summary = {
        "counts": dict(counts),
        "total": sum(counts.values()),
        "checked": checked,
        "killed": killed,
        "not_run": sum(counts[s] for s in NOT_RUN),
        "score": round(100.0 * killed / checked, 1) if checked else None,
        "ci95": wilson(killed, checked),
        "survivors": [name for name, _, _ in survivors],
    }
    Path("summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = ["# surviving mutants\n"]
    for name, status, path in survivors:
        lines += [f"## {name} ({status})\n", "```diff", get_diff_for_mutant(name, path=path), "```\n"]
    Path("survivors.md").write_text("\n".join(lines))


INTERNAL = {"_generate": _generate, "_summary": _summary}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_mutmut"]:
        return _mutmut(argv[1:])
    if argv[:1] and argv[0] in INTERNAL:
        INTERNAL[argv[0]]()
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=f"one or more of {', '.join(MODULES)}")
    parser.add_argument("--all", action="store_true", help="every core module, one after the other")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="scratch root (default %(default)s)")
    parser.add_argument("--budget", type=float, default=None, help="seconds per module before interrupting")
    parser.add_argument("--sample", type=int, default=None, help="check a seeded random sample of N mutants")
    parser.add_argument("--seed", type=int, default=20, help="seed of the sample (default %(default)s)")
    parser.add_argument("--resume", action="store_true", help="keep earlier results in the scratch directory")
    parser.add_argument(
        "--retest-survivors",
        action="store_true",
        help="refresh the tests and re-run the surviving mutants only (implies --resume)",
    )
    parser.add_argument("--list", action="store_true", help="print the module -> source, tests map and exit")
    args = parser.parse_args(argv)
    if args.list:
        for module, (source, tests) in MODULES.items():
            print(f"{module:13s} {source:36s} {' '.join(tests)}")
        return 0
    modules = list(MODULES) if args.all else args.modules
    if not modules:
        parser.error("name at least one module, or --all")
    unknown = sorted(set(modules) - set(MODULES))
    if unknown:
        parser.error(f"unknown module(s) {unknown}; known: {', '.join(MODULES)}")
    missing = [MODULES[m][0] for m in modules if not (REPO / MODULES[m][0]).exists()]
    if missing:
        parser.error(f"source file(s) {missing} not found; update MODULES in {Path(__file__).name}")
    for module in modules:
        workdir = args.root / module
        names: list[str] = []
        if args.retest_survivors:
            if not (workdir / "summary.json").exists():
                parser.error(f"no earlier run of {module} in {workdir}")
            names = json.loads((workdir / "summary.json").read_text())["survivors"]
            if not names:
                print(f"{module}: no survivors to re-test")
                continue
        prepare(module, workdir, fresh=not (args.resume or args.retest_survivors))
        start = time.monotonic()
        if args.sample and not names:
            helper(workdir, "_generate")
            everything = json.loads((workdir / "mutants.json").read_text())
            names = sorted(random.Random(args.seed).sample(everything, min(args.sample, len(everything))))
            print(f"{module}: sampled {len(names)} of {len(everything)} mutants (seed {args.seed})", flush=True)
        source, tests = MODULES[module]
        print(f"{module}: mutating {source} against {' '.join(tests)} in {workdir}", flush=True)
        code = run_mutmut(workdir, names, args.budget, lambda msg: print(msg, flush=True))
        helper(workdir, "_summary")
        summary = json.loads((workdir / "summary.json").read_text())
        print(
            f"{module}: mutmut exit {code} after {time.monotonic() - start:.0f} s; killed {summary['killed']} of "
            f"{summary['checked']} checked ({summary['score']} %, 95 % interval {summary['ci95']}) of "
            f"{summary['total']} mutants; {len(summary['survivors'])} survivors in {workdir / 'survivors.md'}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
