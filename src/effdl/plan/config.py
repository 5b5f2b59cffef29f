"""Config validation against the JSON schema, with one clear message per problem, and the config hash."""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from effdl.plan.registry import ENUMS


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and the fix."""


def load_schema(schema_path: str | Path) -> dict:
    """Load the top-level schema and inline the per-part schemas it references with `$ref: <file>`."""
    schema_path = Path(schema_path)
    return _inline_refs(_read_yaml(schema_path), schema_path.parent)


def _read_yaml(path: Path) -> Any:
    """A schema file's YAML, parsed once per file version (the DAG build and tests validate many times)."""
    return _parse_cached(str(path.resolve()), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _parse_cached(path: str, mtime_ns: int) -> Any:
    return yaml.safe_load(Path(path).read_text())


def _inline_refs(node: Any, base: Path) -> Any:
    """A fresh copy of `node` with file references inlined (the cached parse is never handed out) and every
    `$registry: <list>` replaced by `enum: [...]` from effdl.plan.registry.ENUMS (the lists' one home)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            return _inline_refs(_read_yaml(base / ref), base)
        if "$registry" in node:
            rest = {key: _inline_refs(value, base) for key, value in node.items() if key != "$registry"}
            return {"enum": registry_enum(node["$registry"]), **rest}
        return {key: _inline_refs(value, base) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline_refs(item, base) for item in node]
    return node


def registry_enum(name: str) -> list[str]:
    """The values of registry list `name` (a schema's `$registry: <name>`); an unknown name is a schema bug."""
    if name not in ENUMS:
        raise KeyError(f"schema names registry list {name!r}, which effdl.plan.registry.ENUMS lacks ({sorted(ENUMS)})")
    return list(ENUMS[name])


def _key_path(path: Any) -> str:
    return ".".join(str(part) for part in path) or "<top level>"


def _subschema(schema: dict, path: Any) -> dict:
    """Walk the schema along a config path (object properties only) to list the known keys there."""
    node = schema
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(part, node.get("additionalProperties", {}))
        if not isinstance(node, dict):
            return {}
    return node


# Top-level keys that were renamed: old -> new (the old key fails validation with a message naming the new one).
RENAMED_KEYS = {"part1": "schedules"}


def _branch_error(error: jsonschema.ValidationError) -> jsonschema.ValidationError | None:
    """For a oneOf/anyOf failure: the error of the branch the value was meant for (the deepest one inside the
    value), so the message names the field inside the value that is wrong; None when the value itself fits no
    branch (a wrong type or constant: then every accepted form is listed)."""
    candidates = [e for e in error.context or () if e.relative_path]
    if not candidates:
        return None
    return max(candidates, key=lambda e: len(e.absolute_path))


def _accepted(error: jsonschema.ValidationError) -> str:
    """The accepted forms of a string with a pattern: the schema's `examples`, else its description."""
    examples = error.schema.get("examples") if isinstance(error.schema, dict) else None
    if examples:
        return "one of the accepted forms: " + ", ".join(map(str, examples))
    return f"of the accepted form ({error.schema.get('description', 'see config/README.md')})"


def _explain(error: jsonschema.ValidationError, schema: dict) -> str:
    where = _key_path(error.absolute_path)
    if error.validator in ("oneOf", "anyOf"):
        branch = _branch_error(error)
        if branch is not None:
            return _explain(branch, schema)
        kinds = [
            repr(b["const"]) if "const" in b else str(b.get("type", "?"))
            for b in error.validator_value
            if isinstance(b, dict)
        ]
        return (
            f"config key '{where}' has the wrong type: {error.instance!r} is none of {', '.join(kinds)}. "
            "Fix: change its value (see config/README.md)."
        )
    if error.validator == "pattern":
        return f"config key '{where}' is {error.instance!r}, which is not {_accepted(error)}. Fix: use one of them."
    if error.validator == "additionalProperties":
        known = sorted(_subschema(schema, error.absolute_path).get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        renamed = [key for key in unknown if not error.absolute_path and key in RENAMED_KEYS]
        if renamed:
            return (
                "; ".join(
                    f"config key '{key}' was renamed to '{RENAMED_KEYS[key]}'. Fix: rename '{key}:' to "
                    f"'{RENAMED_KEYS[key]}:' in your config file (the keys under it are unchanged)"
                    for key in renamed
                )
                + "."
            )
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1)
            hints.append(f"'{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        return (
            f"unknown config key {', '.join(hints)} under '{where}'. Known keys there: {', '.join(known)}. "
            "Fix: correct or remove the key (every key is documented in config/README.md)."
        )
    if error.validator == "required":
        missing = re.findall(r"'(\w+)' is a required property", error.message)
        if missing and not error.absolute_path and any(old in error.instance for old in RENAMED_KEYS):
            return f"config is missing '{missing[0]}' (see the renamed key above). Fix: rename the old key."
        return (
            f"config section '{where}' is missing a required key: {error.message}. Fix: add it (see config/README.md)."
        )
    if error.validator == "enum":
        return (
            f"config key '{where}' is {error.instance!r}, which is not one of {error.validator_value}. "
            "Fix: use one of the listed values."
        )
    if error.validator == "type":
        return (
            f"config key '{where}' has the wrong type: {error.instance!r} is not of type {error.validator_value}. "
            "Fix: change its value (see config/README.md)."
        )
    if error.validator in ("exclusiveMinimum", "minimum", "maximum", "exclusiveMaximum", "minItems"):
        return f"config key '{where}' is out of range: {error.message}. Fix: change its value (see config/README.md)."
    return f"config key '{where}' is invalid: {error.message}. Fix: see config/README.md."


def _check_semantics(config: dict) -> list[str]:
    """Cross-key checks a JSON schema cannot express."""
    problems = []

    def walk(node: Any, path: list[str]) -> None:
        if not isinstance(node, dict):
            return
        # any block that has epochs and milestones: every milestone must fall inside the run
        if isinstance(node.get("epochs"), int) and isinstance(node.get("milestones"), list):
            late = [m for m in node["milestones"] if isinstance(m, int) and m > node["epochs"]]
            if late:
                problems.append(
                    f"config key '{'.'.join(path + ['milestones'])}' has milestone(s) {late} past "
                    f"'{'.'.join(path + ['epochs'])}' = {node['epochs']}, so they would never fire. "
                    "Fix: lower the milestones or raise epochs."
                )
        for key, value in node.items():
            walk(value, path + [str(key)])

    walk(config, [])
    problems += _check_counts(config)
    return problems


def _check_counts(config: dict) -> list[str]:
    """Counts that must fit another key's list: quant.convnet.checkpoints <= number of seeds."""
    seeds = config.get("seeds")
    convnet = (config.get("quant") or {}).get("convnet") if isinstance(config.get("quant"), dict) else None
    wanted = convnet.get("checkpoints") if isinstance(convnet, dict) else None
    if isinstance(seeds, list) and isinstance(wanted, int) and not isinstance(wanted, bool) and wanted > len(seeds):
        return [
            f"config key 'quant.convnet.checkpoints' = {wanted} asks for more Part 1.2 checkpoints than there are "
            f"seeds ('seeds' has {len(seeds)}: one checkpoint per seed). Fix: set quant.convnet.checkpoints to at "
            f"most {len(seeds)} (or null = all), or add seeds."
        ]
    return []


def validate_config(config: dict, schema_path: str | Path) -> None:
    """Validate `config` against the schema (and cross-key rules); raise ConfigError listing every problem."""
    schema = load_schema(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_explain(error, schema) for error in errors] + _check_semantics(config)
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))


def config_hash(config: dict) -> str:
    """Short sha256 of the config's canonical JSON: identifies which configuration produced a row."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]
