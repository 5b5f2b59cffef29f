"""tests/conftest.py's skip_or_fail: a skip on a developer's machine, a failure under CI."""

from __future__ import annotations

import pytest
from conftest import skip_or_fail


def test_skips_without_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="^pdftotext is not installed$"):
        skip_or_fail("pdftotext is not installed")


@pytest.mark.parametrize("value", ["true", "1"])
def test_fails_under_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match=r"pdftotext is not installed \(CI is set, so this environment"):
        skip_or_fail("pdftotext is not installed")


def test_the_fixture_is_the_same_helper(skip_or_fail):
    assert skip_or_fail.__name__ == "skip_or_fail" and skip_or_fail.__module__ == "conftest"
