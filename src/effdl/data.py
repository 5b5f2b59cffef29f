"""Data layer: pack a data set once into uint8 tensors, keep it on the device, batch and augment there.

Sources (chosen per data set in the config's `datasets` section):
  * ``torchvision``: the real download (CIFAR10, MNIST) into ``root``; needs a network.
  * ``imagefolder``: an ImageFolder tree (``<split>/<class>/<file>``) as a directory or a ``.tar.gz``
    of one: the offline copies in ``../shared/data/`` and the CINIC-10 release.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import zlib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from effdl.io import load_checkpoint, sha256_file, write_text
from effdl.plan.contract import DataError, check_model_fit, check_summary, meta_path, source_key

SPLITS = ("train", "test")
ALL = "all"  # a subset's `<split>_per_class: all` keeps that split whole (MNIST's test classes are unbalanced)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
TORCHVISION_CLASSES = {"cifar10": "CIFAR10", "mnist": "MNIST"}
# iterate_batches prepares batches smaller than this many images together (batch 128 and up: one at a time)
CHUNK_IMAGES = 64


# ---------------------------------------------------------------------------------------------
# Reading sources


def _split_class_of(parts: tuple[str, ...]) -> tuple[str, str] | None:
    """('cifar10', 'train', 'cat', '1.jpg') -> ('train', 'cat'); None for files outside a split."""
    if len(parts) >= 3 and parts[-3] in SPLITS and parts[-1].lower().endswith(IMAGE_SUFFIXES):
        return parts[-3], parts[-2]
    return None


def _key(name: str | None) -> str:
    return f"datasets.{name}" if name else "datasets.<name>"


def _list_imagefolder(path: Path, name: str | None = None) -> tuple[dict, str]:
    """Map (split, class) -> {file name: (member path, bytes)}; also return the source's sha256."""
    entries: dict[tuple[str, str], dict[str, tuple[str, bytes]]] = defaultdict(dict)
    if path.is_dir():
        digest = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            key = _split_class_of(file.relative_to(path).parts)
            if key is None:
                continue
            data = file.read_bytes()
            digest.update(str(file.relative_to(path)).encode() + b"\0" + data)
            entries[key][file.name] = (str(file), data)
        return entries, digest.hexdigest()
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz", ".tar")):
        try:
            with tarfile.open(path, "r:*") as archive:
                for member in archive:
                    if not member.isfile():
                        continue
                    key = _split_class_of(tuple(Path(member.name).parts))
                    if key is not None:
                        entries[key][Path(member.name).name] = (member.name, archive.extractfile(member).read())
        except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
            raise DataError(
                f"data set '{name}': cannot read the archive {path} ({type(err).__name__}: {err}); it is truncated "
                f"or corrupt. Fix: re-copy or re-download it, or point {_key(name)}.path at a good copy."
            ) from err
        return entries, sha256_file(path)
    raise DataError(
        f"data set '{name}': {path} is neither an ImageFolder directory nor a .tar.gz of one. "
        f"Fix: point {_key(name)}.path at train/<class>/<image> and test/<class>/<image> files or a .tar.gz of them."
    )


def _natural_key(name: str) -> tuple:
    return tuple(int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name))


def order_items(items: list[tuple]) -> list[tuple]:
    """Sort (file name, label, ...) items: by integer name when all names are distinct integers, else class/name."""
    stems = [Path(item[0]).stem for item in items]
    if all(stem.isdigit() for stem in stems) and len(set(stems)) == len(stems):
        return sorted(items, key=lambda item: int(Path(item[0]).stem))
    return sorted(items, key=lambda item: (item[1], _natural_key(item[0])))


def _decode(blobs: list[tuple[str, bytes]], source: Path | str = "", name: str | None = None) -> np.ndarray:
    """Decode (member, encoded image) pairs to one uint8 array (N, C, H, W); all images must share one size.

    An undecodable file or a different size raises DataError naming the member, the source and the config key.
    """
    from PIL import Image, UnidentifiedImageError

    def load(member: str, blob: bytes, mode: str | None = None) -> np.ndarray:
        try:
            image = Image.open(io.BytesIO(blob))
            mode = mode or ("L" if image.mode in ("L", "1", "I;16") else "RGB")  # grayscale stays 1-channel
            return np.asarray(image.convert(mode))
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
            reason = str(err).split(" <_io")[0]  # PIL names the in-memory buffer, not the file
            raise DataError(
                f"data set '{name}': {member} in {source} is not a readable image ({type(err).__name__}: {reason}). "
                f"Fix: remove or replace that file, or point {_key(name)}.path at a good copy."
            ) from err

    first = load(*blobs[0])
    mode = "L" if first.ndim == 2 else "RGB"
    arrays = [first] + [load(member, blob, mode) for member, blob in blobs[1:]]
    for (member, _), array in zip(blobs, arrays):
        if array.shape != first.shape:
            raise DataError(
                f"data set '{name}': {source} mixes image sizes: {blobs[0][0]} is {first.shape[1]}x{first.shape[0]} "
                f"but {member} is {array.shape[1]}x{array.shape[0]} (width x height); the data layer needs one size. "
                f"Fix: resize the images to one size, or point {_key(name)}.path at a data set of one size."
            )
    stacked = np.stack(arrays)
    return stacked[:, None] if stacked.ndim == 3 else stacked.transpose(0, 3, 1, 2)


