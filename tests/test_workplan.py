"""The start-up plan (effdl.workplan) and the run status (effdl.status) from files alone, torch-free."""

from __future__ import annotations

import json
import os
import time

import pytest

from effdl import progress, status
from effdl.plan import work as workplan

CIFAR = {"subset": {"train_per_class": 100, "test_per_class": 20, "seed": 0}}


def spec(key, model="convnet", epochs=2, dataset="cifar10", eval_before=False):
    part, run = key.split("/")
    return {
        "part": part,
        "run": run,
        "dataset": dataset,
        "seed": 43,
        "model": {"name": model},
        "train": {"epochs": epochs, "lr": 0.1, "eval_before_training": eval_before},
        "hooks": [],
        "labels": {},
    }


def write_bench(results, train=100.0, eval_=400.0, device="cpu"):
    bench = results / "bench"
    bench.mkdir(parents=True)
    rows = [
        "device,phase,pipeline,precision,channels_last,compile,img_per_s",
        f"{device},train,classic,fp32,False,False,{train / 2}",
        f"{device},train,engine,fp32,True,False,{train}",
        f"{device},eval,engine,fp32,True,False,{eval_}",
        f"{device},train,engine,fp32,False,False,{train / 3}",
        f"{device},eval,engine,fp32,False,False,{eval_ / 3}",
    ]
    (bench / "throughput.csv").write_text("\n".join(rows) + "\n")
    (bench / "machine.csv").write_text(f"device,auto_precision,gpu_name\n{device},fp32,\n")


def test_dataset_sizes_follow_the_subset_or_the_full_set():
    assert workplan.dataset_images("cifar10", CIFAR) == (1000, 200)
    assert workplan.dataset_images("cifar10", {"subset": None}) == (50_000, 10_000)
    assert workplan.dataset_images("mnist", {"subset": {"train_per_class": 100}}) == (1000, 10_000)
    assert workplan.dataset_images("cifar10", {"subset": {"train_per_class": 5, "test_per_class": "all"}}) == (
        50,
        10_000,
    )
    assert workplan.dataset_images("cinic10", {"subset": {"train_per_class": 10**6, "test_per_class": 1}}) == (
        90_000,
        10,
    )


def test_planned_work_counts_epochs_and_images_per_family(tmp_path):
    runs = {
        "p/a": spec("p/a", epochs=3),
        "p/b": spec("p/b", epochs=5),
        "q/r": spec("q/r", model="resnet18", epochs=1, eval_before=True),
    }
    planned = workplan.planned_runs(runs, {"cifar10": CIFAR}, str(tmp_path))
    summary = {r["family"]: r for r in workplan.summarise(planned, None, {})}
    assert summary["convnet"]["runs"] == 2 and summary["convnet"]["epochs"] == 8
    assert summary["convnet"]["train_images"] == 8 * 1000 and summary["convnet"]["eval_images"] == 8 * 200
    assert summary["resnet18"]["eval_images"] == 2 * 200  # evaluation before training counts
    text = workplan.format_plan(list(summary.values()), None, "cpu")
    assert "effdl bench --device cpu" in text  # no throughput known: say how to measure it
    assert "3 runs (0 done)" in text and "estimated" not in text


def test_estimate_uses_the_bench_for_convnets_and_finished_runs_for_others(tmp_path):
    results = tmp_path / "results"
    write_bench(results, train=100.0, eval_=400.0)
    engine = {"precision": "auto", "channels_last": True, "compile": False}
    bench = workplan.bench_throughput(results / "bench", engine)
    assert (bench["train_img_s"], bench["eval_img_s"]) == (100.0, 400.0)  # the channels_last engine row
    runs = {"p/a": spec("p/a", epochs=2), "q/r": spec("q/r", model="resnet18", epochs=1)}
    planned = workplan.planned_runs(runs, {"cifar10": CIFAR}, str(results))
    seconds, source = workplan.run_seconds(planned[0], bench, {})
    assert seconds == pytest.approx(2 * 1000 / 100 + 2 * 200 / 400) and "effdl bench on cpu" in source
    assert workplan.run_seconds(planned[1], bench, {}) == (None, None)  # the bench does not measure ResNet-18
    # a finished ResNet-18 run here: 1200 images in 6 s = 200 img/s
    done = results / "runs" / "old" / "x"
    done.mkdir(parents=True)
    (done / "summary.csv").write_text(
        "model,device,n_train,n_test,epochs_completed,total_time_s\nresnet18,cpu,1000,200,1,6.0\n"
    )
    finished = workplan.finished_throughput(results)
    assert workplan.run_seconds(planned[1], bench, finished)[0] == pytest.approx(1200 / 200)
    text = workplan.format_plan(workplan.summarise(planned, bench, finished), bench, "cpu")
    assert "estimated training time left, one job at a time: 27 s" in text  # 21 s + 6 s


