"""Resource errors say what they are (issue 28): disk full, read-only folders, missing permissions.

Bad case 6 (disk full while the paper builds) and the partial cases: disk full at a checkpoint save
("enforce fail at inline_container.cc" first), a `.zip.tmp` left behind, a read-only results/ folder. A full
disk is injected as OSError(ENOSPC) into real writes (torch.save, zipfile, latexmk's log), and, where this
process may mount one (root on Linux), reproduced on a real 64 KiB tmpfs.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
import torch

from effdl.io import save_checkpoint, write_text
from effdl.report import latex
from effdl.report.submission import write_zip
from effdl.resources import ResourceError, folder_problem


class FullDisk:
    """A file object that takes `room` bytes, then fails as a full disk does."""

    def __init__(self, handle, room: int):
        self.handle, self.room = handle, room

    def write(self, data):
        if self.room < len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.handle.write(data)

    def __getattr__(self, name):
        return getattr(self.handle, name)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs (real ENOSPC), where this process may mount one."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_disk_full_at_a_checkpoint_save_is_one_line_naming_the_file(tmp_path, monkeypatch):
    real_save = torch.save

    def save_onto_a_full_disk(obj, handle, *args, **kwargs):
        return real_save(obj, FullDisk(handle, room=1000), *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_onto_a_full_disk)
    target = tmp_path / "run" / "checkpoint.pt"
    with pytest.raises(ResourceError) as caught:
        save_checkpoint({"w": torch.zeros(10_000)}, target)
    message = str(caught.value)
    assert message.startswith(f"{target}: no space left on the device while writing it. Fix: free space")
    assert "inline_container" not in message and "\n" not in message
    assert not target.exists() and not list(target.parent.glob("*.tmp")), "the temp file must be removed"


def test_disk_full_on_a_real_tiny_file_system(tiny_disk):
    target = tiny_disk / "checkpoint.pt"
    with pytest.raises(ResourceError, match=r"no space left on the device while writing it\. Fix: free space"):
        save_checkpoint({"w": torch.zeros(100_000)}, target)
    assert list(tiny_disk.iterdir()) == []
    small = write_zip(tiny_disk / "paper.zip", [], ai_logs=())
    assert small == ["ai_logs.txt"]
    big = tiny_disk.parent / "big.bin"
    big.write_bytes(os.urandom(200_000))  # random bytes do not compress: more than the disk holds
    with pytest.raises(ResourceError, match=rf"{tiny_disk}/paper.zip: no space left on the device while writing"):
        write_zip(tiny_disk / "paper.zip", [(big, "big.bin")])
    assert [p.name for p in tiny_disk.iterdir()] == ["paper.zip"], "temp file left, or the previous zip lost"
    assert zipfile.ZipFile(tiny_disk / "paper.zip").namelist() == ["ai_logs.txt"]


def test_disk_full_while_zipping_removes_the_temp_file_and_keeps_the_old_zip(tmp_path, monkeypatch):
    out = tmp_path / "CS2420_PSet2_Ada.zip"
    out.write_bytes(b"the previous zip")
    member = tmp_path / "paper.pdf"
    member.write_bytes(b"%PDF fake")

    def no_room(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(zipfile.ZipFile, "writestr", no_room)
    with pytest.raises(ResourceError) as caught:
        write_zip(out, [(member, "x.pdf")])
    assert str(caught.value).startswith(f"{out}: no space left on the device while writing it. Fix:")
    assert not (tmp_path / f".{out.name}.tmp").exists(), ".zip.tmp left behind"
    assert out.read_bytes() == b"the previous zip"


def test_disk_full_while_the_paper_builds_names_the_cause_not_an_undefined_reference(tmp_path, monkeypatch):
    main = tmp_path / "paper" / "main.tex"
    main.parent.mkdir()
    main.write_text("\\documentclass{article}\\begin{document}x\\end{document}\n")
    out = tmp_path / "results" / "paper.pdf"
    out.parent.mkdir()
    out.write_bytes(b"the previous paper")
    build = tmp_path / "results" / "paper_build"

    def latexmk_on_a_full_disk(cmd, **kwargs):
        build.mkdir(parents=True, exist_ok=True)
        (build / "main.log").write_text(
            "LaTeX Warning: Reference `tab:part2' on page 3 undefined on input line 12.\n" * 3
            + "! I can't write on file `main.aux'.\n(Press Enter to retry, or Control-D to exit; "
            + "No space left on device)\n"
        )
        return subprocess.CompletedProcess(
            cmd, 12, stdout="Latexmk: Errors, so I did not complete making targets", stderr=""
        )

    monkeypatch.setattr(latex.subprocess, "run", latexmk_on_a_full_disk)
    with pytest.raises(ResourceError) as caught:
        latex.build_pdf(main, build, out, max_overfull_pt=1.0)
    message = str(caught.value)
    assert message.startswith(f"{build}: no space left on the device while building the paper in it. Fix:")
    assert "undefined" not in message
    assert out.read_bytes() == b"the previous paper", "a failed build must not touch the previous PDF"


def test_a_read_only_results_folder_is_one_line_in_the_log_and_in_snakemakes_output(tmp_path):
    """A job script whose output folder refuses writes (EACCES here; EROFS alike) ends with one line naming the
    path and the fix on the original stderr (what Snakemake shows) and in the rule's log, not a raw traceback."""
    log = tmp_path / "job.log"
    results = tmp_path / "results"
    results.mkdir()
    script = f"""
import errno, os
from effdl.runlog import open_log
import effdl.io as io
open_log({str(log)!r})
def refuse(*args, **kwargs):
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), {str(results / "x.csv")!r})
io.tempfile.mkstemp = refuse
io.write_text("a", {str(results / "x.csv")!r})
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    line = f"ERROR: {results / 'x.csv'}: permission denied while writing it. Fix: make {results} writable"
    assert result.stderr.strip().startswith(line) and "Traceback" not in result.stderr, result.stderr
    assert line in log.read_text()


def test_folder_problem_names_an_unwritable_folder(tmp_path, monkeypatch):
    assert folder_problem(tmp_path) is None
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # what a read-only folder looks like to non-root
    assert folder_problem(tmp_path) == (
        f"{tmp_path}: permission denied while creating files in it. Fix: make {tmp_path} writable for this user "
        f"(chmod u+w {tmp_path}) or run elsewhere, then run snakemake again."
    )


def test_write_text_on_a_read_only_folder(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("effdl.io.tempfile.mkstemp", read_only)
    with pytest.raises(ResourceError, match=r"x\.txt: the file system is read-only while writing it\. Fix: run where"):
        write_text("a", tmp_path / "x.txt")


def test_the_previous_paper_and_zip_survive_a_failed_rebuild(tmp_path):
    from effdl.plan import lastgood

    out, store = tmp_path / "results" / "paper.pdf", tmp_path / "results" / ".last-good" / "build_paper"
    out.parent.mkdir()
    lastgood.build_keeping([out], store, lambda: out.write_bytes(b"paper 1"))
    out.unlink()  # Snakemake deletes the output before it reruns the job

    def full_disk():
        raise ResourceError(errno.ENOSPC, f"{out}: no space left on the device while writing it. Fix: ...")

    messages = []
    with pytest.raises(ResourceError):
        lastgood.build_keeping([out], store, full_disk, messages.append)
    assert (store / "paper.pdf").read_bytes() == b"paper 1"
    assert messages == [f"this rebuild failed; the previous version is kept as {store / 'paper.pdf'}"]


@pytest.mark.skipif(shutil.which("latexmk") is None, reason="needs latexmk")
def test_real_latex_build_on_a_full_disk_names_the_cause(tiny_disk, tmp_path):
    """Bad case 6 for real: latexmk writing into a 64 KiB tmpfs."""
    main = tmp_path / "paper" / "main.tex"
    main.parent.mkdir()
    words = " ".join(f"Lorem ipsum dolor sit amet {i}." for i in range(3000))
    main.write_text(
        "\\documentclass{article}\\usepackage{lmodern}\\begin{document}\\section{A}\\label{a}See \\ref{a}. "
        + words
        + "\\end{document}\n"
    )
    out = tmp_path / "results" / "paper.pdf"
    out.parent.mkdir()
    out.write_bytes(b"the previous paper")
    with pytest.raises(ResourceError, match=rf"^{tiny_disk}/build: no space left on the device while building"):
        latex.build_pdf(main, tiny_disk / "build", out, max_overfull_pt=1.0)
    assert out.read_bytes() == b"the previous paper"