def read_imagefolder(path: str | Path, subset: dict | None = None, name: str | None = None) -> dict:
    """Pack an ImageFolder tree (directory or .tar.gz) into uint8 tensors, optionally a seeded per-class subset.

    Order: if every file name in a split is a distinct integer (the MNIST copy), files are sorted by
    that integer, which recovers the original data set order; otherwise by class then natural name.
    `name` (the data set's config name) goes into error messages as the key to change.
    """
    path = Path(path)
    entries, sha256 = _list_imagefolder(path, name)
    classes = sorted({cls for (_, cls) in entries})
    if not classes or not all(any(split == s for (s, _) in entries) for split in SPLITS):
        raise DataError(
            f"data set '{name}': {path} has no '<split>/<class>/<image>' files for both splits {SPLITS}. "
            f"Fix: point {_key(name)}.path at an ImageFolder tree with train/ and test/ class folders."
        )
    packed = {"classes": classes, "source": f"imagefolder:{path}", "sha256": sha256}
    for split in SPLITS:
        items = order_items(
            [
                (file, classes.index(cls), member_blob)
                for (s, cls), files in entries.items()
                if s == split
                for file, member_blob in files.items()
            ]
        )
        labels = torch.tensor([label for _, label, _ in items], dtype=torch.int64)
        keep = (
            subset_indices(labels, subset, split, name=name, classes=classes, where=path)
            if subset
            else torch.arange(len(items))
        )
        blobs = [items[i][2] for i in keep.tolist()]
        packed[split] = {"images": torch.from_numpy(_decode(blobs, path, name)), "labels": labels[keep]}
    return packed


def per_class_limit(subset: dict | None, split: str) -> int | None:
    """Images per class a subset keeps of `split`; None = the whole split (no subset, the key omitted, or 'all')."""
    value = (subset or {}).get(f"{split}_per_class", ALL)
    if value in (None, ALL):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataError(
            f"subset.{split}_per_class = {value!r} is not a positive integer or 'all'. "
            f"Fix: set datasets.<name>.subset.{split}_per_class to a count, or 'all' for the whole {split} split."
        )
    return value


def subset_indices(
    labels: torch.Tensor, subset: dict, split: str, *, name: str | None = None, classes=None, where=""
) -> torch.Tensor:
    """A seeded per-class subset, kept in the original order (every index when the split is kept whole)."""
    per_class = per_class_limit(subset, split)
    if per_class is None:
        return torch.arange(len(labels))
    generator = torch.Generator().manual_seed(int(subset.get("seed", 0)))
    chosen = []
    for cls in labels.unique().tolist():
        members = torch.nonzero(labels == cls).flatten()
        if per_class > len(members):
            label = f"'{classes[cls]}'" if classes else str(cls)
            raise DataError(
                f"data set '{name}': {_key(name)}.subset.{split}_per_class = {per_class}, but class {label} has only "
                f"{len(members)} {split} images in {where or 'the source'}. Fix: lower {_key(name)}.subset."
                f"{split}_per_class to at most {len(members)}, or set {_key(name)}.subset: null (all images)."
            )
        chosen.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return torch.cat(chosen).sort().values


