"""Tests of the throughput benchmark: fair preprocessing, a tiny end-to-end run's CSVs, settings and data."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from effdl.bench import (
    OPTIMIZER_IMPLS,
    BenchSettings,
    Pipeline,
    add_arithmetic_context,
    classic_loader,
    conv_peak,
    convnet_flop_per_image,
    headline,
    headline_text,
    load_bench_data,
    measure_epoch_times,
    run_benchmark,
    summarise_throughput,
    take_per_class,
)
from effdl.bench.__main__ import parse_args, settings_from_args
from effdl.bench.timing import evaluated_network
from effdl.data import DataError, DeviceDataset, iterate_batches
from effdl.engine import training_step
from effdl.execution import cpu_has_native_bf16, resolve_precision
from effdl.fold import ConvReLU2d
from effdl.io import save_checkpoint
from effdl.models import build_model

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


def test_classic_and_engine_pipelines_preprocess_identically(tiny_packed):
    """Without augmentation both paths must yield the same tensors, or the comparison would not be like for like."""
    split = take_per_class(tiny_packed["test"], 2, 0, "test")
    classic = next(iter(classic_loader(split, 20, mean=MEAN, std=STD, augment=False, shuffle=False, num_workers=0)))
    engine = next(iterate_batches(DeviceDataset(split["images"], split["labels"], "cpu"), 20, mean=MEAN, std=STD))
    assert torch.allclose(classic[0], engine[0], atol=1e-5)
    assert torch.equal(classic[1], engine[1])


def test_classic_augmentation_keeps_shape_and_changes_pixels(tiny_packed):
    split = take_per_class(tiny_packed["train"], 2, 0, "train")
    plain = next(iter(classic_loader(split, 20, mean=MEAN, std=STD, augment=False, shuffle=False, num_workers=0)))
    augmented = next(iter(classic_loader(split, 20, mean=MEAN, std=STD, augment=True, shuffle=False, num_workers=0)))
    assert augmented[0].shape == plain[0].shape == (20, 3, 32, 32)
    assert not torch.equal(augmented[0], plain[0])


def tiny_data(packed: dict, per_class: int) -> dict:
    return {
        **packed,
        "train": take_per_class(packed["train"], per_class, 0, "train"),
        "test": take_per_class(packed["test"], per_class, 0, "test"),
    }


def test_tiny_benchmark_writes_finite_positive_ratios(tiny_packed, tmp_path):
    # bf16 is ~10x slower than fp32 on CPUs without bf16 kernels: only the accuracy check exercises it here.
    settings = BenchSettings(
        batch_size=8,
        steps=1,
        warmup=1,
        repeats=1,
        eval_images=16,
        eval_batch_size=16,
        engine=("fp32", "fp32+cl", "fp32+cl+nofold", "fp32+cl+nofuse"),
        acc_seeds=(0,),
        acc_epochs=1,
        acc_train_per_class=1,
        acc_test_per_class=1,
    )
    run_benchmark(tiny_data(tiny_packed, 2), settings, "cpu", tmp_path, log=lambda _: None)

    throughput = pd.read_csv(tmp_path / "throughput.csv")
    assert list(throughput.columns) == [
        "device",
        "phase",
        "pipeline",
        "label",
        "precision",
        "channels_last",
        "num_workers",
        "compile",
        "optimizer_impl",
        "fold_bn",
        "fuse_relu",
        "batch_size",
        "channels_last_used",
        "images_per_round",
        "rounds",
        "img_per_s",
        "img_per_s_min",
        "img_per_s_max",
        "speedup_vs_classic",
        "speedup_vs_seed_loader",
        "cifar10_epoch_s_projected",
        "gflop_per_s",
        "of_peak",
    ]
    # 2 classic + 2 engine pipelines train; the '+nofold' and '+nofuse' controls only evaluate (training is the twin's)
    assert len(throughput) == 4 + 6 and set(throughput["phase"]) == {"train", "eval"}
    control = throughput[throughput["label"].str.contains("BN unfolded")]
    assert list(control["phase"]) == ["eval"] and not control["fold_bn"].item() and not control["fuse_relu"].item()
    control = throughput[throughput["label"].str.endswith("+ ReLU unfused (eval)")]
    assert list(control["phase"]) == ["eval"] and control["fold_bn"].item() and not control["fuse_relu"].item()
    for column in ("img_per_s", "speedup_vs_classic", "speedup_vs_seed_loader", "cifar10_epoch_s_projected"):
        assert all(math.isfinite(v) and v > 0 for v in throughput[column]), column
    for _, phase in throughput.groupby("phase"):
        classic = phase[phase["pipeline"] == "classic"]
        assert classic["speedup_vs_classic"].max() <= 1.0 + 1e-9  # relative to the fastest classic pipeline
        assert classic.loc[classic["num_workers"] == 2, "speedup_vs_seed_loader"].item() == pytest.approx(1.0)

    peak = pd.read_csv(tmp_path / "peak.csv")
    assert list(peak["precision"]) == ["fp32"] and (peak["gflop_per_s"] > 0).all()  # the precisions timed
    train = throughput[throughput["phase"] == "train"]
    assert train["gflop_per_s"].to_numpy() == pytest.approx(train["img_per_s"] * convnet_flop_per_image("train") / 1e9)
    assert (throughput["of_peak"] == throughput["gflop_per_s"] / peak["gflop_per_s"].item()).all()

    headline = pd.read_csv(tmp_path / "headline.csv")
    assert set(headline["pipeline"]) == {"classic", "engine"} and set(headline["phase"]) == {"train", "eval"}
    assert headline["of_ceiling"].between(0, float("inf"), inclusive="neither").all()
    bound = pd.read_csv(tmp_path / "layer_bound.csv")
    assert set(zip(bound["phase"], bound["precision"])) == {("train", "fp32"), ("eval", "fp32")}
    assert (bound["bound_img_per_s"] > 0).all() and headline["of_layer_bound"].gt(0).all()

    machine = pd.read_csv(tmp_path / "machine.csv").iloc[0]
    assert machine["auto_precision"] == resolve_precision("auto", torch.device("cpu"))
    if not cpu_has_native_bf16():
        assert machine["auto_precision"] == "fp32"  # bf16 only emulated: auto must not pick slow bf16

    accuracy = pd.read_csv(tmp_path / "accuracy.csv")
    assert sorted(accuracy["precision"]) == ["bf16", "fp32"] and accuracy["test_acc"].between(0, 100).all()
    summary = pd.read_csv(tmp_path / "accuracy_summary.csv")
    assert summary["bf16_vs_fp32"].iloc[0] == "untested"  # one seed per precision: texgen.compare ranks nothing
    assert not (tmp_path / "epochs.csv").exists()  # per-epoch timing only on CUDA or when asked


def test_ratios_are_per_round_medians_against_the_classic_pipelines():
    classic0, classic2, engine = (
        Pipeline("classic", num_workers=0),
        Pipeline("classic", num_workers=2),
        Pipeline.engine("fp32+cl"),
    )
    rates = {classic0: [10, 20, 40], classic2: [20, 10, 10], engine: [40, 60, 200]}  # img/s in rounds 0, 1, 2
    raw = pd.DataFrame(
        [
            {"round": r, "phase": "train", "pipeline": p, "images": 8, "seconds": 8 / v, "img_per_s": v}
            for p, values in rates.items()
            for r, v in enumerate(values)
        ]
    )
    table = summarise_throughput(raw, BenchSettings(batch_size=8)).set_index("label")
    row = table.loc[engine.label]
    assert row["img_per_s"] == 60 and row["rounds"] == 3
    assert row["speedup_vs_classic"] == pytest.approx(3.0)  # median of 40/20, 60/20, 200/40
    assert row["speedup_vs_seed_loader"] == pytest.approx(6.0)  # median of 40/20, 60/10, 200/10
    assert table.loc[classic2.label, "speedup_vs_classic"] == pytest.approx(0.5)  # median of 1, 0.5, 0.25
    assert row["cifar10_epoch_s_projected"] == pytest.approx(50_000 / 60)


def test_epoch_times_cover_the_seed_loader_and_the_engine(tiny_packed):
    settings = BenchSettings(batch_size=8, eval_batch_size=16, engine=("fp32+cl",), workers=(2,))
    epochs = measure_epoch_times(tiny_data(tiny_packed, 1), settings, torch.device("cpu"), epochs=1, log=lambda _: None)
    assert list(epochs["pipeline"]) == ["classic", "engine"] and (epochs["epoch_s"] > 0).all()
    assert epochs["speedup_vs_seed_loader"].iloc[0] == pytest.approx(1.0)


def test_engine_variant_names_parse_and_bad_ones_name_the_fix():
    assert Pipeline.engine("bf16+cl+compile") == Pipeline(
        "engine", "bf16", True, compile=True, fold_bn=True, fuse_relu=True
    )
    assert Pipeline.engine("fp32+foreach").optimizer_impl == "foreach"
    assert Pipeline.engine("bf16+cl+fused").label == "engine bf16 + channels_last + fused SGD"
    with pytest.raises(ValueError, match="one of '\\+foreach' / '\\+fused'"):
        Pipeline.engine("fp32+foreach+fused")
    with pytest.raises(ValueError, match="unknown engine variant 'fp16'.*Fix"):
        BenchSettings(engine=("fp16",))


def test_cli_quick_is_small_and_explicit_options_win():
    args = parse_args(["--quick", "--steps", "3", "--engine", "fp32", "bf16+cl", "--device", "cpu"])
    settings = settings_from_args(args, torch.device("cpu"))
    assert settings.steps == 3 and settings.batch_size == BenchSettings.quick().batch_size < 128
    assert [p.label for p in settings.pipelines()][-2:] == ["engine fp32", "engine bf16 + channels_last"]
    assert settings_from_args(parse_args([]), torch.device("cpu")).batch_size == 128


def test_bench_data_from_a_packed_file_is_a_per_class_subset(tiny_packed, tmp_path):
    save_checkpoint(tiny_packed, tmp_path / "tiny.pt")
    data = load_bench_data(tmp_path / "tiny.pt", train_per_class=3, test_per_class=1)
    assert torch.bincount(data["train"]["labels"]).tolist() == [3] * 10
    assert torch.bincount(data["test"]["labels"]).tolist() == [1] * 10
    with pytest.raises(DataError, match="has only 20 train images"):
        load_bench_data(tmp_path / "tiny.pt", train_per_class=21, test_per_class=1)


def test_tiny_parity_run_reports_both_pipelines_and_a_welch_p(tiny_packed):
    from effdl.bench.parity import ParitySettings, run_parity

    settings = ParitySettings(epochs=1, seeds=(0, 1), batch_size=50, num_workers=0, precision="fp32", lr=0.05)
    data = tiny_data(tiny_packed, 3)
    runs, summary = run_parity(data, settings, "cpu", log=lambda _: None)
    assert sorted(runs["pipeline"]) == ["classic", "classic", "engine", "engine"]
    assert runs["final_test_acc"].between(0, 100).all() and (runs["n_train"] == 30).all()
    assert list(summary["pipeline"]) == ["classic", "engine"]
    assert 0.0 <= summary["welch_p"].iloc[0] <= 1.0 and summary["welch_p"].nunique() == 1
    assert set(summary["verdict"]) <= {"within noise", "different"}
    with pytest.raises(ValueError, match="at least 2 seeds"):
        ParitySettings(seeds=(0,))


def test_convnet_flop_counts_agree_with_torchs_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    model, x = build_model("convnet"), torch.randn(2, 3, 32, 32)
    with FlopCounterMode(display=False) as forward:
        model(x)
    assert convnet_flop_per_image("eval") == forward.get_total_flops() / 2  # conv + linear, per image
    with FlopCounterMode(display=False) as step:
        model(x).sum().backward()
    # 6 x MACs charges the first conv an input gradient that autograd never computes: a few percent too high
    assert convnet_flop_per_image("train") == pytest.approx(step.get_total_flops() / 2, rel=0.05)
    assert convnet_flop_per_image("train") >= step.get_total_flops() / 2


def test_arithmetic_context_divides_achieved_by_the_same_precisions_peak():
    throughput = pd.DataFrame(
        {"phase": ["train", "train", "eval"], "precision": ["fp32", "bf16", "bf16"], "img_per_s": [100.0, 200.0, 50.0]}
    )
    peaks = pd.DataFrame({"precision": ["fp32", "bf16"], "gflop_per_s": [400.0, 1600.0]})
    out = add_arithmetic_context(throughput, peaks)
    train_flop, eval_flop = convnet_flop_per_image("train"), convnet_flop_per_image("eval")
    assert out["gflop_per_s"].tolist() == pytest.approx(
        [100 * train_flop / 1e9, 200 * train_flop / 1e9, 50 * eval_flop / 1e9]
    )
    assert out["of_peak"].tolist() == pytest.approx(
        [100 * train_flop / 1e9 / 400, 200 * train_flop / 1e9 / 1600, 50 * eval_flop / 1e9 / 1600]
    )


def test_conv_peak_is_a_positive_rate_in_each_precision():
    for precision in ("fp32", "bf16"):
        batch, rate = conv_peak(torch.device("cpu"), precision, batch=1, max_batch=2, repeats=1)
        assert batch in (1, 2) and math.isfinite(rate) and rate > 0, precision


@pytest.mark.parametrize("impl", sorted(OPTIMIZER_IMPLS))
def test_the_optimizer_step_variants_compute_the_same_sgd_step(impl):
    """The bench's '+foreach' / '+fused' variants time another implementation of the same arithmetic: after a few
    steps the weights are bit-identical to torch's default SGD (otherwise they would be an opt-in numerics change)."""
    weights = []
    for options in ({}, OPTIMIZER_IMPLS[impl]):
        torch.manual_seed(0)
        model = build_model("convnet")
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4, **options)
        generator = torch.Generator().manual_seed(1)
        for _ in range(2):
            x, y = torch.randn(4, 3, 16, 16, generator=generator), torch.randint(0, 10, (4,), generator=generator)
            training_step(model, optimizer, x, y, "fp32")
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])


