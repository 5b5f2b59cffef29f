"""The submitted notebook reruns anywhere: unzipped outside the repository, in a fresh venv, on a local data copy.

Slow (a venv with torch, then every part's quick training): it extracts the smoke run's zip into a temporary
folder, builds a venv from PyPI with torch, torchvision and ipykernel only (the notebook's first cell installs
the rest and the bundled wheel), offers a tiny ImageFolder copy of the offline data through DATA_DIR as a user
would, runs every cell with REPRODUCE = "quick" under nbclient, and checks: no error, a figure drawn by every
part's training cell, effdl imported from the venv (never from the repository), and no path of the build machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from helpers import REPO, snakemake

VARIANT = "variants/smoke"
SMOKE = ("--cores", "2", "--resources", "gpu=1", "--configfile", "config/smoke.yaml", "--directory", VARIANT)
TORCH = ("torch==2.14.1", "torchvision==0.29.1")  # what Colab-like machines ship, pinned as requirements.lock
PER_CLASS = 8  # effdl.report.nbrun.QUICK_SUBSET takes 8 images per class and split


def shared_data() -> Path:
    """The repository's own test data (.test/: the same ImageFolder archives, in every clone), or
    EFFDL_SHARED_DATA to offer another copy."""
    return Path(os.environ.get("EFFDL_SHARED_DATA") or REPO / ".test")


def smoke_zip() -> Path:
    """The smoke run's submission zip (built with the smoke configuration when missing), or EFFDL_SUBMISSION_ZIP."""
    import yaml

    if os.environ.get("EFFDL_SUBMISSION_ZIP"):
        return Path(os.environ["EFFDL_SUBMISSION_ZIP"])
    from effdl.plan.submission import zip_name

    team = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())["submission"]["team"]
    path = REPO / VARIANT / "results" / "submission" / zip_name(team)
    if not path.is_file():
        result = snakemake(f"results/submission/{path.name}", *SMOKE, timeout=3000)
        assert result.returncode == 0, result.stderr[-3000:]
    return path


def tiny_imagefolder(archive: Path, out: Path, per_class: int = PER_CLASS) -> None:
    """Copy the first `per_class` images of each class and split of an ImageFolder .tar.gz to `out`."""
    counts: dict[tuple[str, str], int] = {}
    with tarfile.open(archive) as tar:
        for member in tar:
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) < 4:
                continue
            key = (parts[-3], parts[-2])  # (train|test, class)
            if counts.get(key, 0) < per_class:
                counts[key] = counts.get(key, 0) + 1
                target = out / parts[-3] / parts[-2] / parts[-1]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(member).read())
            if len(counts) == 20 and all(n >= per_class for n in counts.values()):
                break


def build_machine_paths() -> list[str]:
    """Paths of this machine a notebook must not print: the repository, the home folder, /work, /root."""
    return [str(REPO), str(Path.home()), "/work/", "/root/"]


@pytest.mark.slow
def test_notebook_reruns_outside_the_repository_in_a_fresh_venv(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    data = shared_data()
    if not (data / "cifar10-jpeg.tar.gz").is_file():
        pytest.skip(f"no offline data in {data}")
    archive = smoke_zip()
    work = tmp_path / "unzipped"
    with zipfile.ZipFile(archive) as z:
        z.extractall(work)
    assert not work.resolve().is_relative_to(REPO)
    wheels = list(work.glob("effdl-*.whl"))
    assert len(wheels) == 1, sorted(p.name for p in work.iterdir())
    notebook = next(work.glob("*.ipynb"))

    local = tmp_path / "local-data"  # a user's local copy, in torchvision's ImageFolder layout
    tiny_imagefolder(data / "cifar10-jpeg.tar.gz", local / "cifar10")
    tiny_imagefolder(data / "mnist-png.tar.gz", local / "mnist")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *TORCH, "ipykernel"], check=True, timeout=900)
    subprocess.run([str(python), "-m", "ipykernel", "install", "--prefix", str(venv), "--name", "python3"], check=True)

    nb = nbformat.read(notebook, as_version=4)
    setup = nb.cells[1]
    assert 'REPRODUCE = "recorded"' in setup.source and "DATA_DIR = None" in setup.source
    setup.source = (
        setup.source.replace('REPRODUCE = "recorded"', 'REPRODUCE = "quick"')
        .replace("DATA_DIR = None", f"DATA_DIR = {str(local)!r}")
        .replace("DOWNLOAD_WEIGHTS = True", "DOWNLOAD_WEIGHTS = False")
    )
    probe = nbformat.v4.new_code_cell(
        "import effdl, sys\nprint('EFFDL_FROM', effdl.__file__)\nprint('SYS_PATH', sys.path)"
    )
    nb.cells.append(probe)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []

    # The kernel is the venv's python, started in the unzipped folder, with nothing pointing at the repository.
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.setenv("JUPYTER_PATH", str(venv / "share" / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(work)}})
    client.execute()  # raises CellExecutionError at the first failing cell

    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    probe_text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    where = re.search(r"EFFDL_FROM (\S+)", probe_text).group(1)
    assert Path(where).resolve().is_relative_to(venv.resolve()), f"effdl imported from {where}, not the venv"
    assert str(REPO / "src") not in probe_text
    trained = {
        c.metadata["effdl"]["training"]: c
        for c in nb.cells
        if c.cell_type == "code" and "training" in c.metadata.get("effdl", {})
    }
    assert sorted(trained) == ["1", "2", "3", "4", "5", "6"]
    for part, cell in trained.items():
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), f"part {part} drew no figure"
    nb.cells.pop()  # the probe prints the venv's own paths
    text = nbformat.writes(nb)
    for path in build_machine_paths():
        assert path not in text.replace(str(tmp_path), "<tmp>"), f"{path} appears in the notebook"
