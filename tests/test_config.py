"""Tests of config validation: the shipped configs pass; misspelled keys, wrong types and bad values fail clearly."""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import REPO

from effdl.plan.config import ConfigError, config_hash, validate_config

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def deep_merge(base: dict, overlay: dict) -> dict:
    """Snakemake's --configfile semantics: nested dicts merge, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def full_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.mark.parametrize("overlay", [None, "smoke.yaml", "offline.yaml", "cpu.yaml"])
def test_shipped_configs_are_valid(overlay):
    config = full_config()
    if overlay:
        config = deep_merge(config, yaml.safe_load((REPO / "config" / overlay).read_text()))
    validate_config(config, SCHEMA)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda c: c["schedules"]["lr_sweep"].update(lrz=[0.1]), r"unknown config key 'lrz'.*schedules\.lr_sweep"),
        (lambda c: c.update(seedz=[1]), r"'seedz' \(did you mean 'seeds'\?\)"),
        (lambda c: c["schedules"]["lr_sweep"].update(epochs="five"), r"schedules\.lr_sweep\.epochs.*wrong type"),
        (lambda c: c["schedules"]["lr_sweep"].update(lrs=[0.1, -1.0]), r"schedules\.lr_sweep\.lrs\.1.*out of range"),
        (lambda c: c["schedules"]["schedulers"].update(names=["cosine"]), r"schedules\.schedulers\.names\.0.*'cosine'"),
        (lambda c: c["schedules"]["schedulers"].update(milestones=[25, 150]), r"milestone\(s\) \[150\] past"),
        (lambda c: c["datasets"]["cifar10"].update(source="ftp"), r"datasets\.cifar10\.source"),
        (lambda c: c["datasets"]["mnist"].update(subset={"test_per_class": "half"}), r"datasets\.mnist\.subset"),
        (lambda c: c["datasets"]["mnist"].update(subset={"seed": 1}), r"datasets\.mnist\.subset"),
        (lambda c: c["quant"]["mnist"].update(shuffle="no"), r"quant\.mnist\.shuffle.*wrong type"),
    ],
)
def test_bad_config_fails_naming_the_key(mutate, message):
    config = full_config()
    mutate(config)
    with pytest.raises(ConfigError, match=message):
        validate_config(config, SCHEMA)


def test_config_hash_is_stable_and_sensitive():
    config = full_config()
    assert config_hash(config) == config_hash(copy.deepcopy(config))
    config["seeds"] = [1]
    assert config_hash(config) != config_hash(full_config())


def test_the_equivalence_margin_must_be_a_positive_number_of_points():
    config = full_config()
    config["claims"]["equivalence_margin_points"] = 0
    with pytest.raises(ConfigError, match="equivalence_margin_points"):
        validate_config(config, SCHEMA)
    config["claims"] = {"equivalence_margin_pts": 1.0}
    with pytest.raises(ConfigError, match="equivalence_margin_pts"):
        validate_config(config, SCHEMA)
