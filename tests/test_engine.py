"""Tests of the training engine: ConvNet, schedules, moving average, augmentation, resume, divergence."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch import nn

from effdl.data import DeviceDataset, batch_crop, batch_flip, iterate_batches
from effdl.engine import TrainConfig, train
from effdl.execution import resolve_precision
from effdl.io import CheckpointError
from effdl.measure import count_parameters
from effdl.models import build_model
from effdl.models.convnet import ConvNet, MNISTNet
from effdl.optim import lr_schedule
from effdl.smoothing import moving_average

MEAN, STD = [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]


def test_convnet_parameter_count_and_shape():
    net = ConvNet()
    assert count_parameters(net) == count_parameters(net, trainable=True) == 1_212_778
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_mnist_mlp_matches_the_seed():
    net = MNISTNet()
    assert [tuple(v.shape) for v in net.state_dict().values()] == [(128, 784), (128,), (10, 128), (10,)]
    out = net(torch.zeros(3, 1, 28, 28))
    assert torch.allclose(out.exp().sum(1), torch.ones(3))  # log-softmax output


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'convnett'.*Known models"):
        build_model("convnett")


def seed_moving_average(a, n=100):
    """The seed's own implementation, verbatim in behaviour (cumsum of a torch tensor)."""
    ret = torch.cumsum(torch.Tensor(a), 0)
    ret[n:] = ret[n:] - ret[:-n]
    return ret[n - 1 :] / n


def test_moving_average_equals_the_seed():
    values = torch.rand(1955, generator=torch.Generator().manual_seed(1)).tolist()
    ours = moving_average(values, 100)
    assert len(ours) == 1955 - 99
    assert torch.allclose(torch.as_tensor(ours).float(), seed_moving_average(values), atol=1e-5)
    assert len(moving_average(values[:50], 100)) == 0
    for length in (100, 101):  # the edges: exactly one window gives one point, as the seed's
        edge = moving_average(values[:length], 100)
        assert len(edge) == length - 99
        assert torch.allclose(torch.as_tensor(edge).float(), seed_moving_average(values[:length]), atol=1e-5)


@pytest.mark.parametrize(
    "scheduler,expected",
    [
        ("multistep", [0.1] * 25 + [0.01] * 25 + [0.001] * 25 + [0.0001] * 25),
        ("none", [0.1] * 100),
    ],
)
def test_lr_sequences(scheduler, expected):
    cfg = TrainConfig(epochs=100, lr=0.1, scheduler=scheduler, milestones=(25, 50, 75))
    assert lr_schedule(cfg) == pytest.approx(expected)


def test_cosine_annealing_follows_the_closed_form():
    lrs = lr_schedule(TrainConfig(epochs=100, lr=0.1, scheduler="cosine_annealing"))
    closed = [0.05 * (1 + math.cos(math.pi * e / 100)) for e in range(100)]
    assert lrs == pytest.approx(closed, abs=1e-9)


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"epochs": 5, "lr": 0.0}, "lr must be positive"),
        ({"epochs": 5, "lr": 0.1, "scheduler": "cosine"}, "scheduler 'cosine' is unknown"),
        ({"epochs": 5, "lr": 0.1, "scheduler": "multistep", "milestones": [3, 9]}, r"milestones \[9\]"),
    ],
)
def test_bad_settings_fail_with_the_reason(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**settings)


def test_unknown_setting_is_named():
    with pytest.raises(TypeError, match="lrr"):
        TrainConfig.from_dict({"epochs": 1, "lr": 0.1, "lrr": 3})


def test_batch_crop_and_flip_match_per_image_reference():
    images = torch.randint(0, 255, (6, 3, 8, 8), dtype=torch.uint8)
    top, left = torch.tensor([0, 1, 2, 3, 4, 8]), torch.tensor([8, 0, 4, 2, 1, 3])
    cropped = batch_crop(images, top, left, pad=4)
    padded = nn.functional.pad(images, (4, 4, 4, 4))
    for i in range(6):  # reference: one slice per image
        assert torch.equal(cropped[i], padded[i, :, top[i] : top[i] + 8, left[i] : left[i] + 8])
    flip = torch.tensor([True, False, True, False, False, True])
    flipped = batch_flip(images, flip)
    for i in range(6):
        assert torch.equal(flipped[i], images[i].flip(-1) if flip[i] else images[i])


