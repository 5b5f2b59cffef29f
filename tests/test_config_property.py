"""Property: any one-point mutation of the smoke config validates, or fails with messages that name a config key."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from effdl.plan.config import ConfigError, validate_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def merge(base: dict, overlay: dict) -> dict:
    """Snakemake's update_config: nested mappings merge, everything else replaces."""
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


SMOKE = merge(
    yaml.safe_load((REPO / "config/config.yaml").read_text()), yaml.safe_load((REPO / "config/smoke.yaml").read_text())
)


def paths(node, prefix=()):
    """Every key path in the config (mapping keys and list indices)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield (*prefix, key)
        yield from paths(value, (*prefix, key))


PATHS = sorted(paths(SMOKE), key=lambda p: tuple(map(str, p)))
NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12)
WRONG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    NAMES,
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(NAMES, st.integers(), max_size=2),
    st.sampled_from([0, -1, 1, 10**9, -0.5, 1e-12, 1e300, "", "none", "cuda:99", [], {}]),
)


@st.composite
def mutations(draw):
    """(description, mutated config): one key deleted, given a wrong/unknown/out-of-range value, or one unknown key."""
    config = copy.deepcopy(SMOKE)
    path = draw(st.sampled_from(PATHS))
    parent = config
    for key in path[:-1]:
        parent = parent[key]
    kind = draw(st.sampled_from(["delete", "replace", "replace", "unknown_key"]))
    if kind == "delete":
        del parent[path[-1]]
    elif kind == "replace":
        parent[path[-1]] = draw(WRONG_VALUES)
    else:
        target = (
            parent[path[-1]] if isinstance(parent[path[-1]], dict) else parent if isinstance(parent, dict) else config
        )
        target[draw(NAMES)] = draw(WRONG_VALUES)
    return f"{kind} {'.'.join(map(str, path))}", config


KEY_NAMING = ("config key '", "config section '", "unknown config key '", "config is missing '")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations())
def test_every_mutation_validates_or_names_a_config_key(mutation):
    description, config = mutation
    try:
        validate_config(config, SCHEMA)
    except ConfigError as err:
        problems = str(err).split("\n  - ")[1:]
        assert problems, f"{description}: empty message {err}"
        for problem in problems:
            assert any(marker in problem for marker in KEY_NAMING), f"{description}: no key named in {problem!r}"
            assert "Fix:" in problem, f"{description}: no fix in {problem!r}"
            assert "does not match '^" not in problem, f"{description}: raw regex in {problem!r}"
