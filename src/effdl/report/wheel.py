"""Build the project's wheel for the submission zip, from a copy of pyproject.toml and src/ (the checkout stays clean).

The notebook's first cell installs it, so a teaching fellow reruns the study's code without the repository.
SOURCE_DATE_EPOCH pins the entries' timestamps.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def build_wheel(repo: str | Path, out_wheel: str | Path) -> Path:
    """Build effdl's wheel (no dependencies bundled) from `repo` and move it to `out_wheel`; returns it."""
    repo, out_wheel = Path(repo), Path(out_wheel)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "effdl"
        copy.mkdir()
        shutil.copy2(repo / "pyproject.toml", copy / "pyproject.toml")
        shutil.copytree(repo / "src" / "effdl", copy / "src" / "effdl", ignore=shutil.ignore_patterns("__pycache__"))
        env = {**os.environ, "SOURCE_DATE_EPOCH": "315532800"}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "--quiet",
                "-w",
                tmp,
                str(copy),
            ],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        built = sorted(Path(tmp).glob("effdl-*.whl"))
        if len(built) != 1 or built[0].name != out_wheel.name:
            raise RuntimeError(f"expected {out_wheel.name}, pip built {[p.name for p in built]}")
        out_wheel.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(built[0]), out_wheel)
    return out_wheel
