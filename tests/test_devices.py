"""GPU slot claims (effdl.devices) with concurrent processes: never more than `slots` jobs per device, freed on kill.

No GPU is needed: the claim logic is a function of (visible devices, slots) and lock files; each process here
stands for one training job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from effdl import devices

SRC = str(devices.__file__).rsplit("/effdl/", 1)[0]

HOLDER = """
import json, os, sys, time
from effdl.devices import claim_device
count, slots, lock_dir, go, hold_s = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
claim = claim_device(count, slots, lock_dir, poll_s=0.02, timeout_s=float(sys.argv[6]) if len(sys.argv) > 6 else None)
start = time.monotonic()
print(json.dumps({"pid": os.getpid(), "index": claim.index, "id": claim.device_id, "slot": claim.slot,
                  "start": start}), flush=True)
while not os.path.exists(go) and time.monotonic() - start < hold_s:
    time.sleep(0.01)
print(json.dumps({"end": time.monotonic()}), flush=True)
"""


def start_holder(tmp_path, count, slots, hold_s=60.0, timeout_s=None, env=None):
    args = [
        sys.executable,
        "-c",
        HOLDER,
        str(count),
        str(slots),
        str(tmp_path / "locks"),
        str(tmp_path / "go"),
        str(hold_s),
    ] + ([str(timeout_s)] if timeout_s is not None else [])
    full_env = {**os.environ, "PYTHONPATH": SRC, **(env or {})}
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)


def first_line(proc, timeout=30.0):
    """The holder's claim record (blocks until it claimed)."""
    deadline = time.monotonic() + timeout
    line = proc.stdout.readline()
    assert line, f"holder ended without claiming: {proc.stderr.read()}"
    assert time.monotonic() < deadline
    return json.loads(line)


def test_visible_ids_follow_cuda_visible_devices():
    assert devices.visible_device_ids(2, env={}) == ["0", "1"]
    assert devices.visible_device_ids(2, env={"CUDA_VISIBLE_DEVICES": "3, 5"}) == ["3", "5"]
    assert devices.visible_device_ids(1, env={"CUDA_VISIBLE_DEVICES": "GPU-ab12,GPU-cd34"}) == ["GPU-ab12"]
    assert devices.visible_device_ids(4, env={"CUDA_VISIBLE_DEVICES": ""}) == []


def test_claim_order_spreads_jobs_over_devices_first(tmp_path):
    order = [(index, slot) for index, _, slot, _ in devices.slot_paths(["0", "1", "2"], 2, tmp_path, host="h")]
    assert order == [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]


def test_bad_slots_and_no_device_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="gpu_jobs_per_device"):
        devices.claim_device(1, 0, tmp_path)
    with pytest.raises(ValueError, match="no GPU is visible.*device: cpu"):
        devices.claim_device(2, 1, tmp_path, env={"CUDA_VISIBLE_DEVICES": ""})


@pytest.mark.parametrize(("count", "slots"), [(2, 1), (2, 2), (3, 1)])
def test_full_claims_refuse_more_and_free_on_kill_and_exit(tmp_path, count, slots):
    holders = [start_holder(tmp_path, count, slots) for _ in range(count * slots)]
    try:
        claims = [first_line(p) for p in holders]
        per_device = Counter(c["index"] for c in claims)
        assert per_device == {i: slots for i in range(count)}, per_device  # spread, never more than `slots`
        assert len({(c["index"], c["slot"]) for c in claims}) == count * slots
        # every slot held: one more job cannot get in
        extra = start_holder(tmp_path, count, slots, timeout_s=0.5)
        assert extra.wait(timeout=30) != 0 and "TimeoutError" in extra.stderr.read()
        # SIGKILL one holder: its slot is free again at once (the kernel drops the flock)
        victim = holders[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        late = start_holder(tmp_path, count, slots, timeout_s=10)
        late_claim = first_line(late)
        assert (late_claim["index"], late_claim["slot"]) == (claims[0]["index"], claims[0]["slot"])
        holders.append(late)
    finally:
        (tmp_path / "go").touch()  # everyone else exits normally
        for p in holders:
            p.wait(timeout=30)
    # every slot was released on exit: this process can take all of them without waiting
    mine = [
        devices.try_claim(devices.visible_device_ids(count, {}), slots, tmp_path / "locks")
        for _ in range(count * slots)
    ]
    assert all(mine) and devices.try_claim(devices.visible_device_ids(count, {}), slots, tmp_path / "locks") is None
    for claim in mine:
        claim.release()


def test_many_jobs_never_exceed_slots_per_device(tmp_path):
    """12 short jobs competing for 2 devices x 2 slots: at no moment more than 2 on a device."""
    count, slots, jobs = 2, 2, 12
    procs = [start_holder(tmp_path, count, slots, hold_s=0.15) for _ in range(jobs)]
    intervals = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        claim, end = (json.loads(line) for line in out.splitlines())
        intervals.append((claim["index"], claim["start"], end["end"]))
    for index in range(count):
        events = sorted(
            [(s, 1) for i, s, _ in intervals if i == index] + [(e, -1) for i, _, e in intervals if i == index],
            key=lambda t: (t[0], t[1]),
        )
        running = peak = 0
        for _, step in events:
            running += step
            peak = max(peak, running)
        assert 1 <= peak <= slots, f"device {index} ran {peak} jobs at once"


def test_visible_devices_name_the_physical_id_in_the_claim(tmp_path):
    proc = start_holder(tmp_path, 2, 1, hold_s=0.0, env={"CUDA_VISIBLE_DEVICES": "6,7"})
    claim = first_line(proc)
    proc.wait(timeout=30)
    assert (claim["index"], claim["id"]) == (0, "6")
    assert any("gpu6-slot0" in p.name for p in (tmp_path / "locks").iterdir())


def test_a_file_system_without_locks_falls_back_to_the_first_device(tmp_path, monkeypatch):
    def refuse(fd, op):
        raise OSError(37, "No locks available")

    monkeypatch.setattr(devices.fcntl, "flock", refuse)
    messages = []
    claim = devices.claim_device(2, 1, tmp_path, env={}, log=messages.append)
    assert (claim.index, claim.fd) == (0, None) and "does not support file locks" in messages[0]


def test_slurm_jobs_on_one_node_never_contend():
    """SLURM renumbers each job's GPUs from 0: two jobs' 'GPU 0' are different GPUs, so their locks differ."""
    a, b = (devices.lock_scope({"SLURM_JOB_ID": job}) for job in ("101", "102"))
    assert a != b and a.endswith("-slurm101") and devices.lock_scope({}) == a.rsplit("-slurm", 1)[0]
