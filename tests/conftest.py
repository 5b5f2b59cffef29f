"""Shared pytest fixtures: repository paths, tiny data sets and a CPU device."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture
def tiny_packed() -> dict:
    """A packed 10-class, 3x32x32 data set of random pixels whose labels are learnable from brightness."""
    generator = torch.Generator().manual_seed(0)

    def split(n):
        labels = torch.arange(n) % 10
        images = torch.randint(0, 40, (n, 3, 32, 32), generator=generator, dtype=torch.uint8)
        images += (labels * 20).to(torch.uint8)[:, None, None, None]
        return {"images": images, "labels": labels}

    return {
        "train": split(200),
        "test": split(100),
        "classes": [str(i) for i in range(10)],
        "source": "synthetic",
        "sha256": "0" * 64,
    }


@pytest.fixture
def one_torch_thread():
    """Tiny models run fastest on one thread, and on a shared, loaded CPU extra threads spin and stall."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def skip_or_fail(reason: str) -> None:
    """Skip the test, except under CI (the environment variable CI set), where a missing tool or service fails it.

    For skips that CI should never hit: CI installs every tool the suite needs, so skipping there would hide a
    broken setup. Skips that are expected in CI too (a GPU-only check) call pytest.skip directly.
    """
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this environment must provide it)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(name="skip_or_fail", scope="session")
def skip_or_fail_fixture():
    """skip_or_fail as a fixture, for test directories that cannot import this conftest (tests/workflow)."""
    return skip_or_fail


def pytest_configure(config):
    # EFFDL_TEST_THREADS=1: the mutation runner (tests/mutation/run.py) runs each mutant's tests on one thread
    torch.set_num_threads(int(os.environ.get("EFFDL_TEST_THREADS", "2")))