def test_headline_takes_each_precisions_fastest_pipeline_with_its_ceiling_share_and_classic_ratio():
    throughput = pd.DataFrame(
        {
            "phase": ["train"] * 4 + ["eval"] * 2,
            "pipeline": ["classic", "engine", "engine", "engine", "classic", "engine"],
            "label": ["classic", "fp32", "bf16", "bf16+cl", "classic", "bf16+cl"],
            "precision": ["fp32", "fp32", "bf16", "bf16", "fp32", "bf16"],
            "img_per_s": [100.0, 120.0, 300.0, 400.0, 500.0, 2000.0],
            "speedup_vs_classic": [1.0, 1.2, 3.0, 4.1, 1.0, 4.0],
        }
    )
    peaks = pd.DataFrame({"precision": ["fp32", "bf16"], "gflop_per_s": [100.0, 1000.0]})
    table = headline(add_arithmetic_context(throughput, peaks)).set_index(["phase", "precision", "pipeline"])
    assert len(table) == 5  # train: fp32 classic and engine, bf16 engine; eval: fp32 classic, bf16 engine
    best = table.loc[("train", "bf16", "engine")]
    assert best["label"] == "bf16+cl" and best["x_classic"] == 4.1
    assert best["of_ceiling"] == pytest.approx(400 * convnet_flop_per_image("train") / 1e9 / 1000)
    assert best["ceiling_gflop_per_s"] == pytest.approx(1000.0)
    assert table.loc[("eval", "fp32", "classic"), "of_ceiling"] == pytest.approx(
        500 * convnet_flop_per_image("eval") / 1e9 / 100
    )
    assert "4.10x classic" in headline_text(table.reset_index())


