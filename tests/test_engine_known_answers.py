"""Known-answer tests of the engine: every number the paper prints comes from evaluate, train and moving_average.

Expected values are literals or closed forms computed here, never the engine's own output.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from effdl.data import DeviceDataset
from effdl.engine import TrainConfig, evaluate, train
from effdl.execution import autocast, resolve_device, resolve_precision
from effdl.io import load_checkpoint
from effdl.optim import lr_schedule, make_optimizer
from effdl.smoothing import moving_average

# ---------------------------------------------------------------------------------------------
# evaluate: a data set whose first pixel is the label, and models whose logits are chosen by hand


def label_coded_set(labels: list[int]) -> DeviceDataset:
    """1x2x2 images whose every pixel is the label (uint8), so a model can read the label back."""
    y = torch.tensor(labels, dtype=torch.int64)
    images = y.to(torch.uint8)[:, None, None, None].expand(-1, 1, 2, 2).contiguous()
    return DeviceDataset(images, y, "cpu")


class Oracle(nn.Module):
    """Logits = `scale` * one_hot(label) + `offset`, the label read from the image (mean 0, std 1/255)."""

    def __init__(self, scale: float = 1.0, offset: float = 0.0, classes: int = 10):
        super().__init__()
        self.scale, self.offset, self.classes = scale, offset, classes

    def forward(self, x):
        label = x[:, 0, 0, 0].round().long()  # normalize(u8, 0, 1/255) gives back the integer
        return self.scale * nn.functional.one_hot(label, self.classes).float() + self.offset


class Constant(nn.Module):
    """The same logits for every input."""

    def __init__(self, logits: list[float]):
        super().__init__()
        self.logits = torch.tensor(logits)

    def forward(self, x):
        return self.logits.expand(len(x), -1)


PIXEL_IS_VALUE = {"mean": [0.0], "std": [1 / 255]}
LABELS = [3] * 12 + [0] * 5 + [7] * 4 + [1, 2, 4, 5]  # 25 samples, majority class 3 (12/25 = 48 %)


@pytest.mark.parametrize("batch_size", [1, 7, 25, 1000])  # one, several with a partial last, exactly one, fewer
def test_one_hot_logits_on_the_labels_give_100_percent_and_the_closed_form_loss(batch_size):
    loss, acc = evaluate(Oracle(), label_coded_set(LABELS), batch_size=batch_size, **PIXEL_IS_VALUE)
    assert acc == 100.0
    # cross-entropy of logits (1 at the label, 0 elsewhere over 10 classes): log(e + 9) - 1
    assert loss == pytest.approx(math.log(math.e + 9) - 1, rel=1e-6)


def test_one_hot_logits_off_by_one_class_give_0_percent():
    class Shifted(Oracle):
        def forward(self, x):
            return super().forward(x).roll(1, dims=1)

    loss, acc = evaluate(Shifted(), label_coded_set(LABELS), batch_size=10, **PIXEL_IS_VALUE)
    assert acc == 0.0
    assert loss == pytest.approx(math.log(math.e + 9), rel=1e-6)  # the label's logit is 0


def test_constant_logits_give_the_majority_class_share():
    logits = [0.0] * 10
    logits[3] = 2.0  # always predicts class 3; class 0 (the first minimum) is a different share
    loss, acc = evaluate(Constant(logits), label_coded_set(LABELS), batch_size=10, **PIXEL_IS_VALUE)
    assert acc == pytest.approx(100.0 * 12 / 25)
    # loss per sample: log(e^2 + 9) - 2 for class 3, log(e^2 + 9) for the others
    assert loss == pytest.approx(math.log(math.e**2 + 9) - 2 * 12 / 25, rel=1e-6)


def test_hand_made_loss_and_accuracy():
    """Three samples, two classes: per-sample losses log(1 + e^-2), log(1 + e^2), log 2; one correct, one tie."""

    class Table(nn.Module):
        def forward(self, x):
            return torch.tensor([[2.0, 0.0], [2.0, 0.0], [1.0, 1.0]])[x[:, 0, 0, 0].round().long()]

    dataset = DeviceDataset(
        torch.tensor([0, 1, 2], dtype=torch.uint8)[:, None, None, None].expand(-1, 1, 1, 1),
        torch.tensor([0, 1, 1]),
        "cpu",
    )
    loss, acc = evaluate(Table(), dataset, batch_size=2, **PIXEL_IS_VALUE)
    expected = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(2)) + math.log(2)) / 3
    assert loss == pytest.approx(expected, rel=1e-6)
    assert acc == pytest.approx(100.0 / 3)  # sample 0 right, 1 wrong, the tie goes to class 0 (argmax): wrong


def test_evaluate_puts_the_model_in_eval_mode_and_uses_no_grad():
    seen = {}

    class Spy(Oracle):
        def forward(self, x):
            seen["training"], seen["grad"] = self.training, torch.is_grad_enabled()
            return super().forward(x)

    model = Spy()
    model.train()
    evaluate(model, label_coded_set([1, 2]), **PIXEL_IS_VALUE)
    assert seen == {"training": False, "grad": False}


def test_evaluate_runs_the_model_under_autocast_only_for_bf16():
    seen = []

    class Spy(Oracle):
        def forward(self, x):
            seen.append(torch.is_autocast_enabled("cpu"))
            return super().forward(x)

    evaluate(Spy(), label_coded_set([1, 2]), precision="bf16", **PIXEL_IS_VALUE)
    evaluate(Spy(), label_coded_set([1, 2]), precision="fp32", **PIXEL_IS_VALUE)
    evaluate(Spy(), label_coded_set([1, 2]), **PIXEL_IS_VALUE)  # the default is fp32
    assert seen == [True, False, False]


def test_evaluate_feeds_channels_last_batches_when_asked():
    layouts = []

    class Spy(Oracle):
        def forward(self, x):
            layouts.append(x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())
            return super().forward(x)

    images = torch.arange(2, dtype=torch.uint8)[:, None, None, None].expand(-1, 3, 2, 2).contiguous()
    dataset = DeviceDataset(images, torch.tensor([0, 1]), "cpu")
    evaluate(Spy(), dataset, mean=[0.0] * 3, std=[1 / 255] * 3, channels_last=True)
    evaluate(Spy(), dataset, mean=[0.0] * 3, std=[1 / 255] * 3)
    assert layouts == [True, False]


def test_evaluate_in_bf16_still_scores_a_confident_oracle_exactly():
    loss, acc = evaluate(Oracle(scale=30.0), label_coded_set(LABELS), batch_size=10, precision="bf16", **PIXEL_IS_VALUE)
    assert acc == 100.0 and loss < 1e-10


# ---------------------------------------------------------------------------------------------
# train: learns a learnable toy set, stops at the first non-finite epoch

# the same normalisation and small BatchNorm CNN as the engine's other tests
from test_engine import MEAN, STD, small_net  # noqa: E402


def run(packed, *, epochs=3, lr=0.05, hooks=(), checkpoint=None, **settings):
    torch.manual_seed(0)
    model = small_net()
    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=50, eval_batch_size=100, seed=7, precision="fp32", **settings)
    sets = [DeviceDataset.from_packed(packed, split, "cpu") for split in ("train", "test")]
    return model, train(
        model, *sets, cfg, "cpu", mean=MEAN, std=STD, hooks=hooks, checkpoint_path=checkpoint, log=lambda _: None
    )


def test_training_on_a_learnable_toy_set_ends_well_above_chance(tiny_packed, one_torch_thread):
    _, result = run(tiny_packed, epochs=12, lr=0.2, augment=False, eval_before_training=True)  # ends at 80 %
    first, last = result.epochs[0], result.epochs[-1]
    assert first["epoch"] == 0 and math.isnan(first["train_loss"])
    assert first["test_acc"] < 25.0  # an untrained net is near chance (10 %)
    assert last["test_acc"] >= 50.0 and last["train_acc"] >= 50.0  # chance is 10 %
    assert last["test_loss"] < 0.5 * math.log(10)  # well below a uniform guess's loss
    assert not result.diverged
    assert result.total_time_s > sum(e["epoch_time_s"] for e in result.epochs) > 0  # + the epoch-0 evaluation


def test_train_accuracy_and_loss_are_the_epoch_s_means(tiny_packed, one_torch_thread):
    """With a tiny lr the weights do not move: train_acc is the initial net's accuracy on the train set."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))  # no BatchNorm: batch order is irrelevant
    before = [p.clone() for p in model.parameters()]
    train_set = DeviceDataset.from_packed(tiny_packed, "train", "cpu")
    x = (train_set.images.float() / 255 - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
    with torch.no_grad():
        expected_acc = 100.0 * int((model(x).argmax(1) == train_set.labels).sum()) / 200
    cfg = TrainConfig(epochs=1, lr=1e-30, batch_size=50, weight_decay=0.0, augment=False, precision="fp32")
    result = train(model, train_set, train_set, cfg, "cpu", mean=MEAN, std=STD, log=lambda _: None)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert result.epochs[0]["train_acc"] == pytest.approx(expected_acc)
    assert result.epochs[0]["test_acc"] == pytest.approx(expected_acc)
    assert result.epochs[0]["train_loss"] == pytest.approx(sum(r["loss"] for r in result.iterations) / 4)
    assert [r["epoch_float"] for r in result.iterations] == [0.0, 0.25, 0.5, 0.75]


class PoisonAfter:
    """A hook that sets a weight to NaN after training epoch index `epoch`: the next epoch's losses are NaN."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def after_train_epoch(self, epoch, model):
        if epoch == self.epoch:
            with torch.no_grad():
                model[-1].weight[0, 0] = float("nan")
        return {"poisoned": epoch >= self.epoch}


def test_divergence_stops_the_run_at_the_first_non_finite_epoch(tiny_packed, tmp_path, one_torch_thread):
    ckpt = tmp_path / "ckpt.pt"
    _, result = run(tiny_packed, epochs=5, hooks=[PoisonAfter(1)], checkpoint=ckpt)
    assert result.diverged
    # the hook poisons the net after epoch 2's training (index 1): epoch 3 is the first with NaN training losses
    assert [r["epoch"] for r in result.epochs] == [1, 2, 3]
    assert math.isfinite(result.epochs[1]["train_loss"]) and math.isnan(result.epochs[2]["train_loss"])
    assert len(result.iterations) == 3 * 4  # no batch of a 4th epoch was trained
    assert load_checkpoint(ckpt)["epoch"] == 2  # the diverged epoch is never saved as resume state


def test_divergence_at_a_huge_lr_stops_after_the_epoch_of_the_first_non_finite_loss(tiny_packed, one_torch_thread):
    _, result = run(tiny_packed, epochs=4, lr=1e6)
    assert result.diverged
    losses = [r["loss"] for r in result.iterations]
    first_bad_epoch = next(i for i, v in enumerate(losses) if not math.isfinite(v)) // 4 + 1  # 4 batches an epoch
    assert first_bad_epoch < 4, "lr=1e6 should diverge before the last epoch"
    assert [r["epoch"] for r in result.epochs] == list(range(1, first_bad_epoch + 1))
    assert len(losses) == 4 * first_bad_epoch


def test_a_finite_run_is_not_marked_diverged_and_runs_every_epoch(tiny_packed, one_torch_thread):
    _, result = run(tiny_packed, epochs=2, hooks=[PoisonAfter(99)])
    assert not result.diverged
    assert [r["epoch"] for r in result.epochs] == [1, 2] and [r["poisoned"] for r in result.epochs] == [False, False]


# ---------------------------------------------------------------------------------------------
# moving_average at its edges (the seed: output k is mean(a[k:k+n]), length len(a) - n + 1)


def test_moving_average_of_exactly_one_window_is_one_point_as_the_seed():
    out = moving_average([1.0, 2.0, 6.0], 3)
    assert out.tolist() == [3.0]


def test_moving_average_known_values():
    assert moving_average([1, 2, 3, 4, 5], 2).tolist() == [1.5, 2.5, 3.5, 4.5]
    assert moving_average([4.0, 8.0], 1).tolist() == [4.0, 8.0]  # window 1 is the series itself
    assert moving_average([0.5] * 100).tolist() == [0.5]  # default window is 100
    assert moving_average([2.0, 4.0]).tolist() == []  # shorter than the default window


def test_moving_average_one_short_of_a_window_is_empty():
    out = moving_average([1.0, 2.0], 3)
    assert out.shape == (0,) and out.dtype == np.float64


@pytest.mark.parametrize("n", [0, -3])
def test_moving_average_rejects_a_window_below_one(n):
    with pytest.raises(ValueError, match=rf"window must be >= 1, got {n}"):
        moving_average([1.0, 2.0], n)


# ---------------------------------------------------------------------------------------------
# schedules, optimizers, precision and device


def test_step_schedule_literal_values():
    cfg = TrainConfig(epochs=7, lr=0.1, scheduler="step", step_size=3, gamma=0.5)
    assert lr_schedule(cfg) == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025])


def test_multistep_schedule_uses_gamma():
    cfg = TrainConfig(epochs=4, lr=1.0, scheduler="multistep", milestones=(1, 3), gamma=0.5)
    assert lr_schedule(cfg) == pytest.approx([1.0, 0.5, 0.5, 0.25])


def test_optimizers_get_the_configured_hyper_parameters():
    params = [nn.Parameter(torch.zeros(2))]
    sgd = make_optimizer(TrainConfig(epochs=1, lr=0.3, momentum=0.8, weight_decay=1e-3), params)
    assert isinstance(sgd, torch.optim.SGD)
    group = sgd.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.3, 0.8, 1e-3)
    adam = make_optimizer(TrainConfig(epochs=1, lr=0.002, optimizer="adam", weight_decay=0.0), params)
    assert isinstance(adam, torch.optim.Adam)
    assert (adam.param_groups[0]["lr"], adam.param_groups[0]["weight_decay"]) == (0.002, 0.0)


def test_precision_and_device_resolution(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision("fp32", cuda) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    assert resolve_precision("auto", cuda) == "bf16"
    for amx, avx512_bf16, expected in [(False, False, "fp32"), (True, False, "bf16"), (False, True, "bf16")]:
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda amx=amx: amx)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda flag=avx512_bf16: flag)
        assert resolve_precision("auto", cpu) == expected, (amx, avx512_bf16)
    assert resolve_precision("auto", torch.device("mps")) == "fp32"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert (
        resolve_device() == cpu and resolve_device("auto") == cpu and resolve_device("cuda:1") == torch.device("cuda:1")
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == cuda


@pytest.mark.filterwarnings("ignore:CUDA is not available:UserWarning")
def test_autocast_is_bf16_only_for_bf16():
    # on CUDA autocast's default would be float16: the bf16 dtype must be explicit (checkable without a GPU)
    assert autocast("bf16", torch.device("cuda")).fast_dtype == torch.bfloat16
    with autocast("bf16", torch.device("cpu")):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with autocast("fp32", torch.device("cpu")):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


# ---------------------------------------------------------------------------------------------
# the resume fingerprint: a checkpoint is reused only by the run that wrote it


def test_fingerprint_changes_with_config_model_shapes_and_identity():
    from effdl.engine import _fingerprint

    cfg = TrainConfig(epochs=2, lr=0.1)
    net = nn.Linear(4, 3)
    base = _fingerprint(cfg, net, {"run": "a"})
    assert base == _fingerprint(TrainConfig(epochs=2, lr=0.1), nn.Linear(4, 3), {"run": "a"})  # weights don't count
    assert len(base) == 16 and int(base, 16) >= 0
    assert base != _fingerprint(TrainConfig(epochs=2, lr=0.2), net, {"run": "a"})
    assert base != _fingerprint(cfg, nn.Linear(5, 3), {"run": "a"})
    assert base != _fingerprint(cfg, net, {"run": "b"})
    assert _fingerprint(cfg, net, None) == _fingerprint(cfg, net, {}) != base
    # identities hold whatever the run spec holds; values JSON cannot encode are fingerprinted by str()
    assert _fingerprint(cfg, net, {"path": Path("a")}) == _fingerprint(cfg, net, {"path": "a"})


def test_a_checkpoint_of_another_run_is_not_resumed(tiny_packed, tmp_path, one_torch_thread):
    ckpt = tmp_path / "ckpt.pt"
    sets = [DeviceDataset.from_packed(tiny_packed, split, "cpu") for split in ("train", "test")]
    cfg = TrainConfig(epochs=1, lr=0.05, batch_size=50, precision="fp32")
    train(
        small_net(),
        *sets,
        cfg,
        "cpu",
        mean=MEAN,
        std=STD,
        checkpoint_path=ckpt,
        identity={"run": "a"},
        log=lambda _: None,
    )
    messages = []
    result = train(
        small_net(),
        *sets,
        cfg,
        "cpu",
        mean=MEAN,
        std=STD,
        checkpoint_path=ckpt,
        identity={"run": "b"},
        log=messages.append,
    )
    assert result.resumed_from_epoch == 0 and len(result.iterations) == 4
    assert any("belongs to a different run configuration" in m for m in messages), messages
    again = train(
        small_net(),
        *sets,
        cfg,
        "cpu",
        mean=MEAN,
        std=STD,
        checkpoint_path=ckpt,
        identity={"run": "b"},
        log=messages.append,
    )
    assert again.resumed_from_epoch == 1 and len(again.iterations) == 4  # the finished run's records come back


def test_train_records_the_resolved_precision_and_keeps_channels_last(tiny_packed, one_torch_thread):
    model, result = run(tiny_packed, epochs=1, channels_last=True, augment=False)
    assert result.precision == "fp32"
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    train_set = DeviceDataset.from_packed(tiny_packed, "train", "cpu")
    cfg = TrainConfig(epochs=1, lr=0.01, batch_size=100, precision="bf16", augment=False)
    result = train(net, train_set, train_set, cfg, "cpu", mean=MEAN, std=STD, log=lambda _: None)
    assert result.precision == "bf16" and math.isfinite(result.epochs[0]["train_loss"])


class Recorder(nn.Module):
    """A linear classifier that records each forward's input, train/eval mode and autocast state."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_autocast_enabled("cpu"), x.detach().clone()))
        return self.net(x)


def test_training_batches_are_shuffled_and_cover_the_set_once(tiny_packed, one_torch_thread):
    torch.manual_seed(0)
    model = Recorder()
    train_set = DeviceDataset.from_packed(tiny_packed, "train", "cpu")
    cfg = TrainConfig(epochs=1, lr=0.01, batch_size=50, augment=False, precision="fp32")
    train(model, train_set, train_set, cfg, "cpu", mean=MEAN, std=STD, log=lambda _: None)
    seen = torch.cat([x for training, _, x in model.calls if training])
    in_order = (train_set.images.float() / 255 - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
    assert seen.shape == in_order.shape and not torch.equal(seen, in_order)  # shuffled
    flat = lambda t: t.flatten(1).tolist()  # noqa: E731
    assert sorted(flat(seen)) == sorted(flat(in_order))  # each image once


def test_bf16_training_also_evaluates_in_bf16(tiny_packed, one_torch_thread):
    torch.manual_seed(0)
    model = Recorder()
    train_set = DeviceDataset.from_packed(tiny_packed, "train", "cpu")
    cfg = TrainConfig(epochs=1, lr=0.01, batch_size=100, eval_batch_size=200, augment=False, precision="bf16")
    train(model, train_set, train_set, cfg, "cpu", mean=MEAN, std=STD, log=lambda _: None)
    assert [(training, autocast) for training, autocast, _ in model.calls] == [(True, True)] * 2 + [(False, True)]


def test_compile_auto_on_a_cpu_follows_the_measured_gain(tiny_packed, monkeypatch, one_torch_thread):
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda model: compiled.append(model) or model)  # no real compilation
    train_set = DeviceDataset.from_packed(tiny_packed, "test", "cpu")
    cfg = TrainConfig(epochs=10, lr=0.01, batch_size=100, augment=False, precision="fp32", compile="auto")
    for gain, expected in ((2.0, True), (1.0, False), (None, False)):
        net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
        result = train(net, train_set, train_set, cfg, "cpu", mean=MEAN, std=STD, log=lambda _: None,
                       cpu_compile_gain=gain)  # fmt: skip
        assert result.compiled is expected and (compiled[-1:] == [net]) is expected
