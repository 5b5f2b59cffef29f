"""The smoke data in .test/: inside the repository, committed whole, exactly the smoke subsets, rebuildable."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SHARED_DATA

from effdl.data import order_items

TEST_DATA = REPO / ".test"
FULL_COPIES = Path(os.environ.get("EFFDL_SHARED_DATA", SHARED_DATA))  # where the full offline copies are
SMOKE = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())["datasets"]


def per_class_counts(archive: Path) -> dict[str, Counter]:
    """{split: Counter(class -> images)} from the member names alone (no decoding)."""
    counts = {"train": Counter(), "test": Counter()}
    with tarfile.open(archive) as tar:
        for member in tar:
            parts = Path(member.name).parts
            if member.isfile() and len(parts) >= 3 and parts[-3] in counts:
                counts[parts[-3]][parts[-2]] += 1
    return counts


@pytest.mark.parametrize("name", sorted(SMOKE))
def test_the_smoke_config_reads_each_data_set_from_the_repository(name):
    path = Path(SMOKE[name]["path"])
    assert not path.is_absolute() and path.parts[0] == ".test", f"datasets.{name}.path = {path} is outside .test/"
    assert (REPO / path).is_file(), f"{REPO / path} is missing"


@pytest.mark.parametrize("name", sorted(SMOKE))
def test_each_archive_holds_exactly_its_smoke_subset(name):
    """The subset's counts equal the archive's: reading it keeps every image (the ones it picks from the full copy)."""
    subset = SMOKE[name]["subset"]
    counts = per_class_counts(REPO / SMOKE[name]["path"])
    for split in ("train", "test"):
        assert len(counts[split]) == 10, counts[split]
        assert set(counts[split].values()) == {subset[f"{split}_per_class"]}, (split, counts[split])


def test_the_archives_match_their_recorded_sha256():
    listed = dict(line.split()[::-1] for line in (TEST_DATA / "SHA256SUMS").read_text().splitlines() if line)
    assert set(listed) == {Path(SMOKE[name]["path"]).name for name in SMOKE}
    for name, digest in listed.items():
        assert hashlib.sha256((TEST_DATA / name).read_bytes()).hexdigest() == digest, name
        assert digest in (TEST_DATA / "README.md").read_text(), f"README.md lacks {name}'s sha256"


def test_git_does_not_ignore_the_test_data(skip_or_fail):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        skip_or_fail("no git checkout to ask")
    files = [str(path.relative_to(REPO)) for path in TEST_DATA.iterdir()]
    ignored = subprocess.run(["git", "check-ignore", *files], cwd=REPO, capture_output=True, text=True).stdout
    assert ignored == "", f".gitignore drops {ignored.split()}"


def test_the_mnist_subset_keeps_original_index_names_in_original_order():
    """MNIST names are the original indices, so the data layer packs the subset in MNIST's order, not by class."""
    with tarfile.open(REPO / SMOKE["mnist"]["path"]) as tar:
        items = [(Path(m.name).name, int(Path(m.name).parent.name)) for m in tar if m.isfile() and "/train/" in m.name]
    ordered = order_items(items)
    indices = [int(name.removesuffix(".png")) for name, _ in ordered]
    assert indices == sorted(indices) and len(set(indices)) == len(indices) == 5000
    assert max(indices) >= 50_000, "the names are original indices (0..59,999), not new counters"
    labels = [label for _, label in ordered]
    assert sum(a != b for a, b in zip(labels, labels[1:])) > 1000, "classes interleave as in MNIST's own order"


@pytest.mark.slow
def test_the_generator_rebuilds_the_committed_archives():
    """make_test_data.py --check: a rebuild from the full copies holds the same tar as each committed archive."""
    if not all((FULL_COPIES / name).exists() for name in ("cifar10-jpeg.tar.gz", "mnist-png.tar.gz")):
        pytest.skip(
            f"needs the full offline copies in {FULL_COPIES} (not part of a clone; EFFDL_SHARED_DATA names another "
            "folder) to rebuild .test/"
        )
    result = subprocess.run(
        [sys.executable, str(TEST_DATA / "make_test_data.py"), "--source", str(FULL_COPIES), "--check"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "every archive matches a rebuild" in result.stdout
