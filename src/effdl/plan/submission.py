"""The submission's name and files, checked while the DAG is built: the seed's zip name and the AI-log paths.

A team name must fit a file name (the zip's, at most MAX_ZIP_NAME bytes) and the paper's fonts; an AI log
must be a file inside the repository or the working (variant) folder, so that the zip never packs a file from
elsewhere on the machine (/etc/passwd, a `../` escape, a symlink pointing out).

Torch-free and pandas-free (the Snakefile imports it).

Example:
    >>> zip_name([{"name": "Ada Lovelace", "email": "ada@example.edu"}, {"name": "Émile Borel", "email": "e@b.fr"}])
    'CS2420_PSet2_AdaLovelace_EmileBorel.zip'
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from effdl.plan.texchars import unmappable

ZIP_PREFIX = "CS2420_PSet2_"
# File names are at most 255 bytes on the usual file systems; write_zip adds '.' and '.tmp' for its temp file
# and the PDF inside is named after the zip, so leave room.
MAX_ZIP_NAME = 200


class SubmissionError(ValueError):
    """A bad `submission` config value; the message names the key and the fix."""


def sanitize_name(name: str) -> str:
    """A team member's name as a file-name token: ASCII letters, digits and '-' ("Émile Borel" -> "EmileBorel")."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9-]", "", ascii_name)


def zip_name(team: Sequence[dict]) -> str:
    """The seed's archive name: CS2420_PSet2_ then every member's sanitized name, joined by '_', then .zip."""
    if not team:
        raise SubmissionError("config key submission.team is empty. Fix: list every team member as {name, email}.")
    tokens = [sanitize_name(member["name"]) for member in team]
    empty = [member["name"] for member, token in zip(team, tokens) if not token]
    if empty:
        raise SubmissionError(
            f"config key submission.team: the names {empty} have no ASCII letter or digit for the zip's file name. "
            "Fix: write each name in Latin letters (e.g. a transliteration)."
        )
    name = ZIP_PREFIX + "_".join(tokens) + ".zip"
    if len(name.encode()) > MAX_ZIP_NAME:
        raise SubmissionError(
            f"config key submission.team: the zip's file name would be {len(name)} characters ({name[:40]}...), "
            f"more than the {MAX_ZIP_NAME} a file name can safely hold. Fix: shorten the names in submission.team "
            "(e.g. drop middle names)."
        )
    bad = sorted({ch for member in team for ch in f"{member['name']}{member.get('email', '')}" if unmappable(ch)})
    if bad:
        shown = ", ".join(f"{ch} (U+{ord(ch):04X})" for ch in bad)
        raise SubmissionError(
            f"config key submission.team holds character(s) {shown} that the paper's fonts (pdfLaTeX, T1) lack, so "
            "the title page would not build. Fix: write the names in Latin letters, without emoji or symbols."
        )
    return name


def resolve_ai_log(path: str, repo: str | Path, workdir: str | Path = ".") -> Path:
    """Where an AI-log entry points: an absolute path as given, a relative one from the repository root, or else
    from the working (variant) folder; the real path (symlinks followed) must lie inside one of the two."""
    repo, workdir = Path(repo).resolve(), Path(workdir).resolve()
    given = Path(os.path.expanduser(path))
    candidates = [given] if given.is_absolute() else [repo / given, workdir / given]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise SubmissionError(
            f"config key submission.ai_logs lists ['{path}'], which do not exist (relative paths start at the "
            "repository root, or else at the working folder). Fix: correct the paths, or remove them from the list."
        )
    real = found.resolve()
    if not (real.is_relative_to(repo) or real.is_relative_to(workdir)):
        raise SubmissionError(
            f"config key submission.ai_logs lists '{path}', which is {real}: outside the repository ({repo}) and the "
            f"working folder ({workdir}), so the zip would pack a file from elsewhere on this machine. Fix: copy the "
            "log into the repository (e.g. ai_logs/) and list that copy."
        )
    return real


def check_ai_logs(paths: Sequence[str], repo: str | Path = ".", workdir: str | Path = ".") -> list[str]:
    """The AI-log files of config key submission.ai_logs as paths from `workdir` (what the rule reads): each must
    be a file inside the repository or the working folder (resolve_ai_log), and their file names must differ."""
    resolved = [resolve_ai_log(p, repo, workdir) for p in paths]
    check_log_names(resolved)
    return [os.path.relpath(p, Path(workdir).resolve()) for p in resolved]


def check_log_names(paths: Sequence[str | Path]) -> None:
    """The zip stores the AI logs side by side under ai_logs/: their file names must differ."""
    names = [Path(p).name for p in paths]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SubmissionError(
            f"config key submission.ai_logs has several files named {duplicates}; the zip stores them side by side "
            "under ai_logs/. Fix: rename them."
        )
