"""The report refuses non-finite results (issue 28, bad case 4): one check where every script reads a CSV."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from effdl.report.csvs import NonFiniteError, read_csv

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("token", ["inf", "nan", "-inf", "NaN", "Infinity"])
def test_a_non_finite_result_is_refused_naming_file_column_and_line(tmp_path, token):
    csv = write(
        tmp_path / "quantization.csv",
        f"bits,test_acc,delta\n8,90.0,0.1\n2,{token},-3.0\n",
    )
    with pytest.raises(NonFiniteError) as caught:
        read_csv(csv)
    message = str(caught.value)
    assert f"{csv}, column 'test_acc', line 3 (data row 2): the value '{token}' is not a finite number" in message
    assert "Fix: re-create the file" in message


def test_empty_cells_and_diverged_losses_are_read_as_missing(tmp_path):
    csv = write(
        tmp_path / "epochs.csv", "run,epoch,train_loss,test_acc,train_precision\nr,1,nan,10.0,\nr,2,inf,10.0,\n"
    )
    frame = read_csv(csv)
    assert frame["train_precision"].isna().all() and frame["train_loss"].isna().sum() == 1
    assert frame["test_acc"].tolist() == [10.0, 10.0]


def test_every_workflow_script_reads_csvs_through_the_check():
    direct = [
        path.name
        for path in (REPO / "workflow" / "scripts").glob("*.py")
        if re.search(r"\bpd\.read_csv\(", path.read_text())
    ]
    assert not direct, f"these scripts read CSVs without effdl.report.csvs.read_csv: {direct}"
    users = [path.name for path in (REPO / "workflow" / "scripts").glob("*.py") if "read_csv(" in path.read_text()]
    assert "tex_part2.py" in users and "plot_quantization.py" in users


def test_a_round_trip_through_pandas_keeps_missing_values_readable(tmp_path):
    frame = pd.DataFrame({"model": ["a", "b"], "std": [float("nan"), 0.5]})
    frame.to_csv(tmp_path / "s.csv", index=False)  # pandas writes NaN as an empty cell: a missing value, allowed
    assert read_csv(tmp_path / "s.csv")["std"].isna().sum() == 1


def test_provenance_digests_stay_text_even_when_they_look_like_numbers(tmp_path):
    """A 12-digit config hash of digits and one 'e' parses as a float, and one with a large exponent as inf: the
    aggregated table then held 'inf' where the hash was and the report refused it. Digests are read as text."""
    path = tmp_path / "summary.csv"
    pd.DataFrame(
        {"config_hash": ["123456e78901", "0123456789ab"], "git_commit": ["1e5", "abc"], "final_test_acc": [50.0, 51.0]}
    ).to_csv(path, index=False)
    frame = read_csv(path)
    assert list(frame["config_hash"]) == ["123456e78901", "0123456789ab"]
    assert list(frame["git_commit"]) == ["1e5", "abc"]
    assert frame["final_test_acc"].dtype == float
    frame.to_csv(path, index=False)  # what aggregate_runs writes reads back the same
    assert read_csv(path)["config_hash"].iloc[0] == "123456e78901"
    assert read_csv(path, dtype={"final_test_acc": str})["final_test_acc"].iloc[0] == "50.0"