def test_plan_file_is_rewritten_only_when_it_changes(tmp_path):
    planned = workplan.planned_runs({"p/a": spec("p/a")}, {"cifar10": CIFAR}, str(tmp_path))
    path = tmp_path / "plan.json"
    assert workplan.write_plan(path, planned, {"x": 1})
    assert not workplan.write_plan(path, planned, {"x": 1})
    assert workplan.write_plan(path, planned, {"x": 2})
    assert json.loads(path.read_text())["runs"][0]["spec_hash"] == workplan.spec_hash(spec("p/a"))


def test_eta_text_and_durations():
    assert progress.format_duration(42) == "42s" and progress.format_duration(185) == "3m05s"
    assert progress.format_duration(2 * 3600 + 7 * 60) == "2h07m" and progress.format_duration(None) == "?"
    assert progress.timing_text(2, 5, 20.0, [10.0, 12.0]) == "elapsed 20s, ETA 33s"  # 3 left x 11 s


def make_status_plan(results):
    runs = {f"p/{name}": spec(f"p/{name}", epochs=4) for name in ("done", "running", "stale", "crashed", "todo")}
    planned = workplan.planned_runs(runs, {"cifar10": CIFAR}, str(results))
    workplan.write_plan(results / "plan.json", planned, {})
    return {r["run"]: r for r in planned}


def test_status_tells_done_running_pending_and_failed_apart(tmp_path, monkeypatch):
    results = tmp_path / "results"
    plan = make_status_plan(results)
    for run in plan.values():
        os.makedirs(run["dir"], exist_ok=True)
    done = plan["done"]
    (results / "runs/p/done/summary.csv").write_text("x\n1\n")
    progress.write_progress(
        f"{done['dir']}/progress.json", state="done", epoch=4, epochs=4, test_acc=55.5, spec_hash=done["spec_hash"]
    )
    progress.write_progress(
        f"{plan['running']['dir']}/progress.json",
        state="running",
        epoch=2,
        epochs=4,
        test_acc=31.25,
        eta_s=120.0,
        device="cuda:1 NVIDIA H200",
        spec_hash=plan["running"]["spec_hash"],
    )
    stale = f"{plan['stale']['dir']}/progress.json"
    progress.write_progress(
        stale, state="running", epoch=3, epochs=4, test_acc=40.0, eta_s=5.0, spec_hash=plan["stale"]["spec_hash"]
    )
    old = time.time() - 10 * progress.HEARTBEAT_S
    os.utime(stale, (old, old))  # its job was killed: no heartbeat since
    (results / "runs/p/stale/checkpoint.pt").write_bytes(b"")
    os.makedirs(os.path.dirname(plan["crashed"]["log"]), exist_ok=True)
    with open(plan["crashed"]["log"], "w") as log:
        log.write("[10:00:00] run p/crashed ...\nTraceback (most recent call last):\nRuntimeError: boom\n")
    os.utime(plan["crashed"]["log"], (old, old))
    got = status.collect(results, plan=results / "plan.json")
    states = {r["key"].split("/")[1]: r for r in got["runs"]}
    assert {k: v["state"] for k, v in states.items()} == {
        "done": "done",
        "running": "running",
        "stale": "failed",
        "crashed": "failed",
        "todo": "pending",
    }
    assert states["running"]["epoch"] == 2 and states["running"]["test_acc"] == 31.25
    assert 100 < states["running"]["eta_s"] <= 120.0
    assert "resumes after epoch 3" in states["stale"]["note"] and "no heartbeat" in states["stale"]["note"]
    assert "RuntimeError: boom" in states["crashed"]["note"]  # the last error line of the log
    assert got["counts"] == {"done": 1, "running": 1, "pending": 1, "failed": 2}
    text = status.render(got)
    assert "p/running" in text and "2/4" in text and "31.25%" in text and "cuda:1 NVIDIA H200" in text
    assert "1 done, 1 running, 1 pending, 2 failed" in text
    assert (
        status.main(["--results", str(results), "--plan", str(results / "plan.json"), "--only", "failed"]) == 1
    )  # failures give exit status 1


