"""One trainer per run: the run-directory lock refuses a second live holder and takes over a dead one's lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from effdl.runlock import LOCK_NAME, RunLock, RunLockedError, read_holder, stop_with_parent

HOLD = textwrap.dedent("""
    import sys, time
    from effdl.runlock import RunLock
    lock = RunLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    time.sleep(60)
""")


def hold_in_child(run_dir: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run_dir)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_trainer_refuses_naming_the_holder(tmp_path):
    holder = hold_in_child(tmp_path)
    try:
        refused = rf"locked by a trainer that is still running: PID {holder.pid} .*Fix:"
        with pytest.raises(RunLockedError, match=refused):
            RunLock(tmp_path).acquire()
        assert read_holder(tmp_path / LOCK_NAME)["pid"] == holder.pid  # the refused trainer left it alone
    finally:
        holder.kill()
        holder.wait()


def test_lock_of_a_killed_trainer_is_taken_over(tmp_path):
    holder = hold_in_child(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    messages = []
    with RunLock(tmp_path, log=messages.append):
        assert read_holder(tmp_path / LOCK_NAME)["pid"] == os.getpid()
    assert any("took over the lock" in m and f"PID {holder.pid}" in m for m in messages), messages
    assert not (tmp_path / LOCK_NAME).exists(), "a released lock removes its file"


def test_stale_lock_file_without_a_process_is_taken_over(tmp_path):
    (tmp_path / LOCK_NAME).write_text("999999 otherhost 2026-01-01T00:00:00\n")
    lock = RunLock(tmp_path, log=lambda _: None).acquire()
    assert read_holder(tmp_path / LOCK_NAME)["pid"] == os.getpid()
    lock.release()


CHILD_OF_CHILD = textwrap.dedent("""
    import os, subprocess, sys, time
    code = "import time; from effdl.runlock import stop_with_parent; stop_with_parent(); " \\
           "print('armed', flush=True); time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "armed"
    print(child.pid, flush=True)
    time.sleep(60)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux-only")
def test_job_stops_when_its_parent_is_killed(tmp_path):
    parent = subprocess.Popen(
        [sys.executable, "-c", CHILD_OF_CHILD],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    child_pid = int(parent.stdout.readline())
    parent.kill()  # SIGKILL: the parent cannot forward anything
    parent.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child_pid}").exists() and "Z" not in Path(f"/proc/{child_pid}/stat").read_text().split()[2]:
        assert time.monotonic() < deadline, "the child outlived its killed parent"
        time.sleep(0.05)


def test_stop_with_parent_returns_the_watched_parent():
    assert stop_with_parent(signal.SIGCONT) == os.getppid()  # SIGCONT: harmless if it ever fired
