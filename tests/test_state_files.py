"""Lock and state files: never written through a symlink, replaced atomically, and a broken one reported in a line.

Issue 28: bad case 5 (`trainer.lock` followed a symlink and overwrote its target) and the partial case of a
JSON list in `progress.json` (a traceback in `python -m effdl.status`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from effdl.progress import progress_problem, read_progress, write_progress
from effdl.runlock import LOCK_NAME, RunLock
from effdl.safefiles import SymlinkRefusedError


def test_a_symlinked_trainer_lock_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / LOCK_NAME).symlink_to(victim)
    with pytest.raises(SymlinkRefusedError) as caught:
        RunLock(run_dir, log=lambda _: None).acquire()
    assert f"{run_dir / LOCK_NAME} is a symbolic link (to {victim})" in str(caught.value)
    assert f"Fix: delete the link (rm {run_dir / LOCK_NAME})" in str(caught.value)
    assert victim.read_text() == "keep me\n"
    # after the fix the lock works as before
    (run_dir / LOCK_NAME).unlink()
    with RunLock(run_dir, log=lambda _: None):
        assert (run_dir / LOCK_NAME).read_text().split()[0].isdigit()


def test_progress_is_replaced_atomically_never_through_a_link(tmp_path):
    victim = tmp_path / "precious.json"
    victim.write_text('{"keep": true}')
    sidecar = tmp_path / "run" / "progress.json"
    sidecar.parent.mkdir()
    sidecar.symlink_to(victim)
    assert read_progress(sidecar) is None and "is a symbolic link" in progress_problem(sidecar)
    # a planted link at the writer's temp name is not followed either
    planted = sidecar.with_name(f".progress.json.{os.getpid()}.tmp")
    planted.symlink_to(victim)
    write_progress(sidecar, state="running", epoch=1)
    assert victim.read_text() == '{"keep": true}'
    assert not sidecar.is_symlink() and read_progress(sidecar)["epoch"] == 1
    assert not planted.exists() and not planted.is_symlink()


def test_a_json_list_in_progress_gives_status_one_line_not_a_traceback(tmp_path):
    run_dir = tmp_path / "results" / "runs" / "part1" / "r"
    run_dir.mkdir(parents=True)
    (run_dir / "progress.json").write_text("[1, 2, 3]")
    plan = tmp_path / "plan.json"
    run = {
        "key": "part1/r",
        "dir": str(run_dir),
        "log": str(tmp_path / "r.log"),
        "spec_hash": "x",
        "epochs": 2,
        "family": "convnet",
        "train_images": None,
        "eval_images": None,
    }
    plan.write_text(json.dumps({"runs": [run], "config_hash": "c"}))
    result = subprocess.run(
        [sys.executable, "-m", "effdl.status", "--results", str(tmp_path / "results"), "--plan", str(plan)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out
    assert f"{run_dir / 'progress.json'} holds a JSON list, not a progress record" in out, out
    # a plan that is not a run list: one line naming the file and the fix
    plan.write_text("[]")
    result = subprocess.run(
        [sys.executable, "-m", "effdl.status", "--plan", str(plan)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"the plan {plan} is not a run list written by effdl" in result.stderr and "Fix:" in result.stderr