def test_status_ignores_progress_of_another_configuration(tmp_path):
    results = tmp_path / "results"
    plan = make_status_plan(results)
    run = plan["done"]
    os.makedirs(run["dir"])
    (results / "runs/p/done/summary.csv").write_text("x\n1\n")
    progress.write_progress(f"{run['dir']}/progress.json", state="done", epoch=4, spec_hash="another-config")
    row = next(r for r in status.collect(results, plan=results / "plan.json")["runs"] if r["key"] == "p/done")
    assert row["state"] == "pending" and "another configuration" in row["note"]


def test_status_without_a_plan_says_how_to_make_one(tmp_path):
    with pytest.raises(SystemExit, match="snakemake -n"):
        status.collect(tmp_path, plan=tmp_path / "plan.json")


def test_cpu_compile_gain_comes_from_the_bench(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    assert workplan.compile_gain(bench, "fp32", True) is None  # nothing measured: compile: auto stays off
    (bench / "throughput.csv").write_text(
        "device,phase,pipeline,precision,channels_last,compile,img_per_s\n"
        "cpu,train,engine,fp32,True,False,100.0\ncpu,train,engine,fp32,True,True,113.0\n"
        "cpu,eval,engine,fp32,True,True,999.0\ncpu,train,engine,bf16,True,True,5.0\n"
    )
    assert workplan.compile_gain(bench, "fp32", True) == pytest.approx(1.13)
    assert workplan.compile_gain(bench, "fp32", False) is None and workplan.compile_gain(bench, "bf16", True) is None


def test_compile_gain_sets_the_fastest_compiled_variant_against_the_fastest_uncompiled_one(tmp_path):
    (tmp_path / "throughput.csv").write_text(
        "device,phase,pipeline,precision,channels_last,compile,optimizer_impl,fold_bn,img_per_s\n"
        "cpu,train,engine,bf16,True,False,,False,100.0\n"
        "cpu,train,engine,bf16,True,False,foreach,False,120.0\n"
        "cpu,eval,engine,bf16,True,False,,True,500.0\n"  # an evaluation row: not training speed
        "cpu,train,engine,bf16,True,True,,False,150.0\n"
        "cpu,train,engine,bf16,True,True,foreach,False,140.0\n"
    )
    assert workplan.compile_gain(tmp_path, "bf16", True) == pytest.approx(150.0 / 120.0)
    assert workplan.sgd_impl_rates(tmp_path, "bf16", True, compiled=True) == {"": 150.0, "foreach": 140.0}
    assert workplan.sgd_impl_rates(tmp_path, "bf16", True) == {"": 100.0, "foreach": 120.0}


def test_a_cpu_run_takes_the_sgd_step_measured_fastest_in_its_own_compile_state(tmp_path):
    """Compiling fuses the SGD step into the graph, so the step measured fastest uncompiled need not be the compiled
    run's: a 10-epoch run (compiled on the measured gain) gets the compiled rows, a 5-epoch run the uncompiled."""
    import torch

    from effdl.train_job import measured_choices

    (tmp_path / "throughput.csv").write_text(
        "device,phase,pipeline,precision,channels_last,compile,optimizer_impl,img_per_s\n"
        "cpu,train,engine,fp32,True,False,,100.0\ncpu,train,engine,fp32,True,False,foreach,120.0\n"
        "cpu,train,engine,fp32,True,True,,150.0\ncpu,train,engine,fp32,True,True,fused,140.0\n"
    )
    train = {"precision": "fp32", "channels_last": True, "compile": "auto", "epochs": 10}
    gain, rates = measured_choices(tmp_path, train, torch.device("cpu"))
    assert gain == pytest.approx(1.25) and rates == {"": 150.0, "fused": 140.0}
    assert measured_choices(tmp_path, {**train, "epochs": 5}, torch.device("cpu"))[1] == {"": 100.0, "foreach": 120.0}
    assert measured_choices(tmp_path, {**train, "compile": False}, torch.device("cpu"))[1] == {
        "": 100.0,
        "foreach": 120.0,
    }
    assert measured_choices(tmp_path / "unmeasured", train, torch.device("cpu")) == (None, None)
