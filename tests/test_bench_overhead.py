"""The bench's overhead-per-job and batch-1 measurements: they run, write their CSVs, and compute what they say."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from effdl.bench.overhead import measure_overhead, ptq_jobs_saved, synthetic_packed
from effdl.bench.small_batch import measure_small_batch, summarise_small_batch


def test_small_batch_ratio_is_the_median_of_per_round_ratios():
    raw = pd.DataFrame(
        [
            {"round": r, "pipeline": p, "ms_per_step": ms, "steps": 10}
            for r, times in enumerate([(1.0, 4.0, 2.0), (3.0, 2.0, 2.0), (2.0, 5.0, 2.0)])
            for p, ms in zip(("engine", "classic", "classic_1thread"), times)
        ]
    )
    summary = summarise_small_batch(raw).set_index("pipeline")
    # per round engine/classic: 0.25, 1.5, 0.4 -> median 0.4 (the ratio of the medians would be 2 / 4 = 0.5)
    assert summary.loc["classic", "engine_over_this"] == pytest.approx(0.4)
    assert summary.loc["classic_1thread", "engine_over_this"] == pytest.approx(1.0)
    assert summary.loc["engine", "engine_over_this"] == 1.0
    assert summary.loc["classic", "ms_per_step"] == 4.0 and summary.loc["classic_1thread", "threads"] == 1


def test_small_batch_measurement_times_every_pipeline_each_round():
    raw = measure_small_batch(steps=12, repeats=2, warmup=3, log=lambda _: None)
    assert sorted(raw["pipeline"].unique()) == ["classic", "classic_1thread", "engine"]
    assert len(raw) == 6 and (raw["ms_per_step"] > 0).all()


def test_overhead_stages_and_their_sums(tmp_path):
    data = synthetic_packed(tmp_path / "tiny.pt", {"train": 20, "test": 10})
    table = measure_overhead(data, repeats=1, log=lambda _: None).set_index("stage")["seconds"]
    assert (table > -0.5).all()  # imports are a difference of two timings: noise may make a tiny one negative
    assert table["per quantization job"] == pytest.approx(
        table["interpreter"]
        + table["imports: quantization job"]
        + table["data: memory-mapped"]
        + table["checkpoint load: convnet"]
    )
    assert torch.load(data, weights_only=True)["train"]["images"].shape == (20, 3, 32, 32)


def test_ptq_jobs_saved_counts_every_job_but_one():
    stages = {"interpreter": 1.0, "imports: quantization job": 2.0, "data: memory-mapped": 0.5}
    overhead = pd.DataFrame(
        [{"stage": k, "seconds": v} for k, v in {**stages, "checkpoint load: convnet": 0.25}.items()]
    )
    assert ptq_jobs_saved(overhead, variants=27, checkpoints=3) == pytest.approx(26 * (3.5 + 3 * 0.25))
    assert ptq_jobs_saved(overhead, variants=1, checkpoints=3) == 0


def test_small_batch_measurement_reads_real_digits_from_a_packed_data_set(tmp_path):
    from effdl.bench.small_batch import WARM_STEPS, mnist_like

    images = mnist_like(WARM_STEPS + 12, seed=3)
    torch.save({"train": images, "test": mnist_like(5)}, tmp_path / "mnist.pt")
    raw = measure_small_batch(steps=12, repeats=1, warmup=3, log=lambda _: None, data=tmp_path / "mnist.pt")
    assert set(raw["data"]) == {str(tmp_path / "mnist.pt")} and len(raw) == 3
    torch.save({"train": mnist_like(100)}, tmp_path / "small.pt")
    with pytest.raises(ValueError, match="has 100 training images; the bench needs"):
        measure_small_batch(steps=12, repeats=1, data=tmp_path / "small.pt")
