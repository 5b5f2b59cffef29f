"""effdl.report.showcase: PNGs from a run's figures, its claims as Markdown, the README block kept in step."""

from __future__ import annotations

import os
import shutil
import struct

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from effdl.report.claims import FAILS, HOLDS, UNTESTABLE  # noqa: E402
from effdl.report.showcase import (  # noqa: E402
    SHOWCASE_BEGIN,
    SHOWCASE_END,
    SHOWCASE_FIGURES,
    ShowcaseError,
    claims_markdown,
    embed,
    write_showcase,
)

REPO_README = "README.md"


def png_size(path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def claims_frame() -> pd.DataFrame:
    return pd.DataFrame(
        [
            ("1.1", "lr 0.1 ends highest", "implied by 1.1.4", "lr 0.1: 60 ± 1 %", "Welch t-test", HOLDS),
            ("2.2", "8-bit | fp32 within noise", "implied by 2.2.2", "p = 0.01", "paired t-test", FAILS),
            ("1.3", "ConvNet passes 90 %", "notebook", "after 10 epochs", "one-sample t-test", UNTESTABLE),
        ],
        columns=["part", "expectation", "source", "measured", "test", "verdict"],
    )


@pytest.fixture
def pdftoppm(skip_or_fail):
    """Skips without poppler's pdftoppm (fails so under CI): the showcase renders PNGs with it."""
    if shutil.which("pdftoppm") is None:
        skip_or_fail("pdftoppm (poppler-utils) is not installed")


@pytest.fixture
def finished_run(tmp_path):
    results = tmp_path / "results"
    (results / "figs").mkdir(parents=True)
    (results / "metrics" / "part1_lr_sweep").mkdir(parents=True)
    for name in SHOWCASE_FIGURES:
        fig, ax = plt.subplots(figsize=(6.5, 3))
        ax.plot([0, 1], [0, 1])
        fig.savefig(results / "figs" / f"{name}.pdf")
        plt.close(fig)
    claims_frame().to_csv(results / "metrics" / "claims.csv", index=False)
    pd.DataFrame(
        [{"git_commit": "0123456789abcdef", "config_hash": "feedbeefcafe0000", "device": "cpu", "torch_version": "2.x"}]
    ).to_csv(results / "metrics" / "part1_lr_sweep" / "epochs.csv", index=False)
    return results


def test_claims_markdown_has_one_row_per_claim_bold_failures_and_escaped_pipes():
    md = claims_markdown(claims_frame()).splitlines()
    assert len(md) == 2 + 3
    assert md[2].endswith("| holds |") and md[3].endswith("| **does not hold** |")
    assert r"8-bit \| fp32" in md[3] and md[3].count(" | ") == 5  # six cells: the escaped pipe splits none
    assert md[4].endswith("| not testable at this scale |")


def test_showcase_writes_small_pngs_the_table_and_the_readme_block(finished_run, tmp_path, pdftoppm):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n{SHOWCASE_BEGIN}\nstale text\n{SHOWCASE_END}\nafter\n")
    out = tmp_path / "docs" / "cpu-tier"
    write_showcase(finished_run, out, readme)
    for name in SHOWCASE_FIGURES:
        width, height = png_size(out / f"{name}.png")
        assert 300 <= width <= 500 and height < width, (name, width, height)  # 6.5 in at 60 dpi
    text = readme.read_text()
    assert "stale text" not in text and text.startswith("# title\n\nbefore\n") and text.endswith("after\n")
    assert claims_markdown(claims_frame()) in text
    assert "](docs/cpu-tier/lr_sweep.png)" in text and "commit `0123456789ab`" in text
    write_showcase(finished_run, out, readme)
    assert readme.read_text() == text  # regenerating changes nothing


def test_showcase_refuses_an_unfinished_run_before_writing(finished_run, tmp_path):
    (finished_run / "figs" / "pruning.pdf").unlink()
    out = tmp_path / "out"
    with pytest.raises(ShowcaseError, match=r"not a finished run: missing .*pruning\.pdf.*Fix: build it.*--partial"):
        write_showcase(finished_run, out)
    assert not out.exists()


def test_a_partial_run_shows_what_it_has_and_drops_stale_outputs(finished_run, tmp_path, pdftoppm):
    readme = tmp_path / "README.md"
    readme.write_text(f"{SHOWCASE_BEGIN}\n{SHOWCASE_END}\n")
    out = tmp_path / "docs" / "cpu-tier"
    write_showcase(finished_run, out, readme)  # finished: every PNG and the table
    (finished_run / "figs" / "pruning.pdf").unlink()
    (finished_run / "metrics" / "claims.csv").unlink()
    write_showcase(finished_run, out, readme, partial=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.png" for n in SHOWCASE_FIGURES if n != "pruning")
    text = readme.read_text()
    assert "](docs/cpu-tier/quantization.png)" in text and "pruning.png" not in text
    assert "has not finished: pruning.pdf, claims.csv are not built yet" in text and "| verdict |" not in text
    for name in SHOWCASE_FIGURES:
        (finished_run / "figs" / f"{name}.pdf").unlink(missing_ok=True)
    with pytest.raises(ShowcaseError, match="not a finished run"):
        write_showcase(finished_run, out, readme, partial=True)  # nothing to show at all


def test_embed_needs_exactly_one_pair_of_markers():
    with pytest.raises(ShowcaseError, match="exactly one"):
        embed("no markers here\n", "block\n")
    with pytest.raises(ShowcaseError, match="exactly one"):
        embed(f"{SHOWCASE_BEGIN}\n{SHOWCASE_END}\n{SHOWCASE_BEGIN}\n{SHOWCASE_END}\n", "block\n")


def test_a_finished_run_with_benchmark_files_gets_its_wall_time_by_stage(finished_run, tmp_path, pdftoppm):
    for rule, seconds, ended in (("train_model", 600.0, 2000.0), ("build_paper", 60.0, 2100.0)):
        tsv = finished_run / "benchmarks" / rule / "job.tsv"
        tsv.parent.mkdir(parents=True)
        tsv.write_text(f"s\th:m:s\n{seconds}\t-\n")
        os.utime(tsv, (ended, ended))
    readme = tmp_path / "README.md"
    readme.write_text(f"{SHOWCASE_BEGIN}\n{SHOWCASE_END}\n")
    out = tmp_path / "docs" / "cpu-tier"
    write_showcase(finished_run, out, readme)
    stages = (out / "stages.md").read_text()
    # jobs from t=1400 to t=2100: 700 s of wall time, 40 s of it between the two jobs
    assert stages.startswith(
        "Wall time 11.7 min from the first job's start to the last timed job's end (2 timed jobs, 11.0 min"
    )
    assert "| training (with each epoch's test) | 1 | 10.0 min | 10.0 min | 86 |" in stages
    assert "| between jobs (DAG building, job start-up gaps) | 0 | 0.0 min | 0.7 min | 6 |" in stages
    assert "Wall time 11.7 min" in readme.read_text() and "(docs/cpu-tier/stages.md)" in readme.read_text()
