"""The submission's name and files, checked while the DAG is built: the seed's zip name and the AI-log paths.

Torch-free and pandas-free (the Snakefile imports it).

Example:
    >>> zip_name([{"name": "Ada Lovelace", "email": "ada@example.edu"}, {"name": "Émile Borel", "email": "e@b.fr"}])
    'CS2420_PSet2_AdaLovelace_EmileBorel.zip'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

ZIP_PREFIX = "CS2420_PSet2_"


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
    return ZIP_PREFIX + "_".join(tokens) + ".zip"


def check_ai_logs(paths: Sequence[str], root: str | Path = ".") -> list[str]:
    """The AI-log files of config key submission.ai_logs: each must exist, and their file names must differ."""
    missing = [p for p in paths if not (Path(root) / p).is_file()]
    if missing:
        raise SubmissionError(
            f"config key submission.ai_logs lists {missing}, which do not exist (paths are relative to the "
            "repository root). Fix: correct the paths, or remove them from the list."
        )
    names = [Path(p).name for p in paths]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SubmissionError(
            f"config key submission.ai_logs has several files named {duplicates}; the zip stores them side by side "
            "under ai_logs/. Fix: rename them."
        )
    return list(paths)
