"""Bad input fails fast with one message naming the problem and the fix, and leaves earlier results untouched.

Config mistakes are caught while Snakemake builds the DAG (before any job starts): each case runs the
workflow on a copy (see test_resume.copy_workflow) with a one-mistake config overlay. Run-spec, checkpoint
and weights mistakes are caught by the library before any training; those cases call it directly.
"""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import time
from pathlib import Path

import pytest
import torch
from test_resume import BIN, JOB_LOG, RUN_DIR, copy_workflow, synthetic_mnist

from effdl.data import DataError, DeviceDataset, load_packed, prepare_dataset
from effdl.engine import TrainConfig, TrainResult, train
from effdl.io import CheckpointError, load_checkpoint, save_checkpoint
from effdl.models import build_model
from effdl.runs import run_training, write_run_outputs

TARGET = str(RUN_DIR / "epochs.csv")


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of every file under `root`."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> Path:
    """A workflow copy holding a finished earlier result of the run (fake CSVs and model)."""
    workdir = copy_workflow(tmp_path_factory.mktemp("bad_input"))
    run_dir = workdir / RUN_DIR
    run_dir.mkdir(parents=True)
    for name in ("iters.csv", "epochs.csv", "summary.csv"):
        (run_dir / name).write_text("run,epoch,test_acc\nmlp,1,12.5\n")
    save_checkpoint({"state_dict": {"w": torch.ones(3)}}, run_dir / "model.pt")
    (workdir / "source" / "empty-dir").mkdir()
    # files outside the workflow copy that an AI-log entry may point at (../ escape, symlink)
    (workdir.parent / "outside-chat.txt").write_text("a chat log kept outside the repository\n")
    (workdir / "source" / "chat-link.txt").symlink_to(workdir.parent / "outside-chat.txt")
    return workdir


