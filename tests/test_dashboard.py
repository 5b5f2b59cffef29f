"""effdl.report.dashboard: the report's landing page says what ran, on what, how long, and shows the claims."""

from __future__ import annotations

import pandas as pd
import pytest

from effdl.report.claims import FAILS, HOLDS
from effdl.report.dashboard import description_rst, hours_minutes, job_seconds


@pytest.fixture
def run(tmp_path):
    results = tmp_path / "results"
    summaries = []
    for i, device in enumerate(["cpu", "cpu", "cuda:0 NVIDIA H100"]):
        path = results / "runs" / "p" / f"r{i}" / "summary.csv"
        path.parent.mkdir(parents=True)
        pd.DataFrame(
            [
                {
                    "device": device,
                    "cpu_model": "Zen 4",
                    "torch_version": "2.x",
                    "git_commit": "abcdef0123456789",
                    "config_hash": "0123456789abcdef",
                }
            ]
        ).to_csv(path, index=False)
        summaries.append(path)
    for rule, seconds in [("train_model", 3600.0), ("train_model", 1200.0), ("plot_x", 40.0)]:
        folder = results / "benchmarks" / rule
        folder.mkdir(parents=True, exist_ok=True)
        n = len(list(folder.glob("*.tsv")))
        (folder / f"{n}.tsv").write_text(f"s\th:m:s\n{seconds}\t0:00:00\n")
    claims = results / "metrics" / "claims.csv"
    claims.parent.mkdir(parents=True)
    pd.DataFrame(
        [
            ("1.1", "lr 0.1 ends highest", "implied by 1.1.4", "lr 0.1: 60 ± 1 %", "Welch t-test", HOLDS),
            ("1.2", "schedules within noise", "implied by 1.2.3", "52 vs 64 %", "Welch t-test", FAILS),
        ],
        columns=["part", "expectation", "source", "measured", "test", "verdict"],
    ).to_csv(claims, index=False)
    return results, summaries, claims


def test_page_says_what_ran_on_what_how_long_and_the_claims(run):
    results, summaries, claims = run
    text = description_rst(
        summaries=summaries,
        claims_csv=claims,
        bench_dir=results / "benchmarks",
        label="cpu tier",
        configfiles=["config/cpu.yaml"],
    )
    assert text.startswith("effdl study: cpu tier\n")
    for heading in ("What ran", "On what", "How long", "What the problem set expects, and what this run found"):
        assert f"\n{heading}\n" in text
    assert "``config/cpu.yaml``" in text and "abcdef012345" in text and "3 training runs" in text
    assert "cpu (2 runs), cuda:0 NVIDIA H100 (1 run)." in text
    assert "**1 h 21 min**" in text and "training runs: 1 h 20 min over 2 jobs" in text
    assert f"**{FAILS}**" in text and "lr 0.1 ends highest (implied by 1.1.4)" in text


def test_page_is_valid_restructuredtext(run):
    docutils = pytest.importorskip("docutils.core")
    results, summaries, claims = run
    text = description_rst(
        summaries=summaries, claims_csv=claims, bench_dir=results / "benchmarks", label="x", configfiles=[]
    )
    html = docutils.publish_parts(text, writer_name="html", settings_overrides={"halt_level": 2})["html_body"]
    assert "<table" in html and html.count("<tr") == 3


def test_durations_and_benchmarks(tmp_path):
    assert hours_minutes(40) == "40 s" and hours_minutes(7059) == "1 h 58 min" and hours_minutes(720) == "12 min"
    assert job_seconds(tmp_path / "none") == {}
