"""Reading result CSVs for the report: one check that no result is 'nan' or 'inf' (file, column and line named).

Every workflow script that reads result tables goes through `read_csv`, so a non-finite number (an edited
file, a broken measurement) stops the report at the table that holds it instead of becoming a finding
("2-bit: inf ± 4.45 %"). Empty cells stay allowed (a column a row does not record reads as missing), and so
do non-finite losses: a diverged training run is recorded with its non-finite loss curve and flagged
`diverged`, which the text reports as such.
"""

from __future__ import annotations

import os
import re

import pandas as pd

from effdl.provenance import DIGEST_COLUMNS

NONFINITE = re.compile(r"^\s*[+-]?(nan|inf|infinity)\s*$", re.IGNORECASE)


class NonFiniteError(ValueError):
    """A result table holds 'nan' or 'inf' where a number is reported."""


def allowed_nonfinite(column: str) -> bool:
    """Columns where a non-finite value is a recorded outcome, not a broken result: losses (of diverged runs)."""
    return "loss" in column.lower()


def check_finite(path: str | os.PathLike, **read_options) -> None:
    """NonFiniteError naming the file, column and line of the first 'nan'/'inf' cell outside a loss column."""
    text = pd.read_csv(path, dtype=str, keep_default_na=False, **read_options)
    for column in text.columns:
        if allowed_nonfinite(str(column)):
            continue
        bad = text.index[text[column].str.match(NONFINITE)]
        if len(bad):
            row = int(bad[0])
            raise NonFiniteError(
                f"{path}, column '{column}', line {row + 2} (data row {row + 1}): the value "
                f"'{text.at[row, column].strip()}' is not a finite number ({len(bad)} such cell(s) in this column), "
                "so the report will not quote it as a result. Fix: re-create the file with the rule that writes it "
                "(delete it and re-run snakemake), or find why the measurement gave no number."
            )


def read_csv(path: str | os.PathLike, **read_options) -> pd.DataFrame:
    """pandas.read_csv of a result table after check_finite (the report's one way to read a CSV); the provenance
    digests (effdl.provenance.DIGEST_COLUMNS) stay text, so a digest of digits and one 'e' is not read as a number."""
    given = read_options.pop("dtype", None)
    check_finite(path, **read_options)
    dtype = {column: str for column in DIGEST_COLUMNS}
    if isinstance(given, dict):
        dtype.update(given)
    elif given is not None:
        dtype = given
    return pd.read_csv(path, dtype=dtype, **read_options)
