"""Part 6.2: time DWConvNet training steps, the notebook's per-channel-loop layer against the `groups` reference."""

import statistics
import time

import torch
import torch.nn as nn

from effdl.measure import synchronize
from effdl.models.dwconv import IMPLS, DWConvNet, _layer_class


def benchmark_training_steps(
    device: torch.device | str,
    *,
    impls: tuple[str, ...] = IMPLS,
    batch_size: int = 128,
    steps: int = 20,
    warmup: int = 3,
    lr: float = 1e-3,
    image_size: int = 32,
    seed: int = 43,
    reference: str = "solution",
) -> list[dict]:
    """Time DWConvNet training steps (forward, backward, Adam step) for each impl in one process.

    Every impl trains on the same fixed random batch (timing, not learning, is measured; no
    data loading in the timed span). Steps alternate between impls so that drift in machine load
    hits all of them alike. Returns one row per impl with the median step time (and of its forward,
    backward and optimizer phases), images/s, the number of parameter tensors the optimizer walks,
    and `time_ratio` = its median step time / the `reference` impl's (so the "mine" row's value is
    how many times faster the solution is).
    """
    if reference not in impls:
        raise ValueError(f"reference {reference!r} is not among impls {impls}; add it or pick one of them")
    for impl in impls:
        _layer_class(impl)
    if steps < 1 or warmup < 0 or batch_size < 1:
        raise ValueError(f"need steps >= 1, warmup >= 0, batch_size >= 1; got {steps}, {warmup}, {batch_size}")
    device = torch.device(device)
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(batch_size, 3, image_size, image_size, generator=generator).to(device)
    labels = torch.randint(0, 10, (batch_size,), generator=generator).to(device)
    criterion = nn.CrossEntropyLoss()
    setups = {}
    for impl in impls:
        torch.manual_seed(seed)
        model = DWConvNet(impl).to(device).train()
        setups[impl] = (model, torch.optim.Adam(model.parameters(), lr=lr))

    def step(impl: str) -> dict[str, float]:
        """One training step; seconds spent in forward, backward and the optimizer (synchronised between)."""
        model, optimizer = setups[impl]
        marks = [time.perf_counter()]
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(images), labels)
        synchronize(device)
        marks.append(time.perf_counter())
        loss.backward()
        synchronize(device)
        marks.append(time.perf_counter())
        optimizer.step()
        synchronize(device)
        marks.append(time.perf_counter())
        return {
            "step": marks[3] - marks[0],
            "forward": marks[1] - marks[0],
            "backward": marks[2] - marks[1],
            "optimizer": marks[3] - marks[2],
        }

    synchronize(device)
    for _ in range(warmup):
        for impl in impls:
            step(impl)
    times = {impl: [] for impl in impls}
    for k in range(steps):
        # Rotate the order every step so no impl always runs first after the other.
        order = impls[k % len(impls) :] + impls[: k % len(impls)]
        for impl in order:
            times[impl].append(step(impl))
    medians = {
        impl: {phase: statistics.median(t[phase] for t in runs) for phase in runs[0]} for impl, runs in times.items()
    }
    return [
        {
            "impl": impl,
            "reference": reference,
            "batch_size": batch_size,
            "steps": steps,
            "warmup": warmup,
            "param_tensors": len(list(setups[impl][0].parameters())),
            "median_step_s": medians[impl]["step"],
            "median_forward_s": medians[impl]["forward"],
            "median_backward_s": medians[impl]["backward"],
            "median_optimizer_s": medians[impl]["optimizer"],
            "images_per_s": batch_size / medians[impl]["step"],
            "time_ratio": medians[impl]["step"] / medians[reference]["step"],
        }
        for impl in impls
    ]


def time_training_epochs(
    device: torch.device | str,
    train_set,
    *,
    mean,
    std,
    impls: tuple[str, ...] = IMPLS,
    epochs: int = 1,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 43,
    reference: str = "solution",
) -> list[dict]:
    """The problem set's 6.2.2 measurement: wall time of whole DWConvNet training epochs with each impl.

    Each impl trains its own DWConvNet (same initial weights) with Adam over every image of `train_set`
    (an effdl.data.DeviceDataset), shuffled and augmented as the training runs are, batches made on the fly;
    epochs alternate between impls (rotating which goes first) so that drift in machine load hits all alike.
    Returns one row per impl: epochs, images per epoch, total and median epoch seconds, images/s, and
    `time_ratio` = its total time / the `reference` impl's.
    """
    from effdl.data import iterate_batches  # the data layer only here: the step benchmark needs no data

    if reference not in impls:
        raise ValueError(f"reference {reference!r} is not among impls {impls}; add it or pick one of them")
    for impl in impls:
        _layer_class(impl)
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"need epochs >= 1 and batch_size >= 1; got {epochs}, {batch_size}")
    device = torch.device(device)
    criterion = nn.CrossEntropyLoss()
    setups = {}
    for impl in impls:
        torch.manual_seed(seed)
        model = DWConvNet(impl).to(device).train()
        # one generator per impl, seeded alike: both see the same batches in the same order
        setups[impl] = (model, torch.optim.Adam(model.parameters(), lr=lr), torch.Generator().manual_seed(seed))

    def epoch(impl: str) -> float:
        model, optimizer, generator = setups[impl]
        synchronize(device)
        tick = time.perf_counter()
        batches = iterate_batches(
            train_set, batch_size, mean=mean, std=std, augment=True, shuffle=True, generator=generator
        )
        for x, y in batches:
            optimizer.zero_grad(set_to_none=True)
            criterion(model(x), y).backward()
            optimizer.step()
        synchronize(device)
        return time.perf_counter() - tick

    seconds = {impl: [] for impl in impls}
    for k in range(epochs):
        for impl in impls[k % len(impls) :] + impls[: k % len(impls)]:
            seconds[impl].append(epoch(impl))
    total = {impl: sum(times) for impl, times in seconds.items()}
    return [
        {
            "impl": impl,
            "reference": reference,
            "epochs": epochs,
            "images_per_epoch": len(train_set),
            "batch_size": batch_size,
            "total_s": total[impl],
            "median_epoch_s": statistics.median(seconds[impl]),
            "images_per_s": epochs * len(train_set) / total[impl],
            "time_ratio": total[impl] / total[reference],
        }
        for impl in impls
    ]