def test_the_evaluation_controls_evaluate_without_the_engines_folding_or_fusion_and_train_no_row():
    engine = Pipeline.engine("bf16+cl")
    assert engine.fold_bn and engine.fuse_relu and not engine.evaluation_control
    assert engine.label == "engine bf16 + channels_last"
    control = Pipeline.engine("bf16+cl+nofold")
    assert not control.fold_bn and not control.fuse_relu and control.evaluation_control
    assert control.label == "engine bf16 + channels_last + BN unfolded, ReLU unfused (eval)"
    control = Pipeline.engine("bf16+cl+nofuse")
    assert control.fold_bn and not control.fuse_relu and control.evaluation_control
    assert control.label == "engine bf16 + channels_last + ReLU unfused (eval)"
    with pytest.raises(ValueError, match="at most one of '\\+nofold' / '\\+nofuse'"):
        Pipeline.engine("bf16+nofold+nofuse")
    classic = Pipeline("classic")  # the notebook's pipeline evaluates its network as it is, and is no control
    assert not classic.fold_bn and not classic.fuse_relu and not classic.evaluation_control


def test_each_engine_variant_times_the_network_it_names():
    model = build_model("convnet").eval()

    def kinds(variant: str) -> set[str]:
        return {type(m).__name__ for m in evaluated_network(Pipeline.engine(variant))(model).modules()}

    fused = torch.backends.mkldnn.is_available()  # the fusion needs oneDNN (every x86 build of torch has it)
    assert "BatchNorm2d" not in kinds("fp32") and (ConvReLU2d.__name__ in kinds("fp32")) == fused  # the engine's
    assert "BatchNorm2d" not in kinds("fp32+nofuse") and ConvReLU2d.__name__ not in kinds("fp32+nofuse")
    assert evaluated_network(Pipeline.engine("fp32+nofold"))(model) is model


