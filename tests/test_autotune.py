"""effdl.autotune: the evaluation batch and layout chosen from (fake) probe timings, cached, and result-neutral."""

from __future__ import annotations

import json

import pytest
import torch

from effdl import autotune
from effdl.autotune import EvalPlan, fastest, plan_evaluation
from effdl.data import DeviceDataset
from effdl.engine import evaluate
from effdl.models import build_model
from effdl.plan.spec import TrainConfig

MEAN, STD = [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]


@pytest.fixture(autouse=True)
def fresh_plans(monkeypatch):
    """Every test starts without probed plans and without the workflow's cache file."""
    monkeypatch.delenv(autotune.TUNE_CACHE_ENV, raising=False)
    autotune.clear_plans()
    yield
    autotune.clear_plans()


def fake_measure(rates: dict, calls: list):
    """A probe that returns the given img/s for the candidates it is asked about, recording each call."""

    def measure(run_pass, candidates, images, device):
        calls.append(candidates)
        return {c: rates.get(c, 1.0) for c in candidates}

    return measure


def images(n: int, channels: int = 3) -> torch.Tensor:
    return torch.randint(0, 256, (n, channels, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(n))


def test_fastest_picks_the_highest_rate_and_breaks_ties_towards_small_nchw():
    assert fastest({(64, False): 10.0, (256, True): 30.0, (1024, False): 20.0}) == (256, True)
    assert fastest({(512, True): 5.0, (128, True): 5.0, (128, False): 5.0}) == (128, False)
    with pytest.raises(ValueError):
        fastest({})


def test_auto_takes_the_fastest_candidate_of_the_probe():
    calls = []
    rates = {(256, True): 900.0, (1024, False): 500.0, (64, False): 800.0}
    model = build_model("convnet")
    plan = plan_evaluation(
        "auto",
        model,
        images(600),
        precision="fp32",
        channels_last=False,
        run_pass=lambda *a: None,
        measure=fake_measure(rates, calls),
    )
    assert (plan.batch_size, plan.channels_last, plan.source) == (256, True, "probe")
    # both layouts probed for a convolutional model, batches capped at the probe's image count
    assert {cl for _, cl in calls[0]} == {False, True}
    assert max(b for b, _ in calls[0]) == min(600, autotune.PROBE_IMAGES["cpu"])
    # a second evaluation of the same model and precision reuses the plan without probing again
    again = plan_evaluation("auto", model, images(600), precision="fp32", channels_last=False, run_pass=lambda *a: None)
    assert (again.batch_size, again.channels_last, again.source) == (256, True, "cache") and len(calls) == 1


def test_an_integer_overrides_the_probe_and_keeps_the_training_layout():
    calls = []
    plan = plan_evaluation(
        1000,
        build_model("convnet"),
        images(600),
        precision="bf16",
        channels_last=True,
        run_pass=lambda *a: None,
        measure=fake_measure({}, calls),
    )
    assert plan == EvalPlan(1000, True, "fixed") and calls == []
    with pytest.raises(ValueError, match="eval_batch_size"):
        plan_evaluation(0, build_model("convnet"), images(600), precision="fp32", channels_last=False)


def test_a_small_set_is_one_batch_without_a_probe():
    calls = []
    plan = plan_evaluation(
        "auto",
        build_model("convnet"),
        images(100),
        precision="fp32",
        channels_last=True,
        run_pass=lambda *a: None,
        measure=fake_measure({}, calls),
    )
    assert plan == EvalPlan(100, True, "small") and calls == []


def test_a_model_without_convolutions_probes_only_nchw():
    calls = []
    plan_evaluation(
        "auto",
        build_model("mnist_mlp"),
        images(600, channels=1),
        precision="fp32",
        channels_last=False,
        run_pass=lambda *a: None,
        measure=fake_measure({}, calls),
    )
    assert {cl for _, cl in calls[0]} == {False}


def test_the_cache_file_carries_a_probe_to_the_next_process(tmp_path, monkeypatch):
    cache = tmp_path / "tune" / "eval.json"
    monkeypatch.setenv(autotune.TUNE_CACHE_ENV, str(cache))
    calls = []
    model, data = build_model("convnet"), images(600)
    kwargs = dict(precision="bf16", channels_last=False, run_pass=lambda *a: None)
    first = plan_evaluation("auto", model, data, measure=fake_measure({(128, True): 50.0}, calls), **kwargs)
    assert len(json.loads(cache.read_text())) == 1
    autotune.clear_plans()  # as a new process would start
    second = plan_evaluation("auto", model, data, measure=fake_measure({}, calls), **kwargs)
    assert (second.batch_size, second.channels_last) == (first.batch_size, first.channels_last) == (128, True)
    assert second.source == "cache" and len(calls) == 1
    # another precision is another entry
    plan_evaluation("auto", model, data, **{**kwargs, "precision": "fp32"}, measure=fake_measure({}, calls))
    assert len(calls) == 2 and len(json.loads(cache.read_text())) == 2


def test_evaluation_results_do_not_depend_on_batch_size_or_layout():
    torch.manual_seed(0)
    model = build_model("convnet")
    generator = torch.Generator().manual_seed(1)
    data = DeviceDataset(
        torch.randint(0, 256, (200, 3, 16, 16), dtype=torch.uint8, generator=generator),
        torch.randint(0, 10, (200,), generator=generator),
        torch.device("cpu"),
    )
    settings = [(1000, False), (64, True), (128, False), ("auto", True)]  # 'auto': one batch of a small set
    fp32 = [
        evaluate(model, data, mean=MEAN, std=STD, batch_size=b, channels_last=cl, precision="fp32")
        for b, cl in settings
    ]
    for loss, acc in fp32[1:]:
        assert acc == fp32[0][1]  # the same predictions
        assert loss == pytest.approx(fp32[0][0], rel=1e-5)  # a kernel may sum in another order: fp32 rounding
    bf16 = [
        evaluate(model, data, mean=MEAN, std=STD, batch_size=b, channels_last=cl, precision="bf16")
        for b, cl in settings[:3]
    ]
    for loss, acc in bf16:  # bf16 keeps 8 mantissa bits: within its rounding of fp32, whatever the layout
        assert loss == pytest.approx(fp32[0][0], rel=2e-2)
        assert abs(acc - fp32[0][1]) <= 2.0


def test_train_config_takes_auto_or_a_positive_integer():
    assert TrainConfig(epochs=1, lr=0.1).eval_batch_size == "auto"
    assert TrainConfig(epochs=1, lr=0.1, eval_batch_size=500).eval_batch_size == 500
    for wrong in (0, "fast", True, 2.5):
        with pytest.raises((ValueError, TypeError), match="eval_batch_size"):
            TrainConfig(epochs=1, lr=0.1, eval_batch_size=wrong)


def test_ptq_evaluations_run_in_fp32_arithmetic_whatever_the_engine_precision(tmp_path, monkeypatch):
    """Post-training quantization is evaluated in fp32: bf16 autocast would round weights and activations to 8
    mantissa bits on its own and blur the quantization error under study (the paper's methods say so)."""
    from effdl.studies import quant

    torch.manual_seed(0)
    model = build_model("mnist_mlp", hidden=8)
    spec = {"seed": 43, "model": {"name": "mnist_mlp", "hidden": 8}, "mean": [0.13], "std": [0.31]}
    torch.save({"state_dict": model.state_dict(), "spec": {**spec, "train": {"epochs": 1}}}, tmp_path / "model.pt")
    split = {"images": torch.randint(0, 256, (20, 1, 28, 28), dtype=torch.uint8), "labels": torch.arange(20) % 10}
    torch.save({"train": split, "test": split, "source": "synthetic", "sha256": "x"}, tmp_path / "data.pt")
    seen = []

    def recording_evaluate(*args, **kwargs):
        seen.append(kwargs.get("precision"))
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(quant, "evaluate", recording_evaluate)
    for variant in ("fp32", "tensor-nearest-4bit"):
        quant.ptq_variant_rows(
            {"part2/mnist_mlp_seed43": str(tmp_path / "model.pt")},
            tmp_path / "data.pt",
            variant,
            net="mnist_mlp",
            batchnorm="params",
            rounding_seed=0,
            eval_batch_size="auto",
            device=torch.device("cpu"),
            config={},
            log=lambda _: None,
        )
    assert seen == ["fp32", "fp32"]


def test_the_sgd_step_is_the_one_measured_fastest_and_torchs_default_without_a_measurement(tmp_path):
    from effdl.optim import fastest_sgd_impl
    from effdl.plan.work import sgd_impl_rates

    assert fastest_sgd_impl({"": 100.0, "foreach": 110.0, "fused": 105.0}) == "foreach"
    assert fastest_sgd_impl({"": 100.0, "foreach": 101.0}) == ""  # within 2 %: noise, keep torch's default
    assert fastest_sgd_impl(None) == "" and fastest_sgd_impl({"fused": 9.0}) == ""
    rows = [
        ("engine", "train", "cpu", "bf16", True, False, "", 100.0),
        ("engine", "train", "cpu", "bf16", True, False, "foreach", 120.0),
        ("engine", "train", "cpu", "bf16", True, True, "fused", 999.0),  # compiled: another setting
        ("engine", "train", "cpu", "fp32", True, False, "fused", 999.0),  # another precision
        ("engine", "eval", "cpu", "bf16", True, False, "fused", 999.0),  # evaluation has no SGD step
    ]
    header = "pipeline,phase,device,precision,channels_last,compile,optimizer_impl,img_per_s"
    (tmp_path / "throughput.csv").write_text("\n".join([header, *(",".join(map(str, r)) for r in rows)]) + "\n")
    assert sgd_impl_rates(tmp_path, "bf16", True) == {"": 100.0, "foreach": 120.0}
    assert sgd_impl_rates(tmp_path, "bf16", False) is None and sgd_impl_rates(tmp_path / "none", "bf16", True) is None


def test_the_probe_key_tells_models_precisions_and_weight_layouts_apart():
    model, shape, cpu = build_model("convnet"), (3, 32, 32), torch.device("cpu")
    key = autotune.probe_key(model, shape, "fp32", cpu)
    assert key == autotune.probe_key(build_model("convnet"), shape, "fp32", cpu)  # same architecture, same plan
    others = [
        autotune.probe_key(model, shape, "bf16", cpu),
        autotune.probe_key(model, (3, 16, 16), "fp32", cpu),
        autotune.probe_key(build_model("mnist_mlp"), shape, "fp32", cpu),
        autotune.probe_key(build_model("convnet").to(memory_format=torch.channels_last), shape, "fp32", cpu),
    ]
    assert len({key, *others}) == 5


def test_the_probe_interleaves_candidates_and_keeps_each_ones_faster_pass():
    order, now = [], [0.0]
    seconds = {(64, False): [4, 1], (256, True): [2, 3]}  # per candidate: its two timed passes' durations

    def run_pass(batch, channels_last, n):
        order.append((batch, channels_last, n))
        if n == 512:  # a timed pass (the warm-up is one batch): advance the fake clock by its duration
            now[0] += seconds[(batch, channels_last)].pop(0)

    rates = autotune.measure_eval_rates(run_pass, tuple(seconds), 512, torch.device("cpu"), timer=lambda: now[0])
    assert rates == {(64, False): 512.0, (256, True): 256.0}
    timed = [(b, cl) for b, cl, n in order if n == 512]
    assert timed == [(64, False), (256, True), (64, False), (256, True)]  # round by round, not back to back
