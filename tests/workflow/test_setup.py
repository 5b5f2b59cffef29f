"""workflow/setup.sh without privileges: it names the missing TeX pieces and how to get them, and still builds .venv.

Run as a real non-root user (created with useradd, removed afterwards) on a PATH without TeX or sudo. Python is
a stub that records its calls, so the test checks the order of the steps without building a 5 GB venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from helpers import REPO

USER = "effdl-setup-test"
STUB = """#!/bin/bash
echo "$0 $*" >> "$STUB_LOG"
if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi
if [ "$1" = "-c" ]; then echo "effdl ready: torch (stub)"; fi
"""
TOOLS = ["bash", "cat", "cp", "dirname", "grep", "id", "mkdir"]  # what setup.sh and the stubs run


@pytest.fixture(scope="module")
def unprivileged_user():
    """A throwaway user without sudo; needs root, useradd and runuser."""
    if os.geteuid() != 0 or not all(shutil.which(tool) for tool in ("useradd", "userdel", "runuser")):
        pytest.skip("needs root with useradd/runuser to create a non-root user")
    created = subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/bash", USER], capture_output=True)
    assert created.returncode in (0, 9), created.stderr  # 9: the user exists (an earlier run was killed)
    yield USER
    subprocess.run(["userdel", USER], capture_output=True)


def fake_machine(root: Path, with_apt: bool) -> tuple[Path, Path, Path]:
    """A copy of setup.sh and the lock, and a bin/ with basic tools, a python stub and (maybe) an apt-get stub."""
    repo, bin_dir, log = root / "repo", root / "bin", root / "calls.log"
    (repo / "workflow").mkdir(parents=True)
    for rel in ("workflow/setup.sh", "requirements.lock", "pyproject.toml"):
        shutil.copy(REPO / rel, repo / rel)
    bin_dir.mkdir()
    for tool in TOOLS:
        os.symlink(shutil.which(tool), bin_dir / tool)
    stubs = ["python3"] + (["apt-get"] if with_apt else [])
    for name in stubs:
        (bin_dir / name).write_text(STUB)
        (bin_dir / name).chmod(0o755)
    log.touch()
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            os.chown(path, *user_ids())
    return repo, bin_dir, log


def user_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(USER)
    return entry.pw_uid, entry.pw_gid


@pytest.mark.parametrize(
    ("with_apt", "reason"), [(True, "no root and no passwordless sudo"), (False, "no apt-get (not Debian/Ubuntu)")]
)
def test_setup_without_privileges_explains_tex_and_still_builds_the_venv(unprivileged_user, with_apt, reason):
    root = Path(tempfile.mkdtemp(prefix="effdl-setup-", dir="/tmp"))
    try:
        root.chmod(0o755)
        repo, bin_dir, log = fake_machine(root, with_apt)
        env = ["env", "-i", f"PATH={bin_dir}", f"HOME={root}", f"STUB_LOG={log}"]
        result = subprocess.run(
            ["runuser", "-u", unprivileged_user, "--", *env, "bash", str(repo / "workflow" / "setup.sh")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        said = result.stderr
        for missing in ("latexmk", "pdflatex", "kpsewhich", "pdftotext"):
            assert missing in said.split("lacks:", 1)[1].split("\n", 1)[0]
        assert f"not installing it ({reason})" in said
        for how in (
            "apt-get install --no-install-recommends texlive-latex-base",
            "poppler-utils",
            "brew install --cask mactex-no-gui",
            "brew install poppler",
            "conda install -c conda-forge texlive-core latexmk poppler",
            "paper.build",
        ):
            assert how in said, how
        calls = log.read_text().splitlines()
        assert not any("apt-get" in call for call in calls), "apt-get ran without privileges"
        assert calls[0].endswith("python3 -m venv .venv"), calls
        assert any(call.endswith("python -m pip install -q -c requirements.lock -e .[workflow,dev]") for call in calls)
        assert "effdl ready" in result.stdout
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_check_mode_only_reports(tmp_path):
    """`setup.sh --check` never installs or builds anything (here: whatever this machine has, exit 0)."""
    result = subprocess.run(
        ["bash", str(REPO / "workflow" / "setup.sh"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "effdl ready" not in result.stdout


def test_readme_starts_with_set_up_and_run_then_set_up_and_test():
    """The README's first command (the smoke run) and its test command are each one line starting with setup.sh."""
    readme = (REPO / "README.md").read_text()
    for heading in ("\n## Try it", "\n## Tests"):
        section = readme.split(heading, 1)[1].split("\n## ", 1)[0]
        first_block = section.split("```")[1].split("\n", 1)[1]
        command = next(line for line in first_block.splitlines() if line.strip())
        assert command.startswith("bash workflow/setup.sh && .venv/bin/"), (heading, command)