def test_the_headline_times_only_what_the_studys_engine_runs():
    """The engine folds BatchNorm and fuses ReLU when it evaluates, so the '+nofold' and '+nofuse' controls are not
    the engine; evaluation is neither compiled nor has an SGD step: however the noise falls, a control heads no
    phase, a compiled or foreach variant training only."""
    throughput = pd.DataFrame(
        {
            "phase": ["train"] * 5 + ["eval"] * 5,
            "pipeline": ["engine"] * 10,
            "label": ["bf16+cl", "bf16+cl+nofold", "bf16+cl+compile", "bf16+cl+foreach", "bf16+cl+nofuse"] * 2,
            "precision": ["bf16"] * 10,
            "fold_bn": [True, False, True, True, True] * 2,
            "fuse_relu": [True, False, True, True, False] * 2,
            "compile": [False, False, True, False, False] * 2,
            "optimizer_impl": [None, None, None, "foreach", None] * 2,
            "img_per_s": [1000.0, 1001.0, 1200.0, 1100.0, 1002.0, 5000.0, 6000.0, 5001.0, 5002.0, 6001.0],
            "speedup_vs_classic": [3.0, 3.0, 3.6, 3.3, 3.0, 5.0, 6.0, 5.0, 5.0, 6.0],
        }
    )
    peaks = pd.DataFrame({"precision": ["bf16"], "gflop_per_s": [1000.0]})
    table = headline(add_arithmetic_context(throughput, peaks)).set_index("phase")
    assert table.loc["train", "label"] == "bf16+cl+compile" and table.loc["eval", "label"] == "bf16+cl"
    as_read_back = throughput.astype({"fold_bn": str, "fuse_relu": str, "compile": str})  # flags read back as text
    table = headline(add_arithmetic_context(as_read_back, peaks)).set_index("phase")
    assert table.loc["eval", "label"] == "bf16+cl"
    before_fusion = throughput.drop(columns="fuse_relu").iloc[[0, 1, 5, 6]]  # a CSV from before the ReLU fusion
    assert headline(add_arithmetic_context(before_fusion, peaks)).set_index("phase").loc["eval", "label"] == "bf16+cl"
