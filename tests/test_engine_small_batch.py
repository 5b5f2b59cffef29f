"""Small-batch training (the MNIST MLP at batch 1): the engine's lean step loop gives a plain loop's exact numbers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import effdl.data
from effdl.data import DeviceDataset, iterate_batches, normalize
from effdl.engine import TrainConfig, train
from effdl.execution import flush_denormals, step_threads
from effdl.models.convnet import MNISTNet
from effdl.plan.spec import SINGLE_THREAD_MAX_BATCH

MEAN, STD = (0.1307,), (0.3081,)


def mnist_like(n: int, seed: int = 0) -> DeviceDataset:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=generator)
    return DeviceDataset(images, torch.randint(0, 10, (n,), generator=generator), "cpu")


def digits_like(n: int, seed: int = 0) -> DeviceDataset:
    """MNIST-shaped images, zero outside a central block as a digit is, with random labels: training on them
    leaves hidden units off for long stretches, whose Adam moments decay into denormal numbers."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    images[:, :, 6:22, 8:20] = torch.randint(0, 256, (n, 1, 16, 12), dtype=torch.uint8, generator=generator)
    return DeviceDataset(images, torch.randint(0, 10, (n,), generator=generator), "cpu")


def mlp_recipe(**settings) -> TrainConfig:
    """The MNIST MLP's recipe (quant.smk: Adam, StepLR(1, 0.1), no augmentation) in fp32 (`auto` would pick bf16
    on some CPUs), seed 5; `settings` add epochs, batch size and shuffling."""
    return TrainConfig(
        optimizer="adam",
        lr=1e-3,
        weight_decay=0.0,
        scheduler="step",
        step_size=1,
        gamma=0.1,
        augment=False,
        precision="fp32",
        channels_last=False,
        seed=5,
        **settings,
    )


def plain_loop(train_set: DeviceDataset, cfg: TrainConfig, optimizer_out: list | None = None):
    """The notebook's loop written out: Adam + StepLR, one sample after the other, nothing else; returns the
    model, every iteration's loss and every epoch's training accuracy (and appends its optimizer to
    `optimizer_out`)."""
    torch.manual_seed(0)
    model = MNISTNet(hidden=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    if optimizer_out is not None:
        optimizer_out.append(optimizer)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=cfg.gamma)
    generator = torch.Generator().manual_seed(cfg.seed)
    mean, std = torch.tensor(MEAN), torch.tensor(STD)
    losses, accuracies = [], []
    for _ in range(cfg.epochs):
        model.train()
        order = torch.randperm(len(train_set), generator=generator) if cfg.shuffle else torch.arange(len(train_set))
        correct = 0
        for start in range(0, len(train_set), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            x, y = normalize(train_set.images[idx], mean, std), train_set.labels[idx]
            out = model(x)
            loss = nn.functional.cross_entropy(out, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            correct += int((out.argmax(1) == y).sum())
        accuracies.append(100.0 * correct / len(train_set))
        scheduler.step()
    return model, losses, accuracies


@pytest.mark.parametrize("batch_size,shuffle", [(1, False), (3, True)], ids=["batch1", "batch3-shuffled"])
def test_a_small_batch_run_equals_the_plain_loop_bit_for_bit(batch_size, shuffle):
    """Same seed and config: identical per-iteration losses, epoch accuracies and final weights, although the
    engine prepares the images in chunks, keeps the metrics until the epoch ends and steps on one thread (the
    plain loop uses the process's threads). 100 images do not divide by 3: the last batch is short."""
    train_set, test_set = mnist_like(100), mnist_like(20, seed=1)
    cfg = mlp_recipe(epochs=2, batch_size=batch_size, shuffle=shuffle)
    torch.set_num_threads(2)  # the train_model rule's threads: the engine's step must not depend on them
    torch.manual_seed(0)
    model = MNISTNet(hidden=16)
    result = train(model, train_set, test_set, cfg, "cpu", mean=MEAN, std=STD, log=lambda _: None)
    assert torch.get_num_threads() == 2  # step_threads put the thread count back
    reference, losses, accuracies = plain_loop(train_set, cfg)
    assert [row["loss"] for row in result.iterations] == losses
    assert [row["train_acc"] for row in result.epochs] == accuracies
    for (name, ours), theirs in zip(model.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(ours, theirs), name


@pytest.mark.parametrize("augment,channels_last", [(False, False), (True, True)])
@pytest.mark.parametrize("batch_size", [1, 5, 64])
def test_chunked_batches_equal_batches_prepared_one_at_a_time(monkeypatch, augment, channels_last, batch_size):
    """iterate_batches prepares small batches CHUNK_IMAGES at a time: each batch equals the one the old
    per-batch preparation (CHUNK_IMAGES = 1) gives, augmentation and layout included."""
    generator = torch.Generator().manual_seed(0)
    dataset = DeviceDataset(
        torch.randint(0, 256, (150, 3, 8, 8), dtype=torch.uint8, generator=generator), torch.arange(150) % 10, "cpu"
    )
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)

    def batches():
        kwargs = dict(augment=augment, shuffle=True, channels_last=channels_last, crop_pad=2)
        return list(
            iterate_batches(
                dataset, batch_size, mean=mean, std=std, generator=torch.Generator().manual_seed(3), **kwargs
            )
        )

    chunked = batches()
    monkeypatch.setattr(effdl.data, "CHUNK_IMAGES", 1)
    one_at_a_time = batches()
    assert len(chunked) == len(one_at_a_time) == -(-150 // batch_size)
    for (x, y), (x_ref, y_ref) in zip(chunked, one_at_a_time):
        assert torch.equal(x, x_ref) and torch.equal(y, y_ref)
        if channels_last:
            assert x.is_contiguous(memory_format=torch.channels_last)


def test_step_threads_only_narrows_small_cpu_batches():
    torch.set_num_threads(2)
    with step_threads(1, torch.device("cpu")):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with step_threads(SINGLE_THREAD_MAX_BATCH + 1, torch.device("cpu")):
        assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), step_threads(1, torch.device("cpu")):
        raise RuntimeError("a failing step")
    assert torch.get_num_threads() == 2


def test_flushing_denormals_keeps_a_batch_one_runs_weights_bit_identical():
    """The engine flushes denormals to zero at batch 1 (faster Adam steps); the plain loop does not. On these
    images and random labels most hidden units die, the plain loop's Adam moments do reach denormal values,
    and the weights still agree bit for bit: a moment below 1.2e-38 moves no weight."""
    train_set, test_set = digits_like(1500), digits_like(20, seed=1)
    cfg = mlp_recipe(epochs=1, batch_size=1, shuffle=False)
    torch.manual_seed(0)
    model = MNISTNet(hidden=16)
    train(model, train_set, test_set, cfg, "cpu", mean=MEAN, std=STD, log=lambda _: None)
    optimizers = []
    reference, _, _ = plain_loop(train_set, cfg, optimizers)
    moments = torch.cat([state["exp_avg"].flatten() for state in optimizers[0].state.values()])
    assert ((moments != 0) & (moments.abs() < torch.finfo(torch.float32).tiny)).any(), "no denormal arose"
    for (name, ours), theirs in zip(model.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(ours, theirs), name


def test_flush_denormals_acts_only_on_small_cpu_batches_and_only_inside():
    denormal = torch.tensor([1e-39])
    with flush_denormals(1, torch.device("cpu")):
        assert (denormal * 1.0).item() == 0.0
    assert (denormal * 1.0).item() != 0.0
    with flush_denormals(SINGLE_THREAD_MAX_BATCH + 1, torch.device("cpu")):
        assert (denormal * 1.0).item() != 0.0
