"""`effdl`: the study's one command line (status, plan, bench, check, showcase); each tool is imported only to run.

    effdl status                       where every planned training run stands (torch-free, read-only)
    effdl plan [TARGET ...]            what the requested targets cost before they run (the start-up banner's numbers)
    effdl bench                        this machine's ConvNet throughput (results/bench/), which `plan` then uses
    effdl check --configfile F ...     config files' YAML, schema and data sources, before any Snakemake run
    effdl showcase RESULTS --out DIR   a finished run's figures as PNG and its claims table in Markdown

Options are spelled as Snakemake spells them (`--configfile A B`, `--directory`, `--config K=V`), so a Snakemake
command line's options carry over. `--help` imports no torch; output piped into `head` ends without a traceback.
The old module entry points (`python -m effdl.status`, `python -m effdl.bench`, ...) call the same functions.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# subcommand -> (module whose main(argv, prog) runs it, one-line help); nothing is imported until it runs
COMMANDS = {
    "status": ("effdl.status", "where every planned training run stands: done / running / pending / failed, ETA"),
    "plan": ("effdl.plan.estimate", "the training work and time of the requested targets, before they run"),
    "bench": ("effdl.bench.__main__", "measure this machine's ConvNet training and evaluation throughput"),
    "check": ("effdl.plan.preflight", "check config files (YAML, schema, data sources) before a run"),
    "showcase": ("effdl.report.showcase", "a finished run's figures as PNG and its claims table, where told"),
}


def add_configfile(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """`--configfile A B ...` as Snakemake has it: overlays on config/config.yaml, in order."""
    parser.add_argument(
        "--configfile",
        "--configfiles",
        nargs="+",
        default=[],
        metavar="FILE",
        required=required,
        help="config overlays on config/config.yaml, in order, as given to snakemake",
    )


def bench_parser(prog: str = "effdl bench") -> argparse.ArgumentParser:
    """The bench's command line, built without torch so that `effdl bench --help` is instant."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Measure the seed's ConvNet training and evaluation throughput on this machine, through the "
        "seed's classic pipeline (PIL + DataLoader) and through the engine in each precision; writes CSVs to "
        "results/bench/, from which the start-up plan and `effdl plan` take their rates.",
    )
    parser.add_argument("--quick", action="store_true", help="the CI version (about a minute on a 2-core CPU)")
    parser.add_argument("--steps", type=int, help="timed training steps per pipeline and round")
    parser.add_argument("--warmup", type=int, help="untimed steps before timing")
    parser.add_argument("--repeats", type=int, help="interleaved rounds (ratios are medians over rounds)")
    parser.add_argument("--batch-size", type=int, help="training batch size, the same for every pipeline")
    parser.add_argument("--eval-images", type=int, help="test images per evaluation pass")
    parser.add_argument(
        "--eval-batch-size",
        type=lambda text: text if text == "auto" else int(text),
        help="the engine's evaluation batch: auto (default: the batch and layout a probe measured fastest) or N",
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--out", default="results/bench", help="output folder for the CSVs")
    parser.add_argument(
        "--data",
        help="packed .pt or ImageFolder dir/.tar.gz (default: results/data/cifar10.pt "
        "when it holds enough images, else ../shared/data/cifar10-jpeg.tar.gz)",
    )
    parser.add_argument("--train-per-class", type=int, help="training images per class for throughput/epochs")
    parser.add_argument("--test-per-class", type=int, help="test images per class")
    parser.add_argument(
        "--engine",
        nargs="+",
        metavar="VARIANT",
        help="engine variants to time: fp32|bf16 with optional +cl (channels_last), +compile, +foreach or "
        "+fused (the SGD step) and +nofold or +nofuse (evaluation without the engine's BatchNorm folding and ReLU "
        "fusion, or without the fusion), e.g. fp32 fp32+cl bf16 bf16+cl bf16+cl+compile bf16+cl+foreach bf16+cl+nofold",
    )
    parser.add_argument("--workers", nargs="+", type=int, help="DataLoader num_workers values for the classic pipeline")
    parser.add_argument("--epoch-timing", action="store_true", help="time whole epochs (always on for CUDA)")
    parser.add_argument("--acc-epochs", type=int, help="epochs of the bf16-vs-fp32 accuracy check (0 skips it)")
    parser.add_argument("--acc-seeds", type=int, nargs="+", help="seeds of the accuracy check")
    parser.add_argument("--acc-train-per-class", type=int, help="training images per class of the accuracy check")
    parser.add_argument("--acc-test-per-class", type=int, help="test images per class of the accuracy check")
    parser.add_argument("--acc-batch-size", type=int, help="batch size of the accuracy check")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument(
        "--small-batch",
        action="store_true",
        help="also time a batch-1 MNIST MLP step against the notebook's loop (effdl.bench.small_batch)",
    )
    parser.add_argument(
        "--small-batch-data",
        help="real MNIST for --small-batch: a packed data set from prepare_data, e.g. results/data/mnist.pt "
        "(default: random images, whose dead units and so step costs differ from real digits')",
    )
    parser.add_argument(
        "--overhead",
        action="store_true",
        help="also time what a job costs before its first step: imports, data, model (effdl.bench.overhead)",
    )
    parity = parser.add_argument_group("parity with the notebook (--parity; see effdl.bench.parity)")
    parity.add_argument("--parity", action="store_true", help="train the classic pipeline and the engine, k seeds each")
    parity.add_argument("--parity-train-per-class", type=int, default=1000, help="training images per class")
    parity.add_argument("--parity-test-per-class", type=int, help="test images per class (default: the whole split)")
    parity.add_argument("--parity-epochs", type=int, default=5, help="epochs per run (Part 1.1's 5)")
    parity.add_argument("--parity-lr", type=float, default=0.1, help="constant SGD learning rate")
    parity.add_argument("--parity-seeds", type=int, nargs="+", default=[43, 44, 45], help="seeds per pipeline")
    parity.add_argument("--parity-workers", type=int, default=2, help="classic DataLoader workers (the seed's 2)")
    parity.add_argument("--parity-precision", default="auto", help="the engine's precision: auto | fp32 | bf16")
    return parser


def top_parser() -> argparse.ArgumentParser:
    """`effdl --help`: the subcommands and what each does."""
    parser = argparse.ArgumentParser(
        prog="effdl",
        description="The study's one command line: status, plan, bench, check and showcase.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `effdl <command> --help` for a command's options. Full study: snakemake (docs/configuration.md).",
    )
    sub = parser.add_subparsers(dest="command", metavar="command", required=True)
    for name, (_, text) in COMMANDS.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser


def parser_of(command: str) -> argparse.ArgumentParser:
    """A subcommand's argument parser (tests check every `effdl` command the docs print against it)."""
    if command == "bench":
        return bench_parser()
    return importlib.import_module(COMMANDS[command][0]).parser(f"effdl {command}")


def run(command: str, argv: list[str]) -> int:
    """Import the command's module and run its main(argv, prog)."""
    if command == "bench" and {"-h", "--help"} & set(argv):
        bench_parser().parse_args(argv)  # the bench's modules import torch: answer --help before them
    module = importlib.import_module(COMMANDS[command][0])
    return module.main(argv, prog=f"effdl {command}") or 0


def quiet_broken_pipe() -> int:
    """stdout's reader went away (`effdl status | head`): stop without a traceback, as a pipe-aware tool does."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # Python's flush at exit would raise again
    return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by the closed pipe


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `effdl` script ([project.scripts] in pyproject.toml)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        top_parser().parse_args(argv)  # prints the help or the error and exits
        return 2
    try:
        code = run(argv[0], argv[1:])
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return quiet_broken_pipe()
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
