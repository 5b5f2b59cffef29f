"""Checks that run before any job (while Snakemake builds the DAG, or in `onstart`), torch-free.

Each returns problems as messages naming the config key and the fix, so the workflow can stop before a job
deletes a finished output: config files' YAML syntax (file, line), `--config` strings coerced to the schema's
types, the requested device on this host, strings that reach TeX, data set sources, number of classes.
Run `effdl check --configfile overlay.yaml ...` to check config files by hand.
"""

from __future__ import annotations

import os
import shutil
import sys
import tarfile
from pathlib import Path
from typing import Any

import yaml

from effdl.plan.texchars import describe, unmappable

NVIDIA_PROC = Path("/proc/driver/nvidia")
# Classes of the data sets whose loaders are fixed (torchvision CIFAR10/MNIST, the CINIC-10 release).
KNOWN_CLASSES = {"cifar10": 10, "mnist": 10, "cinic10": 10}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


# ---------------------------------------------------------------------------------------------
# Config files and --config values


def yaml_problem(path: str | Path) -> str | None:
    """None when `path` is readable YAML holding a mapping; else a message with the file, line and column."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        return f"config file {path} cannot be read ({err.strerror}). Fix: check the --configfile path."
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        context = getattr(err, "context", None)
        detail = f"{problem} ({context})" if context else problem
        return (
            f"config file {where}: YAML syntax error: {detail}. Fix: correct the YAML there "
            "(indent with spaces, close every bracket and quote)."
        )
    if data is not None and not isinstance(data, dict):
        kind = type(data).__name__
        return f"config file {path} holds a {kind}, not a mapping of config keys. Fix: see config/README.md."
    return None


def _types(node: dict) -> set[str]:
    kind = node.get("type")
    kinds = set(kind) if isinstance(kind, list) else {kind} if kind else set()
    for branch in node.get("oneOf", []) + node.get("anyOf", []):
        kinds |= _types(branch)
    return kinds


def _coerce_scalar(value: str, node: dict) -> Any:
    enum = node.get("enum")
    kinds = _types(node)
    if enum is None and (not kinds or "string" in kinds):
        return value
    if enum is not None and value in enum:
        return value
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    if enum is not None:
        return parsed if any(parsed == e and type(parsed) is type(e) for e in enum) else value
    fits = {
        "integer": isinstance(parsed, int) and not isinstance(parsed, bool),
        "number": isinstance(parsed, (int, float)) and not isinstance(parsed, bool),
        "boolean": isinstance(parsed, bool),
        "null": parsed is None,
    }
    return parsed if any(fits.get(kind, False) for kind in kinds) else value


def _child(node: dict, key: Any) -> dict:
    if isinstance(key, int):
        return node.get("items", {}) if isinstance(node.get("items"), dict) else {}
    for branch in [node] + node.get("oneOf", []) + node.get("anyOf", []):
        props = branch.get("properties", {})
        if key in props:
            return props[key]
    extra = node.get("additionalProperties")
    return extra if isinstance(extra, dict) else {}


def coerce_cli_values(config: dict, cli: dict, schema: dict) -> None:
    """Turn the strings Snakemake's `--config k=v` leaves inside lists and mappings ('seeds=[43,44]' gives
    ['43', '44']) into the numbers, booleans or nulls the schema expects at that key. Only keys given on the
    command line are touched: a quoted '64' in a YAML file stays a (wrong-typed) string."""

    def walk(target: Any, given: Any, node: dict) -> Any:
        if isinstance(given, dict) and isinstance(target, dict):
            for key in given:
                if key in target:
                    target[key] = walk(target[key], given[key], _child(node, key))
            return target
        if isinstance(target, list):
            return [walk(item, item, _child(node, i)) for i, item in enumerate(target)]
        if isinstance(target, str):
            return _coerce_scalar(target, node)
        return target

    walk(config, dict(cli), schema)


# ---------------------------------------------------------------------------------------------
# The requested device


def host_device_problem(device: str, environ: dict | None = None) -> str | None:
    """Why `device` cannot work on this host, where that is knowable without torch; None otherwise.

    'cuda'/'cuda:N' needs the NVIDIA driver (/proc/driver/nvidia or nvidia-smi) and, for N, at least N+1
    GPUs; CUDA_VISIBLE_DEVICES='' hides every GPU. 'mps' needs macOS. 'auto' and 'cpu' always work.
    """
    environ = os.environ if environ is None else environ
    fix = (
        "Fix: use --config device=cpu (or device=auto, which falls back to the CPU), run on a GPU machine, "
        "or submit through the SLURM profile (GPU nodes check their own device)."
    )
    if device.startswith("cuda"):
        if sys.platform.startswith("linux") and not NVIDIA_PROC.exists() and not shutil.which("nvidia-smi"):
            return (
                f"config key 'device' is {device!r}, but this host has no NVIDIA driver "
                f"(no {NVIDIA_PROC}, no nvidia-smi on PATH), so every torch job would fail. {fix}"
            )
        visible = environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None and visible.strip() in ("", "-1"):
            return f"config key 'device' is {device!r}, but CUDA_VISIBLE_DEVICES={visible!r} hides every GPU. {fix}"
        gpus = NVIDIA_PROC / "gpus"
        if ":" in device and gpus.is_dir():
            count = len(list(gpus.iterdir()))
            if int(device.split(":")[1]) >= count:
                return (
                    f"config key 'device' is {device!r}, but this host has {count} NVIDIA GPU(s) "
                    f"(cuda:0..cuda:{count - 1}). Fix: pick one of those, or use device=cuda."
                )
    if device == "mps" and sys.platform != "darwin":
        return f"config key 'device' is 'mps' (Apple GPUs), but this host runs {sys.platform}. {fix}"
    return None


# ---------------------------------------------------------------------------------------------
# Strings that reach TeX


def tex_problems(config: dict, configfiles=()) -> list[str]:
    """User strings that end up in the paper (paper.label, data set paths, config file names) must typeset."""
    strings = {"paper.label": config.get("paper", {}).get("label")}
    for name, source in (config.get("datasets") or {}).items():
        for key in ("path", "root", "url"):
            if isinstance(source, dict):
                strings[f"datasets.{name}.{key}"] = source.get(key)
    strings.update({f"--configfile {path}": str(path) for path in configfiles})
    problems = []
    for key, value in strings.items():
        bad = unmappable(value) if isinstance(value, str) else []
        if bad:
            problems.append(
                f"config key '{key}' holds character(s) {describe(bad)} that the paper's TeX engine (pdfLaTeX) "
                "cannot typeset. Fix: replace them with ASCII or TeX-friendly text (≥ — ✓ and other common "
                "symbols are mapped automatically)."
            )
    return problems


# ---------------------------------------------------------------------------------------------
# Data set sources and classes, where knowable without reading the data


def source_problem(name: str, source: dict) -> str | None:
    """An imagefolder source that cannot be a data set (empty directory, no splits, not an archive)."""
    if source.get("source") != "imagefolder" or not source.get("path"):
        return None
    path, key = Path(source["path"]), f"datasets.{name}.path"
    fix = f"Fix: point {key} at an ImageFolder tree (train/<class>/<image>, test/<class>/<image>) or a .tar.gz of one."
    if path.is_dir():
        for split in ("train", "test"):
            found = _first_split_dir(path, split)
            if found is None:
                return f"data set '{name}': {key} = '{path}' has no {split}/<class>/ directories. {fix}"
            if not any(f.suffix.lower() in IMAGE_SUFFIXES for c in found.iterdir() if c.is_dir() for f in c.iterdir()):
                return f"data set '{name}': {key} = '{path}' has no images under {found}/<class>/. {fix}"
        return None
    if path.is_file():
        if not path.name.endswith((".tar.gz", ".tgz", ".tar")):
            return f"data set '{name}': {key} = '{path}' is neither a directory nor a .tar.gz/.tar archive. {fix}"
        if path.stat().st_size == 0:
            return f"data set '{name}': {key} = '{path}' is an empty file. {fix}"
        try:
            with tarfile.open(path, "r:*") as archive:
                archive.next()
        except (tarfile.TarError, OSError, EOFError) as err:
            return (
                f"data set '{name}': {key} = '{path}' is not a readable archive ({type(err).__name__}: {err}). "
                f"Fix: re-copy or re-download it, or point {key} at a good copy."
            )
    return None


def _first_split_dir(root: Path, split: str, depth: int = 2) -> Path | None:
    """root/<split>, or root/<one level>/<split> (archives often hold a top folder)."""
    if (root / split).is_dir():
        return root / split
    if depth > 1:
        for child in sorted(p for p in root.iterdir() if p.is_dir()):
            found = _first_split_dir(child, split, depth - 1)
            if found is not None:
                return found
    return None


def known_classes(name: str, source: dict) -> int | None:
    """How many classes data set `name` has, where knowable without reading it (fixed loaders, directories)."""
    if source.get("source") in ("torchvision", "download") and name in KNOWN_CLASSES:
        return KNOWN_CLASSES[name]
    path = Path(source.get("path") or "")
    if source.get("source") == "imagefolder" and source.get("path") and path.is_dir():
        found = {
            c.name
            for split in ("train", "test")
            if (d := _first_split_dir(path, split))
            for c in d.iterdir()
            if c.is_dir()
        }
        return len(found) or None
    return None


def path_problems(config: dict) -> list[str]:
    """Configured files that a job would only find missing after Snakemake deleted what it rebuilds."""
    finetune = config.get("finetune") if isinstance(config.get("finetune"), dict) else {}
    weights = finetune.get("weights_path")
    if isinstance(weights, str) and not Path(weights).is_file():
        return [
            f"config key 'finetune.weights_path' = '{weights}' does not exist. Fix: point it at torchvision's "
            "resnet18-f37072fd.pth, or set it to null (torchvision's cache; see finetune.download_weights and "
            "finetune.allow_random_init)."
        ]
    return []


def config_problems(configfiles: list[str | Path], repo: Path) -> list[str]:
    """What `effdl check` reports: broken YAML per file, then the merged config (config/config.yaml of `repo`
    and the overlays) against the schema, its strings that reach TeX, files it names, and data set sources."""
    from effdl.plan.config import ConfigError, validate_config

    base = repo / "config" / "config.yaml"
    files = [base, *(Path(f) for f in configfiles if Path(f).resolve() != base.resolve())]
    problems = [p for p in (yaml_problem(path) for path in files) if p]
    if problems:
        return problems
    config: dict = {}
    for path in files:
        config = _merge(config, yaml.safe_load(Path(path).read_text()) or {})
    try:
        validate_config(config, repo / "workflow" / "schemas" / "config.schema.yaml")
    except ConfigError as err:
        problems.append(str(err))
    problems += tex_problems(config, configfiles) + path_problems(config)
    for name, source in (config.get("datasets") or {}).items():
        if isinstance(source, dict) and source.get("source") == "imagefolder" and source.get("path"):
            path = Path(source["path"]) if Path(source["path"]).is_absolute() else repo / source["path"]
            if not path.exists():
                problems.append(
                    f"data set '{name}': datasets.{name}.path = '{source['path']}' does not exist (relative paths "
                    "start at the repository root)."
                )
            else:
                problem = source_problem(name, {**source, "path": str(path)})
                problems += [problem] if problem else []
    return problems


def _merge(base: dict, over: dict) -> dict:
    """Snakemake's config merge: mappings merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def parser(prog: str = "effdl check"):
    """The command line of `effdl check`."""
    import argparse

    from effdl.cli import add_configfile

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Check config files before a run: YAML syntax (file, line), the merged config against the "
        "schema, strings that reach the paper, and configured data sources. Reads config/config.yaml of --repo "
        "first, then the overlays in order, as snakemake does.",
    )
    parser.add_argument("files", nargs="*", help="config files (the same as --configfile; kept for old scripts)")
    add_configfile(parser)
    parser.add_argument("--repo", type=Path, default=Path("."), help="the repository root (default: .)")
    return parser


def main(argv: list[str] | None = None, prog: str = "effdl check") -> int:
    """`effdl check --configfile overlay.yaml ...`: exit 1 with one message per problem, before any Snakemake run."""
    args = parser(prog).parse_args(argv)
    files = [*args.files, *args.configfile]
    problems = config_problems(files, args.repo)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"config/config.yaml and {len(files)} overlay(s): YAML, schema and data sources check out")
    return 1 if problems else 0


if __name__ == "__main__":  # `python -m effdl.plan.preflight`, an alias of `effdl check`
    from effdl.cli import main as cli_main

    sys.exit(cli_main(["check", *sys.argv[1:]]))