CONFIG_CASES = {
    "unknown_key": (
        "engine:\n  batchsize: 64\n",
        ["unknown config key 'batchsize'", "did you mean 'batch_size'", "Fix:"],
    ),
    "wrong_type": (
        "engine:\n  batch_size: '64'\n",
        ["'engine.batch_size' has the wrong type", "'64' is not of type integer", "Fix:"],
    ),
    "unknown_scheduler": (
        "schedules:\n  lr_sweep:\n    scheduler: cosine\n",
        ["'schedules.lr_sweep.scheduler' is 'cosine', which is not one of", "Fix: use one of"],
    ),
    "zero_lr": ("schedules:\n  schedulers:\n    lr: 0\n", ["'schedules.schedulers.lr' is out of range", "Fix:"]),
    "negative_lr_in_sweep": (
        "schedules:\n  lr_sweep:\n    lrs: [0.1, -1.0]\n",
        ["'schedules.lr_sweep.lrs.1' is out of range", "Fix:"],
    ),
    "milestone_past_epochs": (
        "schedules:\n  schedulers:\n    epochs: 10\n    milestones: [5, 20]\n",
        ["milestone(s) [20] past 'schedules.schedulers.epochs' = 10", "Fix:"],
    ),
    "device_tpu": (
        "device: tpu\n",
        ["config key 'device' is 'tpu', which is not one of the accepted forms: auto, cpu"],
    ),
    "checkpoints_past_seeds": (
        "quant:\n  convnet:\n    checkpoints: 5\n",
        ["'quant.convnet.checkpoints' = 5 asks for more", "at most 1"],
    ),
    "untypesettable_label": (
        "paper:\n  label: 'smoke \u2603'\n",
        ["config key 'paper.label' holds character(s) \u2603 (U+2603)", "Fix:"],
    ),
    "subset_field_of_the_wrong_type": (
        "datasets:\n  mnist:\n    subset: {train_per_class: many, test_per_class: 1}\n",
        ["'datasets.mnist.subset.train_per_class' has the wrong type: 'many' is none of integer, 'all'"],
    ),
    "empty_data_directory": (
        "datasets:\n  mnist:\n    path: source/empty-dir\n",
        ["datasets.mnist.path = 'source/empty-dir' has no train/<class>/ directories", "Fix:"],
    ),
    "missing_data_path": (
        "datasets:\n  mnist:\n    path: source/no-such-mnist.tar.gz\n",
        ["datasets.mnist.path = 'source/no-such-mnist.tar.gz' does not exist", "Fix:"],
    ),
    "missing_ai_log": (
        "submission:\n  ai_logs: [logs/no-such-chat.txt]\n",
        ["config key submission.ai_logs lists ['logs/no-such-chat.txt'], which do not exist", "Fix:"],
    ),
    # issue 28, bad case 1: any file of the machine went into the zip
    "ai_log_outside_the_repository": (
        "submission:\n  ai_logs: [/etc/passwd]\n",
        ["submission.ai_logs lists '/etc/passwd', which is /etc/passwd: outside the repository", "Fix: copy"],
    ),
    "ai_log_escaping_with_dotdot": (
        "submission:\n  ai_logs: [../outside-chat.txt]\n",
        ["config key submission.ai_logs lists '../outside-chat.txt'", "outside the repository", "Fix: copy"],
    ),
    "ai_log_symlink_pointing_outside": (
        "submission:\n  ai_logs: [source/chat-link.txt]\n",
        ["config key submission.ai_logs lists 'source/chat-link.txt'", "outside the repository", "Fix: copy"],
    ),
    # issue 28, bad case 7: team names that failed only at the last step (zip name, TeX)
    "team_name_too_long_for_a_file_name": (
        "submission:\n  team:\n    - {name: " + "A" * 300 + ", email: a@example.edu}\n",
        ["config key submission.team: the zip's file name would be 317 characters", "Fix: shorten"],
    ),
    "team_name_with_an_emoji": (
        "submission:\n  team:\n    - {name: Ada \U0001f600, email: ada@example.edu}\n",
        ["config key submission.team holds character(s) \U0001f600 (U+1F600) that the paper's fonts", "Fix:"],
    ),
    "team_name_unusable_in_the_zip_name": (
        "submission:\n  team:\n    - {name: Дмитрий, email: d@example.ru}\n",
        ["config key submission.team: the names ['Дмитрий'] have no ASCII letter or digit", "Fix:"],
    ),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_config_mistake_fails_at_dag_build_time(workflow, case):
    overlay_text, expected = CONFIG_CASES[case]
    overlay = workflow / f"bad_{case}.yaml"
    overlay.write_text(overlay_text)
    before = snapshot(workflow / "results")
    start = time.monotonic()
    # a real run (no -n) with the earlier result's target: nothing may run, nothing may change
    result = subprocess.run(
        [
            str(BIN / "snakemake"),
            TARGET,
            "--forcerun",
            "train_model",
            "--cores",
            "1",
            "--resources",
            "gpu=1",
            "--configfile",
            "overlay.yaml",
            str(overlay.name),
        ],
        cwd=workflow,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - start
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    for text in expected:
        assert text in output, f"missing {text!r} in:\n{output[-3000:]}"
    assert output.count("Fix:") == 1, f"expected one message with one fix:\n{output[-3000:]}"
    assert "Select jobs to execute" not in output and not (workflow / JOB_LOG).exists(), "a job was started"
    assert snapshot(workflow / "results") == before, "earlier results changed"
    assert elapsed < 60, f"took {elapsed:.0f}s to fail"


# ---------------------------------------------------------------------------------------------
# Run specs: checked before any data is read or training starts

GOOD_SPEC = {
    "part": "reliability",
    "run": "mlp",
    "dataset": "mnist",
    "seed": 43,
    "model": {"name": "mnist_mlp", "hidden": 16},
    "train": {"lr": 0.05, "epochs": 2, "batch_size": 32, "precision": "fp32"},
    "hooks": [],
    "labels": {},
    "mean": [0.1307],
    "std": [0.3081],
}


@pytest.fixture
def resume_state(tmp_path) -> Path:
    """An earlier run's resume checkpoint that a failing run must leave alone."""
    path = tmp_path / "earlier" / "checkpoint.pt"
    save_checkpoint({"epoch": 1, "fingerprint": "earlier"}, path)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    return path


def assert_untouched(path: Path, before: tuple[bytes, int]) -> None:
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before, f"{path} changed"


@pytest.mark.parametrize(
    "change,message",
    [
        ({"model": {"name": "convnett"}}, r"unknown model 'convnett'\. Known models: .*mnist_mlp.*Fix:"),
        ({"train": {"lr": 0.1, "epochs": 2, "scheduler": "cosine"}}, r"scheduler 'cosine' is unknown .*Fix:"),
        ({"train": {"lr": 0.0, "epochs": 2}}, r"lr must be positive, got 0\.0.*Fix:"),
        ({"train": {"lr": -0.1, "epochs": 2}}, r"lr must be positive, got -0\.1.*Fix:"),
        (
            {"train": {"lr": 0.1, "epochs": 4, "scheduler": "multistep", "milestones": [2, 6]}},
            r"milestones \[6\] lie past epochs=4.*Fix:",
        ),
        ({"train": {"lr": 0.1, "epochs": "4"}}, r"epochs must be int, got '4' \(str\).*Fix:"),
        ({"train": {"lr": 0.1, "epochs": 4, "lrr": 0.2}}, r"unknown training setting\(s\) \['lrr'\].*Fix:"),
    ],
    ids=[
        "unknown_model",
        "unknown_scheduler",
        "zero_lr",
        "negative_lr",
        "milestone_past_epochs",
        "wrong_type",
        "unknown_setting",
    ],
)
def test_bad_run_spec_fails_before_reading_data(tmp_path, resume_state, change, message):
    before = (resume_state.read_bytes(), resume_state.stat().st_mtime_ns)
    # the data path does not exist: the spec's error must come first, before any data is touched
    with pytest.raises((ValueError, TypeError), match=message):
        run_training(
            {**GOOD_SPEC, **change},
            tmp_path / "no-data.pt",
            torch.device("cpu"),
            checkpoint_path=resume_state,
            log=lambda _: None,
        )
    assert_untouched(resume_state, before)


def test_missing_data_path_is_named_with_the_fix(tmp_path, resume_state):
    before = (resume_state.read_bytes(), resume_state.stat().st_mtime_ns)
    missing = tmp_path / "no-such" / "cifar10.tar.gz"
    with pytest.raises(DataError, match=rf"datasets\.cifar10\.path = '{re.escape(str(missing))}' does not exist.*Fix:"):
        prepare_dataset("cifar10", {"source": "imagefolder", "path": str(missing)})
    with pytest.raises(CheckpointError, match=r"mnist\.pt does not exist\. Fix: build it first"):
        run_training(
            GOOD_SPEC,
            tmp_path / "results" / "data" / "mnist.pt",
            torch.device("cpu"),
            checkpoint_path=resume_state,
            log=lambda _: None,
        )
    assert_untouched(resume_state, before)


# ---------------------------------------------------------------------------------------------
# Checkpoints: corrupt, truncated, unsafe


@pytest.fixture
def model_file(tmp_path) -> Path:
    """A real model.pt as train_model writes it."""
    model = build_model("mnist_mlp", hidden=16)
    paths = {name: tmp_path / "run" / name for name in ("iters.csv", "epochs.csv", "summary.csv", "model.pt")}
    write_run_outputs(
        GOOD_SPEC,
        model,
        TrainResult(),
        {"source": "synthetic", "sha256": "0" * 64, "n_train": 0, "n_test": 0},
        torch.device("cpu"),
        {"k": 1},
        iters_csv=paths["iters.csv"],
        epochs_csv=paths["epochs.csv"],
        summary_csv=paths["summary.csv"],
        model_path=paths["model.pt"],
    )
    return paths["model.pt"]


def expect_checkpoint_error(path: Path, problem: str) -> CheckpointError:
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    with pytest.raises(CheckpointError, match=re.escape(problem)) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and problem in message and "Fix:" in message, message
    assert "\n" not in message and "\x1b" not in message, f"one plain line expected: {message!r}"
    assert_untouched(path, before)
    return info.value


def test_model_file_written_by_train_model_loads_with_weights_only(model_file):
    checkpoint = load_checkpoint(model_file)
    assert set(checkpoint) == {"state_dict", "spec", "provenance"}
    assert all(type(v) in (str, int, float, bool, type(None)) for v in checkpoint["provenance"].values())


def test_truncated_model_file(model_file):
    model_file.write_bytes(model_file.read_bytes()[: model_file.stat().st_size // 2])
    expect_checkpoint_error(model_file, "corrupt, truncated or not a torch checkpoint")


def test_corrupt_model_file(model_file):
    data = bytearray(model_file.read_bytes())
    data[:64] = os.urandom(64)  # the zip header is gone
    model_file.write_bytes(bytes(data))
    expect_checkpoint_error(model_file, "corrupt, truncated or not a torch checkpoint")


def test_truncated_packed_data_fails_before_training(tmp_path, resume_state):
    data = tmp_path / "results" / "data" / "mnist.pt"
    save_checkpoint(synthetic_mnist(100, 50), data)
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    expect_checkpoint_error(data, "corrupt, truncated or not a torch checkpoint")
    before = (resume_state.read_bytes(), resume_state.stat().st_mtime_ns)
    with pytest.raises(CheckpointError, match=re.escape(str(data))):
        load_packed(data)
    with pytest.raises(CheckpointError, match="Fix: delete it and re-run the rule that produces it"):
        run_training(GOOD_SPEC, data, torch.device("cpu"), checkpoint_path=resume_state, log=lambda _: None)
    assert_untouched(resume_state, before)


def _leave_mark(path):
    """What a malicious pickle would run on load: here it only creates a file."""
    Path(path).write_text("code ran")
    return {}


class Payload:
    def __init__(self, mark):
        self.mark = mark

    def __reduce__(self):
        return _leave_mark, (self.mark,)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_checkpoint_with_a_custom_class_is_refused_without_running_it(tmp_path, writer):
    path, mark = tmp_path / "model.pt", tmp_path / "code-ran"
    obj = {"state_dict": {"w": torch.ones(2)}, "extra": Payload(str(mark))}
    if writer == "torch.save":
        torch.save(obj, path)
    else:
        with open(path, "wb") as handle:
            pickle.dump(obj, handle)
    error = expect_checkpoint_error(path, "")
    assert not mark.exists(), "loading ran code from the checkpoint"
    if writer == "torch.save":  # a torch file names the refused class
        assert "_leave_mark" in str(error) and "weights_only=True" in str(error)
    # what weights_only=True prevents: an unrestricted unpickler runs the payload
    if writer == "torch.save":
        torch.load(path, weights_only=False)
    else:
        with open(path, "rb") as handle:
            pickle.load(handle)
    assert mark.exists()


def test_corrupt_resume_checkpoint_is_reported_and_training_starts_over(tmp_path):
    packed = synthetic_mnist(64, 32)
    sets = [DeviceDataset.from_packed(packed, split, "cpu") for split in ("train", "test")]
    cfg = TrainConfig(epochs=1, lr=0.05, batch_size=32, augment=False, precision="fp32")
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(b"PK\x03\x04 not really a zip")
    messages = []
    torch.manual_seed(0)
    result = train(
        build_model("mnist_mlp", hidden=8),
        *sets,
        cfg,
        "cpu",
        mean=[0.5],
        std=[0.25],
        checkpoint_path=ckpt,
        log=messages.append,
    )
    torch.manual_seed(0)
    clean = train(build_model("mnist_mlp", hidden=8), *sets, cfg, "cpu", mean=[0.5], std=[0.25], log=lambda _: None)
    assert any("ignoring unreadable resume checkpoint" in m and str(ckpt) in m for m in messages), messages
    assert result.resumed_from_epoch == 0
    assert [r["loss"] for r in result.iterations] == [r["loss"] for r in clean.iterations]
    assert load_checkpoint(ckpt)["epoch"] == 1  # replaced by a good one after the first epoch


# ---------------------------------------------------------------------------------------------
# Pretrained weights (Part 4's effdl.models.resnet owns the hash check)


def test_weights_file_with_the_wrong_hash_is_refused_before_loading(tmp_path):
    from effdl.models.resnet import WeightsError, expected_hash_prefix, load_pretrained_state_dict

    weights = tmp_path / "resnet18-imagenet.pth"
    torch.save({"fc.weight": torch.zeros(10, 512)}, weights)  # loadable, but not torchvision's file
    before = (weights.read_bytes(), weights.stat().st_mtime_ns)
    with pytest.raises(WeightsError, match=r"is not torchvision's ResNet18_Weights\.IMAGENET1K_V1") as info:
        load_pretrained_state_dict(weights_path=str(weights))
    message = str(info.value)
    assert str(weights) in message and f"expected {expected_hash_prefix()}" in message
    assert "finetune.weights_path" in message  # the fix: which config key to change
    assert_untouched(weights, before)
