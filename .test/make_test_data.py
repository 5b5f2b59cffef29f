"""Rebuild the smoke configuration's data in .test/ from the full offline copies, byte for byte the same each time.

Usage:  python .test/make_test_data.py [--source ../shared/data] [--out .test] [--check]

Each archive holds exactly the images that config/smoke.yaml's seeded per-class subset (the same seed and
counts) picks from the full copy, with the full copy's bytes and member names (a class prefix where the names alone
would reorder a split, see `renamed`). Reading an archive with that subset then keeps every image in the same
order, so the smoke run trains on the same tensors as when it read the full copies. `--check` rebuilds into a
temporary folder and compares the archives' contents with the committed ones.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))  # the repository's own selection code, also without an install

# output archive -> (full copy it is cut from, the subset of config/smoke.yaml that reads it)
ARCHIVES = {
    "cifar10-jpeg.tar.gz": ("cifar10-jpeg.tar.gz", {"train_per_class": 32, "test_per_class": 32, "seed": 0}),
    "mnist-png.tar.gz": ("mnist-png.tar.gz", {"train_per_class": 500, "test_per_class": 100, "seed": 0}),
    # CINIC-10 stand-in: its own archive, because the seeded pick depends on how many images a class holds. Its name
    # says 'cifar' and not 'cinic': the report names the data set from the source path (report/part4.data_name).
    "cifar10-stand-in.tar.gz": ("cifar10-jpeg.tar.gz", {"train_per_class": 8, "test_per_class": 5, "seed": 0}),
}


def renamed(name: str) -> str:
    """cifar10/train/cat/0042.jpg -> cifar10/train/cat/cat_0042.jpg (same order within the class folder).

    effdl.data orders a split by file name when every name is a distinct integer (MNIST's original indices).
    CIFAR-10's names are per-class counters that repeat across classes, but 8 of 5,000 per class rarely repeat,
    and then that rule would reorder the split; a class prefix keeps it in class-then-counter order.
    """
    path = Path(name)
    return str(path.with_name(f"{path.parent.name}_{path.name}"))


def _keeps_order(names: list[str], picked: list[tuple[int, tarfile.TarInfo]]) -> bool:
    """Whether effdl.data, reading files of these names, packs them in the order of `picked` (label, member)."""
    from effdl.data import order_items

    items = [(Path(name).name, label, i) for i, (name, (label, _)) in enumerate(zip(names, picked))]
    return [i for _, _, i in order_items(items)] == list(range(len(items)))


def select_members(source: Path, subset: dict) -> list[tuple[tarfile.TarInfo, str]]:
    """(member, name to store) for the members of `source` that effdl.data's seeded subset keeps, in the order
    read_imagefolder packs them; names are kept unless keeping them would change that order."""
    import torch

    from effdl.data import SPLITS, _split_class_of, order_items, subset_indices

    with tarfile.open(source, "r:*") as archive:
        members = [m for m in archive.getmembers() if m.isfile() and _split_class_of(Path(m.name).parts)]
    classes = sorted({_split_class_of(Path(m.name).parts)[1] for m in members})
    picked = {}  # split -> [(label, member)] in packing order
    for split in SPLITS:
        items = order_items(
            [
                (Path(m.name).name, classes.index(_split_class_of(Path(m.name).parts)[1]), m)
                for m in members
                if _split_class_of(Path(m.name).parts)[0] == split
            ]
        )
        labels = torch.tensor([label for _, label, _ in items], dtype=torch.int64)
        picked[split] = [items[i][1:] for i in subset_indices(labels, subset, split, where=source).tolist()]
    name = str if all(_keeps_order([m.name for _, m in p], p) for p in picked.values()) else renamed
    for split, pairs in picked.items():
        assert _keeps_order([name(m.name) for _, m in pairs], pairs), f"{source} {split}: names change the order"
    chosen = [(member, name(member.name)) for pairs in picked.values() for _, member in pairs]
    return chosen


def write_archive(source: Path, members: list[tuple[tarfile.TarInfo, str]], out: Path) -> None:
    """A tar.gz of (member, stored name) pairs (bytes as in `source`) with fixed metadata, so the bytes never vary."""
    buffer = io.BytesIO()
    with (
        tarfile.open(source, "r:*") as archive,
        tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        for member, name in sorted(members, key=lambda pair: pair[1]):
            data = archive.extractfile(member).read()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime, info.uid, info.gid = len(data), 0o644, 0, 0, 0
            tar.addfile(info, io.BytesIO(data))
    with open(out, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
        gz.write(buffer.getvalue())


def build(source_dir: Path, out_dir: Path) -> dict[str, str]:
    """Write every archive of ARCHIVES into out_dir; return {file name: sha256}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sums = {}
    for name, (source_name, subset) in ARCHIVES.items():
        source = source_dir / source_name
        write_archive(source, select_members(source, subset), out_dir / name)
        sums[name] = hashlib.sha256((out_dir / name).read_bytes()).hexdigest()
        print(f"{name}: {(out_dir / name).stat().st_size:,} bytes, sha256 {sums[name]}")
    return sums


def tar_digest(path: Path) -> str:
    """sha256 of the uncompressed tar: what an archive holds, whatever zlib compressed it."""
    return hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()


def check(source_dir: Path, committed: Path) -> int:
    """Rebuild in a temporary folder; 0 when every archive holds the same tar as the committed one, which matches
    its line in SHA256SUMS."""
    listed = dict(line.split()[::-1] for line in (committed / "SHA256SUMS").read_text().splitlines() if line)
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        build(source_dir, Path(tmp))
        for name in ARCHIVES:
            if hashlib.sha256((committed / name).read_bytes()).hexdigest() != listed.get(name):
                problems.append(f"{committed / name} does not match its sha256 in SHA256SUMS")
            if tar_digest(Path(tmp) / name) != tar_digest(committed / name):
                problems.append(f"{committed / name} holds other files or bytes than a rebuild from {source_dir}")
    print("\n".join(problems) or "every archive matches a rebuild", file=sys.stderr if problems else sys.stdout)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=HERE.parent.parent / "shared" / "data", help="the full copies")
    parser.add_argument("--out", type=Path, default=HERE, help="where the archives go (default: .test/)")
    parser.add_argument("--check", action="store_true", help="rebuild in a temporary folder and compare with --out")
    args = parser.parse_args(argv)
    if not all((args.source / source).exists() for source, _ in ARCHIVES.values()):
        parser.error(f"{args.source} lacks the full copies (cifar10-jpeg.tar.gz, mnist-png.tar.gz)")
    if args.check:
        return check(args.source, args.out)
    sums = build(args.source, args.out)
    (args.out / "SHA256SUMS").write_text("".join(f"{digest}  {name}\n" for name, digest in sums.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
