"""The seed's classic input pipeline (PIL images, torchvision transforms, DataLoader), the benchmark's baseline."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from effdl.bench.settings import SEED_NUM_WORKERS, BenchSettings
from effdl.data import DataError, load_packed, read_imagefolder, subset_indices
from effdl.measure import synchronize


def take_per_class(split: dict, per_class: int, seed: int, split_name: str) -> dict:
    """A seeded per-class subset {'images', 'labels'} of one split of a packed data set."""
    keep = subset_indices(split["labels"], {f"{split_name}_per_class": per_class, "seed": seed}, split_name)
    return {"images": split["images"][keep], "labels": split["labels"][keep]}


def load_bench_data(path: str | Path, train_per_class: int, test_per_class: int, seed: int = 0) -> dict:
    """Real images for the benchmark: a packed .pt (prepare_data's output) or an ImageFolder tree / .tar.gz."""
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"benchmark data {path} does not exist. Fix: pass --data pointing at "
            "results/data/cifar10.pt or ../shared/data/cifar10-jpeg.tar.gz"
        )
    if path.suffix == ".pt":
        packed = load_packed(path)
        return {
            **packed,
            "train": take_per_class(packed["train"], train_per_class, seed, "train"),
            "test": take_per_class(packed["test"], test_per_class, seed, "test"),
        }
    return read_imagefolder(path, {"train_per_class": train_per_class, "test_per_class": test_per_class, "seed": seed})


class PILImageDataset(torch.utils.data.Dataset):
    """Like torchvision.datasets.CIFAR10: an (N, H, W, C) uint8 array turned into a PIL image per item."""

    def __init__(self, images_u8: torch.Tensor, labels: torch.Tensor, transform: Callable):
        self.data = images_u8.permute(0, 2, 3, 1).numpy()  # (N, H, W, C) as CIFAR10.data
        if self.data.shape[-1] == 1:
            self.data = self.data[..., 0]  # grayscale: PIL wants (H, W)
        self.targets = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.data[index])), self.targets[index]


def classic_transform(mean, std, augment: bool):
    """The seed's transforms: RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize (train)."""
    from torchvision import transforms

    steps = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()] if augment else []
    return transforms.Compose(steps + [transforms.ToTensor(), transforms.Normalize(mean, std)])


def classic_loader(
    split: dict, batch_size: int, *, mean, std, augment: bool, shuffle: bool, num_workers: int, seed: int = 0
) -> torch.utils.data.DataLoader:
    """A DataLoader over PIL images with the seed's transforms (CPU tensors; the step moves them)."""
    dataset = PILImageDataset(split["images"], split["labels"], classic_transform(mean, std, augment))
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
    )


def classic_epoch_seconds(
    model: nn.Module, data: dict, settings: BenchSettings, device: torch.device, epochs: int
) -> float:
    """The seed's epoch: a training pass then a test pass through fresh DataLoader iterators (workers included)."""
    kw = dict(mean=settings.mean, std=settings.std, num_workers=SEED_NUM_WORKERS)
    train_loader = classic_loader(data["train"], settings.batch_size, augment=True, shuffle=True, **kw)
    test_loader = classic_loader(data["test"], settings.batch_size, augment=False, shuffle=False, **kw)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.acc_lr, momentum=0.9, weight_decay=5e-4)
    seconds = 0.0
    for _ in range(epochs):
        synchronize(device)
        tick = time.perf_counter()
        model.train()
        for x, y in train_loader:
            loss = nn.functional.cross_entropy(model(x.to(device)), y.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            for x, y in test_loader:
                model(x.to(device)).argmax(1).eq(y.to(device)).sum()
        synchronize(device)
        seconds = time.perf_counter() - tick
    return seconds
