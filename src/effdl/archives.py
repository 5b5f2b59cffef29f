"""Downloaded data archives (CINIC-10, the notebook's Part 4 data set, spec §4.1): fetch with a sha256 check, and
check an ImageFolder .tar.gz before it is used."""

import hashlib
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from effdl.data import DataError
from effdl.io import atomic_write

CINIC10_URL = "https://datashare.is.ed.ac.uk/bitstream/handle/10283/3192/CINIC-10.tar.gz"
CINIC10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def check_imagefolder_archive(path: str | Path, classes: tuple[str, ...] = CINIC10_CLASSES) -> dict:
    """Count the images per split of a .tar.gz in ImageFolder layout; DataError unless train/ and
    test/ each hold every class (catches an HTML error page or a truncated download early)."""
    counts = {split: {} for split in ("train", "test")}
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                parts = Path(member.name).parts  # (..., split, class, file)
                if member.isfile() and len(parts) >= 3 and parts[-3] in counts:
                    counts[parts[-3]][parts[-2]] = counts[parts[-3]].get(parts[-2], 0) + 1
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataError(f"{path} is not a readable .tar.gz ({err}); delete it and download again") from err
    for split, per_class in counts.items():
        missing = sorted(set(classes) - set(per_class))
        if missing:
            raise DataError(f"{path} has no {split}/ images of class(es) {missing}; delete it and download again")
    return counts


def fetch_archive(url: str, dest: str | Path, sha256: str | None = None, timeout_s: float = 60.0) -> str:
    """Download `url` to `dest` (atomically), check its sha256 when one is given, return the sha256.

    Any urllib URL works (https://, file://). Failures raise DataError naming the config keys to
    change: datasets.cinic10.url, or a local copy via datasets.cinic10.source: imagefolder + path.
    """
    dest = Path(dest)
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, atomic_write(dest, "wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
            if sha256 is not None and digest.hexdigest() != sha256:
                raise DataError(
                    f"{url} has sha256 {digest.hexdigest()}, expected {sha256} (datasets.cinic10.sha256); "
                    "the download is corrupt or the file changed upstream"
                )
    except (urllib.error.URLError, OSError) as err:
        raise DataError(
            f"could not download {url} ({err}). Fix: on a machine without a network set "
            "datasets.cinic10.source: imagefolder and datasets.cinic10.path to a local copy of "
            "CINIC-10 (directory or .tar.gz), or correct datasets.cinic10.url."
        ) from err
    return digest.hexdigest()
