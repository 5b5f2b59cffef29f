"""The engine's progress reporting (elapsed time and ETA in every epoch line, the progress callback) and
`engine.compile: auto`, on the CPU."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from effdl import execution
from effdl.data import DeviceDataset
from effdl.engine import TrainConfig, train
from effdl.execution import resolve_compile

MEAN, STD = [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]
EPOCH_LINE = re.compile(r"^epoch (\d+)/(\d+) .* \| [\d.]+s \| elapsed (\S+), ETA (\S+)$")


def run(packed, tmp_path, epochs=3, **kw):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=4), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    cfg = TrainConfig(epochs=epochs, lr=0.05, batch_size=50, eval_batch_size=100, seed=7, **kw)
    lines, records = [], []
    result = train(
        model,
        DeviceDataset.from_packed(packed, "train", "cpu"),
        DeviceDataset.from_packed(packed, "test", "cpu"),
        cfg,
        "cpu",
        mean=MEAN,
        std=STD,
        checkpoint_path=tmp_path / "checkpoint.pt",
        log=lines.append,
        progress=records.append,
    )
    return result, lines, records


def test_every_epoch_line_has_elapsed_time_and_eta(tiny_packed, tmp_path, one_torch_thread):
    result, lines, records = run(tiny_packed, tmp_path)
    epoch_lines = [EPOCH_LINE.match(line) for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == 3 and all(epoch_lines), lines
    assert [m.group(4) for m in epoch_lines][-1] == "0s"  # nothing left after the last epoch
    times = [e["epoch_time_s"] for e in result.epochs]
    # ETA after epoch k = epochs left x the mean epoch time so far
    assert records[1]["eta_s"] == pytest.approx(2 * times[0]) and records[1]["eta_s"] > 0
    assert records[2]["eta_s"] == pytest.approx(1 * (times[0] + times[1]) / 2)
    # the callback: once before training, then after every epoch's checkpoint (the ETA need not shrink
    # monotonically: a slow epoch on a loaded machine raises the mean epoch time, as it should)
    assert [r["epoch"] for r in records] == [0, 1, 2, 3]
    assert records[0]["eta_s"] is None and records[-1]["eta_s"] == 0.0
    assert records[-1]["test_acc"] == result.epochs[-1]["test_acc"]
    assert records[-1]["elapsed_s"] == pytest.approx(result.total_time_s)


def test_a_resumed_run_reports_from_its_checkpoint(tiny_packed, tmp_path, one_torch_thread):
    run(tiny_packed, tmp_path, epochs=2)
    _, lines, records = run(tiny_packed, tmp_path, epochs=2)  # the checkpoint holds both epochs
    assert any("resumed from" in line and "after epoch 2/2" in line for line in lines)
    assert [r["epoch"] for r in records] == [2]


@pytest.mark.parametrize(
    ("setting", "device", "epochs", "gain", "expected"),
    [
        ("auto", "cuda", 100, None, True),  # long GPU run: compile
        ("auto", "cuda", 5, None, False),  # short run: compiling costs more than it saves
        ("auto", "cpu", 100, None, False),  # CPU, nothing measured: off
        ("auto", "cpu", 100, 1.02, False),  # measured, but no real gain
        ("auto", "cpu", 100, 1.13, True),  # measured gain
        (True, "cpu", 1, None, True),
        (False, "cuda", 100, None, False),
    ],
)
def test_compile_auto(setting, device, epochs, gain, expected):
    assert resolve_compile(setting, torch.device(device), epochs, gain) is expected


def test_compile_setting_is_checked():
    assert TrainConfig(epochs=1, lr=0.1, compile="auto").compile == "auto"
    with pytest.raises(ValueError, match="compile must be true, false or auto"):
        TrainConfig(epochs=1, lr=0.1, compile="yes")


def test_without_a_gpu_auto_stays_on_the_cpu_and_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert execution.resolve_device("auto", jobs_per_device=2).type == "cpu"
    assert execution.device_claim() is None
    with pytest.raises(ValueError, match="no GPU is visible"):
        execution.resolve_device("cuda", jobs_per_device=1)


def test_resolve_device_claims_a_gpu_slot_for_the_process(tmp_path, monkeypatch):
    """CUDA faked (no GPU here): 'auto' claims slot 0 of GPU 0, the next job gets GPU 1, 'cuda:N' claims nothing."""
    from effdl import devices

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: None)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(execution, "_CLAIMS", [])
    messages = []
    device = execution.resolve_device("auto", jobs_per_device=1, lock_dir=tmp_path, log=messages.append)
    assert device == torch.device("cuda:0") and execution.device_claim().index == 0
    assert "claimed GPU slot cuda:0" in messages[0]
    assert execution.resolve_device("cuda", jobs_per_device=1, lock_dir=tmp_path) == device  # one claim per process
    other_job = devices.try_claim(devices.visible_device_ids(2), 1, tmp_path)
    assert other_job.index == 1 and devices.try_claim(devices.visible_device_ids(2), 1, tmp_path) is None
    other_job.release()
    assert execution.resolve_device("cuda:1", jobs_per_device=1, lock_dir=tmp_path) == torch.device("cuda:1")
    execution.device_claim().release()


def test_provenance_names_the_gpu_index_and_model(monkeypatch):
    from effdl.provenance import device_name

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: f"NVIDIA H200 #{index}")
    assert device_name(torch.device("cuda:1")) == "cuda:1 NVIDIA H200 #1"
    assert device_name("cpu") == "cpu"