def read_torchvision(name: str, root: str | Path, subset: dict | None = None) -> dict:
    """Download (or reuse) a torchvision data set and pack it; raises DataError when it cannot be fetched."""
    import torchvision

    cls = getattr(torchvision.datasets, TORCHVISION_CLASSES[name])
    packed: dict = {"source": f"torchvision:{TORCHVISION_CLASSES[name]}"}
    digest = hashlib.sha256()
    try:
        for split in SPLITS:
            ds = cls(str(root), train=(split == "train"), download=True)
            data = np.asarray(ds.data)
            images = data[:, None] if data.ndim == 3 else data.transpose(0, 3, 1, 2)
            labels = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
            digest.update(np.ascontiguousarray(images).tobytes() + labels.numpy().tobytes())
            keep = (
                subset_indices(labels, subset, split, name=name, classes=list(ds.classes), where=root)
                if subset
                else torch.arange(len(labels))
            )
            packed[split] = {"images": torch.from_numpy(np.ascontiguousarray(images))[keep], "labels": labels[keep]}
            packed["classes"] = list(ds.classes)
    except (OSError, RuntimeError) as err:
        raise DataError(
            f"could not download {TORCHVISION_CLASSES[name]} through torchvision into {root} ({err}). "
            f"Fix: on a machine without a network set datasets.{name}.source: imagefolder and "
            f"datasets.{name}.path to a local copy (e.g. ../shared/data/), or add --configfile config/offline.yaml."
        ) from err
    packed["sha256"] = digest.hexdigest()
    return packed


def prepare_dataset(name: str, source_cfg: dict) -> dict:
    """Read data set `name` from the source its config section describes and return the packed dict."""
    source = source_cfg["source"]
    subset = source_cfg.get("subset")
    if source == "torchvision":
        if name not in TORCHVISION_CLASSES:
            raise DataError(
                f"torchvision has no '{name}' loader here (known: {sorted(TORCHVISION_CLASSES)}). "
                f"Fix: set datasets.{name}.source: imagefolder and datasets.{name}.path."
            )
        packed = read_torchvision(name, source_cfg.get("root", "data/torchvision"), subset)
    elif source == "imagefolder":
        path = source_cfg.get("path")
        if not path or not Path(path).exists():
            raise DataError(
                f"data set '{name}': datasets.{name}.path = {path!r} does not exist. "
                "Fix: point it at an ImageFolder directory or .tar.gz (e.g. ../shared/data/cifar10-jpeg.tar.gz)."
            )
        packed = read_imagefolder(path, subset, name)
    elif source == "download":  # the download rule has fetched the archive to <root>/<file name of url>
        archive = Path(source_cfg.get("root") or f"data/{name}") / source_cfg["url"].rsplit("/", 1)[-1]
        if not archive.exists():
            raise DataError(
                f"data set '{name}': downloaded archive {archive} is missing. "
                f"Fix: run the download rule, or set datasets.{name}.source: imagefolder and .path."
            )
        packed = read_imagefolder(archive, subset, name)
    else:
        raise DataError(
            f"datasets.{name}.source = {source!r} is unknown. Fix: use 'torchvision', 'imagefolder' or 'download'."
        )
    packed["name"] = name
    packed["subset"] = dict(subset) if subset else None
    where = packed["source"].split(":", 1)[-1]
    check_summary(summarize(packed), dataset=name, where=where, mean=source_cfg.get("mean"), std=source_cfg.get("std"))
    return packed


def summarize(packed: dict) -> dict:
    """The packed data set's contract facts as plain types (written beside it as <name>.meta.json)."""
    classes = list(packed["classes"])
    _, channels, height, width = packed["train"]["images"].shape
    counts, low, high = {}, [], []
    for split in SPLITS:
        labels = packed[split]["labels"]
        if len(labels):
            low.append(int(labels.min()))
            high.append(int(labels.max()))
        counts[split] = torch.bincount(labels.clamp(min=0), minlength=len(classes))[: len(classes)].tolist()
        shape = tuple(packed[split]["images"].shape[1:])
        if shape != (channels, height, width):
            raise DataError(
                f"data set '{packed.get('name')}': its {split} images are {shape}, its train images "
                f"{(channels, height, width)}. Fix: rebuild it from one source of one image size."
            )
    return {
        "name": packed.get("name"),
        "source": packed.get("source"),
        "sha256": packed.get("sha256"),
        "channels": int(channels),
        "height": int(height),
        "width": int(width),
        "classes": classes,
        "counts": counts,
        "label_min": min(low, default=0),
        "label_max": max(high, default=0),
    }


def write_meta(packed: dict, packed_path: str | Path, source_cfg: dict | None = None) -> Path:
    """Write the summary (and the source config it was packed from) beside the packed file, for the checks
    Snakemake runs while it builds the DAG."""
    path = meta_path(packed_path)
    meta = {**summarize(packed), "source_config": source_key(source_cfg) if source_cfg is not None else None}
    write_text(json.dumps(meta, indent=1, default=str) + "\n", path)
    return path