def test_batches_cover_the_data_once_and_are_seeded(tiny_packed):
    ds = DeviceDataset.from_packed(tiny_packed, "train", "cpu")

    def labels(seed):
        gen = torch.Generator().manual_seed(seed)
        return torch.cat(
            [y for _, y in iterate_batches(ds, 64, mean=MEAN, std=STD, augment=True, shuffle=True, generator=gen)]
        )

    first, again, other = labels(0), labels(0), labels(1)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(first.sort().values, ds.labels.sort().values)


def small_net() -> nn.Module:
    """A few-thousand-parameter CNN with BatchNorm (buffers) so engine tests run in seconds."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32, 10),
    )


def tiny_run(packed, tmp_path, epochs=3, lr=0.05, checkpoint=True, hooks=(), **kw):
    torch.manual_seed(0)
    model = small_net()
    settings = {"scheduler": "multistep", "milestones": (2,), **kw}
    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=50, eval_batch_size=100, seed=7, **settings)
    train_set = DeviceDataset.from_packed(packed, "train", "cpu")
    test_set = DeviceDataset.from_packed(packed, "test", "cpu")
    ckpt = tmp_path / "ckpt.pt" if checkpoint else None
    return model, train(
        model,
        train_set,
        test_set,
        cfg,
        "cpu",
        mean=MEAN,
        std=STD,
        checkpoint_path=ckpt,
        hooks=hooks,
        log=lambda _: None,
    )


def test_training_records_per_iteration_and_per_epoch(tiny_packed, tmp_path):
    _, result = tiny_run(tiny_packed, tmp_path, eval_before_training=True)
    assert len(result.iterations) == 3 * 4  # 200 images / batch 50
    assert [r["epoch"] for r in result.epochs] == [0, 1, 2, 3]
    assert [r["epoch_lr"] for r in result.epochs[1:]] == pytest.approx([0.05, 0.05, 0.005])
    assert result.epochs[-1]["train_loss"] < result.iterations[0]["loss"]


@pytest.mark.parametrize(
    "schedule",
    [
        {"scheduler": "multistep", "milestones": (2,)},  # per epoch
        {"scheduler": "one_cycle", "milestones": (), "max_lr": 0.2},  # per batch: its state_dict must come back
    ],
    ids=["multistep", "one_cycle"],
)
def test_resume_gives_the_same_result_as_an_uninterrupted_run(tiny_packed, tmp_path, schedule):
    model_full, full = tiny_run(tiny_packed, tmp_path / "a", **schedule)
    (tmp_path / "b").mkdir()

    # stop after 2 epochs: same run config except epochs would change the fingerprint, so interrupt by
    # training the full config with a hook that raises after epoch index 1 (like a kill between epochs)
    class Kill:
        def after_train_epoch(self, epoch, model):
            if epoch == 2:
                raise KeyboardInterrupt("killed after epoch 2")

    with pytest.raises(KeyboardInterrupt, match="killed after epoch 2"):
        tiny_run(tiny_packed, tmp_path / "b", hooks=[Kill()], **schedule)
    model_resumed, resumed = tiny_run(tiny_packed, tmp_path / "b", **schedule)
    assert resumed.resumed_from_epoch == 2
    strip = lambda rows: [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in rows]  # noqa: E731
    assert strip(resumed.epochs) == strip(full.epochs)
    assert [r["loss"] for r in resumed.iterations] == [r["loss"] for r in full.iterations]
    for a, b in zip(model_full.state_dict().values(), model_resumed.state_dict().values()):
        assert torch.equal(a, b)
    if schedule["scheduler"] == "one_cycle":  # the rate moved within epochs, so the per-epoch rates all differ
        assert len({r["epoch_lr"] for r in full.epochs}) == 3


def test_a_checkpoint_without_scheduler_state_still_resumes_per_epoch_schedules(tiny_packed, tmp_path):
    """Checkpoints written before the scheduler's state_dict was saved replay a per-epoch schedule (as they always
    did) and resume exactly; a per-batch schedule cannot resume from one and says so."""
    from effdl.io import load_checkpoint, save_checkpoint

    class Kill:
        def after_train_epoch(self, epoch, model):
            if epoch == 2:
                raise KeyboardInterrupt

    _, full = tiny_run(tiny_packed, tmp_path / "a")
    for schedule in ({}, {"scheduler": "one_cycle", "milestones": ()}):
        where = tmp_path / ("b" + schedule.get("scheduler", ""))
        where.mkdir()
        with pytest.raises(KeyboardInterrupt):
            tiny_run(tiny_packed, where, hooks=[Kill()], **schedule)
        state = load_checkpoint(where / "ckpt.pt")
        del state["scheduler"]  # the old format
        save_checkpoint(state, where / "ckpt.pt")
        if schedule:
            with pytest.raises(CheckpointError, match="no scheduler state"):
                tiny_run(tiny_packed, where, **schedule)
            continue
        _, resumed = tiny_run(tiny_packed, where)
        assert resumed.resumed_from_epoch == 2
        assert [r["test_acc"] for r in resumed.epochs] == [r["test_acc"] for r in full.epochs]
        assert [r["epoch_lr"] for r in resumed.epochs] == [r["epoch_lr"] for r in full.epochs]


def test_one_cycle_steps_per_batch_and_ends_at_its_floor():
    """OneCycleLR rises from max_lr/div_factor to max_lr and anneals to start/final_div_factor over every batch."""
    cfg = TrainConfig(epochs=4, lr=0.1, scheduler="one_cycle", max_lr=0.4, pct_start=0.275)
    per_batch = lr_schedule(cfg, steps_per_epoch=10)  # torch peaks at step pct_start * 40 - 1 = 10: epoch 2's start
    assert per_batch[0] == pytest.approx(0.4 / 25)
    assert per_batch[1] == pytest.approx(0.4)
    assert per_batch[1] > per_batch[2] > per_batch[3] > 0.4 / 25 / 1e4
    assert per_batch != lr_schedule(cfg, steps_per_epoch=5)  # the number of batches per epoch shapes the schedule
    assert cfg.steps_per_batch and not TrainConfig(epochs=4, lr=0.1, scheduler="multistep").steps_per_batch


def test_divergence_is_recorded_not_raised(tiny_packed, tmp_path):
    _, result = tiny_run(tiny_packed, tmp_path, lr=1e6, checkpoint=False)
    assert result.diverged
    losses = pd.DataFrame(result.iterations)["loss"]
    assert not math.isfinite(losses.iloc[-1])
    # stopped in the epoch of the first non-finite loss (4 batches an epoch): nothing trained or tested after it
    first_bad_epoch = int((~losses.map(math.isfinite)).idxmax()) // 4 + 1
    assert first_bad_epoch < 3, "lr=1e6 should diverge before the last of 3 epochs"
    assert [r["epoch"] for r in result.epochs] == list(range(1, first_bad_epoch + 1))
    assert len(losses) == 4 * first_bad_epoch


def _losses(packed, seed: int, shuffle: bool) -> list[float]:
    torch.manual_seed(0)  # the same initial weights every time: only the engine's generator (cfg.seed) varies
    cfg = TrainConfig(epochs=2, lr=0.05, batch_size=50, seed=seed, augment=False, shuffle=shuffle, precision="fp32")
    train_set = DeviceDataset.from_packed(packed, "train", "cpu")
    test_set = DeviceDataset.from_packed(packed, "test", "cpu")
    result = train(small_net(), train_set, test_set, cfg, "cpu", mean=MEAN, std=STD, log=lambda _: None)
    return [row["loss"] for row in result.iterations]


def test_shuffle_false_trains_in_the_data_order_every_epoch(tiny_packed):
    """Without shuffling (or augmentation) the engine's seed draws nothing, so two seeds train identically."""
    assert _losses(tiny_packed, 1, shuffle=False) == _losses(tiny_packed, 2, shuffle=False)
    assert _losses(tiny_packed, 1, shuffle=True) != _losses(tiny_packed, 2, shuffle=True)


def test_the_log_names_the_resolved_precision_and_layout(tiny_packed):
    lines = []
    cfg = TrainConfig(epochs=1, lr=0.05, batch_size=50, precision="auto", channels_last=True)
    train_set = DeviceDataset.from_packed(tiny_packed, "train", "cpu")
    test_set = DeviceDataset.from_packed(tiny_packed, "test", "cpu")
    result = train(small_net(), train_set, test_set, cfg, "cpu", mean=MEAN, std=STD, log=lines.append)
    expected = resolve_precision("auto", torch.device("cpu"))
    assert result.precision == expected
    assert f"precision {expected} (engine.precision: auto), channels_last, torch.compile off" in lines
