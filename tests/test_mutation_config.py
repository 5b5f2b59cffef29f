"""The mutation runner's module map stays in step with the tree (tests/mutation/run.py; the run itself is not in CI)."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import REPO


@pytest.fixture(scope="module")
def runner():
    spec = importlib.util.spec_from_file_location("mutation_run", REPO / "tests" / "mutation" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_mapped_source_and_test_file_exists(runner):
    core = {"data", "engine", "quant", "prune", "lora", "dwconv", "matmul_count", "texgen", "stats"}
    assert set(runner.MODULES) == core
    for module, (source, tests) in runner.MODULES.items():
        assert (REPO / source).is_file(), f"{module}: {source} is gone; update tests/mutation/run.py"
        for test in tests:
            assert (REPO / test).is_file(), f"{module}: {test} is gone; update tests/mutation/run.py"


def test_wilson_interval_known_values(runner):
    assert runner.wilson(0, 0) is None
    assert runner.wilson(10, 10) == [72.2, 100.0]  # the 95 % Wilson interval of 10/10
    assert runner.wilson(45, 50) == [78.6, 95.7]