def check_run_data(packed: dict, spec: dict, where: str | Path) -> None:
    """At run start: the data set's contract with the run's normalisation, and the model's needs."""
    summary = summarize(packed)
    dataset = spec.get("dataset") or packed.get("name")
    check_summary(summary, dataset=dataset, where=str(where), mean=spec.get("mean"), std=spec.get("std"))
    check_model_fit(summary, spec["model"], dataset=dataset, where=str(where), run=f"{spec['part']}/{spec['run']}")


def load_packed(path: str | Path, *, mmap: bool = True) -> dict:
    """Load a packed data set written by the prepare_data rule (weights_only, no code execution).

    Memory-mapped by default: opening CIFAR-10 (180 MB) takes milliseconds instead of reading it whole, and jobs
    that read only the test split never read the training images. On a CPU the mapped tensors are used in place
    (DeviceDataset's .to("cpu") keeps them); on a GPU they are copied once, as before.
    """
    return load_checkpoint(path, mmap=mmap)


# ---------------------------------------------------------------------------------------------
# On-device batching and augmentation


class DeviceDataset:
    """One split held on `device`: images uint8 (N, C, H, W) and labels int64 (N,)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, device: torch.device | str):
        self.images = images.to(device)
        self.labels = labels.to(device)

    @classmethod
    def from_packed(cls, packed: dict, split: str, device: torch.device | str) -> DeviceDataset:
        """The `split` of a packed data set, moved to `device`."""
        return cls(packed[split]["images"], packed[split]["labels"], device)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def device(self) -> torch.device:
        return self.images.device


def batch_crop(images: torch.Tensor, top: torch.Tensor, left: torch.Tensor, pad: int) -> torch.Tensor:
    """Zero-pad by `pad` and cut an (H, W) window at per-image offsets (top, left in [0, 2*pad])."""
    B, C, H, W = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))  # (B, C, H+2p, W+2p), zero fill as torchvision's RandomCrop
    # Every (H, W) window as a strided view, (B, C, 2p+1, 2p+1, H, W); picking one window per image with
    # three (B,) indices is ~2.5x faster on CPU than indexing with four broadcast (B, C, H, W) index tensors.
    windows = padded.unfold(2, H, 1).unfold(3, W, 1)
    return windows[torch.arange(B, device=images.device), :, top, left]  # (B, C, H, W)


def batch_flip(images: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirror the images whose `flip` entry is True (left-right)."""
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def channel_stats(images_u8: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of (N, C, H, W) uint8 images, on the [0, 1] scale of `normalize`."""
    pixels = images_u8.transpose(0, 1).reshape(images_u8.shape[1], -1).double() / 255.0  # (C, N*H*W)
    return tuple(pixels.mean(1).tolist()), tuple(pixels.std(1).tolist())


def normalize(images_u8: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32, scaled to [0, 1] then standardised per channel (ToTensor + Normalize)."""
    return (images_u8.float().div_(255.0) - mean[:, None, None]) / std[:, None, None]


def iterate_batches(
    dataset: DeviceDataset,
    batch_size: int,
    *,
    mean,
    std,
    augment: bool = False,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    crop_pad: int = 4,
    channels_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield normalised (x, y) batches on the data set's device; all randomness from `generator` (CPU).

    Random draws for the whole epoch are made up front on the CPU generator, so a run is reproducible
    on any device and resumable from the generator's saved state.
    """
    n, device = len(dataset), dataset.device
    mean = torch.as_tensor(mean, dtype=torch.float32, device=device)
    std = torch.as_tensor(std, dtype=torch.float32, device=device)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    if augment:
        offsets = torch.randint(0, 2 * crop_pad + 1, (2, n), generator=generator).to(device)
        flips = (torch.rand(n, generator=generator) < 0.5).to(device)
    order = order.to(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    # Small batches are prepared CHUNK_IMAGES at a time and handed out as views: gathering, augmenting and
    # normalising per batch of 1 costs more than the step's own arithmetic. Every operation here acts on each
    # image alone, so a batch's values do not depend on how many images were prepared with it.
    chunk = batch_size * max(1, CHUNK_IMAGES // batch_size)
    for first in range(0, n, chunk):
        idx = order[first : first + chunk]
        images = dataset.images[idx]
        if augment:
            step = slice(first, first + chunk)
            images = batch_flip(batch_crop(images, offsets[0, step], offsets[1, step], crop_pad), flips[step])
        xs = normalize(images, mean, std).contiguous(memory_format=memory_format)
        ys = dataset.labels[idx]
        if len(ys) <= batch_size:
            yield xs, ys
            continue
        for start in range(0, len(ys), batch_size):
            yield xs[start : start + batch_size], ys[start : start + batch_size]
