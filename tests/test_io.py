"""Tests of effdl.io: atomic writes (also when the writer is killed), stale temp clean-up, checked checkpoint loads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import torch

from effdl.io import (
    CheckpointError,
    atomic_write,
    load_checkpoint,
    remove_stale_temps,
    save_checkpoint,
    write_csv,
    write_text,
)


def state(path):
    return path.read_bytes(), path.stat().st_mtime_ns


def temps(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_write_csv_and_checkpoint_round_trip(tmp_path):
    df = pd.DataFrame({"epoch": [1, 2], "loss": [0.1 + 0.2, 1 / 3]})
    write_csv(df, tmp_path / "deep" / "epochs.csv")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "deep" / "epochs.csv"), df, check_exact=True)
    obj = {"w": torch.randn(3, 4), "epoch": 3, "names": ["a", "b"], "nested": {"x": None}}
    save_checkpoint(obj, tmp_path / "ckpt.pt")
    loaded = load_checkpoint(tmp_path / "ckpt.pt")
    assert torch.equal(loaded["w"], obj["w"]) and loaded["nested"] == {"x": None} and loaded["names"] == ["a", "b"]
    assert temps(tmp_path) == [] and temps(tmp_path / "deep") == []


@pytest.mark.parametrize(
    "error", [ValueError("boom"), SystemExit(143), KeyboardInterrupt()], ids=["exception", "sigterm_exit", "ctrl_c"]
)
def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, error):
    target = tmp_path / "summary.csv"
    write_text("old,complete\n", target)
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))
    before = state(target)
    with pytest.raises(type(error)) as info:  # the very exception comes through (stronger than a match=)
        with atomic_write(target) as handle:
            handle.write("new,half")
            raise error
    assert info.value is error
    assert state(target) == before
    assert temps(tmp_path) == []


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_written_files_get_the_usual_permissions(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_text("x", tmp_path / "out.txt")
    finally:
        os.umask(old)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_writer_killed_mid_write_leaves_old_file_and_a_temp_that_cleanup_removes(tmp_path):
    target = tmp_path / "checkpoint.pt"
    save_checkpoint({"epoch": 1}, target)
    before = state(target)
    unrelated = [tmp_path / ".epochs.csv.abc.tmp", tmp_path / "notes.tmp", tmp_path / ".checkpoint.pt.tmp"]
    for path in unrelated:
        path.write_text("not ours")
    script = textwrap.dedent(f"""
        import os, signal
        from effdl.io import atomic_write
        with atomic_write({str(target)!r}, "wb") as handle:
            handle.write(b"half a checkpoint")
            handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], timeout=120, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert state(target) == before, "a killed writer must never change the file it was replacing"
    stale = [p for p in tmp_path.glob(".checkpoint.pt.*.tmp") if p not in unrelated]
    assert len(stale) == 1 and stale[0].read_bytes() == b"half a checkpoint"
    assert remove_stale_temps(target) == stale
    assert not stale[0].exists() and all(p.exists() for p in unrelated) and state(target) == before
    assert remove_stale_temps(tmp_path / "missing-dir" / "x.pt") == []


def test_missing_checkpoint_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(CheckpointError, match=r"missing\.pt does not exist\. Fix: build it first"):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("damage", ["empty", "text", "truncated", "garbage_after_zip_magic"])
def test_damaged_checkpoint_is_one_clear_error(tmp_path, damage):
    path = tmp_path / "model.pt"
    save_checkpoint({"w": torch.randn(64, 64)}, path)
    data = path.read_bytes()
    path.write_bytes(
        {
            "empty": b"",
            "text": b"hello\n",
            "truncated": data[: len(data) // 2],
            "garbage_after_zip_magic": data[:4] + os.urandom(200),
        }[damage]
    )
    before = state(path)
    with pytest.raises(CheckpointError, match="is corrupt, truncated or not a torch checkpoint") as info:
        load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"checkpoint {path} is corrupt, truncated or not a torch checkpoint (")
    assert "Fix: delete it and re-run the rule that produces it" in message and f"rm {path}" in message
    assert "\n" not in message and "\x1b" not in message and len(message) < 600
    assert state(path) == before


def test_checkpoint_with_an_unsafe_object_is_refused_naming_it(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"w": torch.ones(1), "opt": torch.optim.SGD}, path)  # a class: weights_only must refuse it
    with pytest.raises(
        CheckpointError,
        match=r"holds a Python object \(torch\.optim\.sgd\.SGD\) that loading with "
        r"weights_only=True refuses.*Fix: re-create it",
    ):
        load_checkpoint(path)
