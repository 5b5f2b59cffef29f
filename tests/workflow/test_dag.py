"""Workflow-level checks that need no training: dry runs of both configs, targets, lint, format, bad config."""

from __future__ import annotations

import os
import re
import time

import pytest
import yaml
from helpers import BIN, REPO, job_counts, snakemake

from effdl.plan.finetune import VARIANTS as FINETUNE_VARIANTS
from effdl.plan.quant_variants import quant_networks, quantize_rule, variant_names
from effdl.plan.registry import PRUNE_MODES

# these tests read the per-job rule listing, which the default workflow profile (profiles/default) hides
DRY = ("-n", "--nolock", "--cores", "4", "--resources", "gpu=1", "--workflow-profile", "none")
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def merged(base: dict, overlay: dict) -> dict:
    """Snakemake's --configfile merge: mappings merge key by key, everything else replaces."""
    out = dict(base)
    for key, value in overlay.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


SEEDS, P1 = CONFIG["seeds"], CONFIG["schedules"]
SWEEP_RUNS = len(P1["lr_sweep"]["lrs"]) * len(SEEDS)  # one run per (lr, seed)
SCHEDULER_RUNS = len(P1["schedulers"]["names"]) * len(SEEDS)  # one run per (scheduler, seed)


def test_smoke_dry_run_plans_the_whole_study():
    """--forceall: the plan must not depend on what results/ already holds (an up-to-date tree plans nothing)."""
    result = snakemake(*DRY, "--forceall", "--configfile", "config/smoke.yaml")
    assert result.returncode == 0, result.stderr + result.stdout
    counts = job_counts(result.stdout)
    sources = [REPO / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")]
    rules = {name for path in sources for name in re.findall(r"^rule (\w+):", path.read_text(), re.M)}
    smoke = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    rules |= {quantize_rule(net) for net in quant_networks(merged(CONFIG, smoke)["quant"])}  # made in a loop
    # every rule runs except the CINIC-10 download (the smoke overlay reads CIFAR-10 from disk instead)
    assert set(counts) == rules - {"download_cinic10"}
    one_each = ["all", "build_paper", "tex_provenance"] + [f"tex_part{i}" for i in range(1, 7)]
    one_each += [quantize_rule(net) for net in quant_networks(merged(CONFIG, smoke)["quant"])]  # one per network
    assert {rule: counts[rule] for rule in one_each} == dict.fromkeys(one_each, 1)
    assert counts["prepare_data"] == len(smoke["datasets"])  # cifar10, mnist and the cinic10 stand-in
    assert counts["train_toy_transformer"] == len(smoke["seeds"])  # one per seed


def test_full_config_dry_run_shows_full_part1():
    result = snakemake(*DRY, "--forceall", "results/figs/lr_sweep.pdf", "results/figs/schedulers.pdf")
    assert result.returncode == 0, result.stderr + result.stdout
    counts = job_counts(result.stdout)
    # one run per (lr, seed) and per (scheduler, seed) of the config, nothing else trained
    assert counts["train_model"] == SWEEP_RUNS + SCHEDULER_RUNS
    assert f"results/runs/part1/sched_cosine_annealing_seed{SEEDS[-1]}/epochs.csv" in result.stdout


def test_one_cycle_overlay_plans_its_runs_only(tmp_path):
    """Adding one_cycle to schedules.schedulers.names (one config edit) plans one more run per seed, and only that:
    the existing runs' specs, and so their cached results, stay as they were."""
    overlay = tmp_path / "one_cycle.yaml"
    overlay.write_text(
        "schedules:\n  schedulers:\n    names: [multistep, cosine_annealing, one_cycle]\n    one_cycle: {max_lr: 0.2}\n"
    )
    result = snakemake(*DRY, "--forceall", "results/figs/schedulers.pdf", "--configfile", str(overlay))
    assert result.returncode == 0, result.stderr + result.stdout
    assert job_counts(result.stdout)["train_model"] == (len(P1["schedulers"]["names"]) + 1) * len(SEEDS)
    assert all(f"results/runs/part1/sched_one_cycle_seed{seed}/epochs.csv" in result.stdout for seed in SEEDS)


def test_a_bit_width_overlay_plans_its_quantization_jobs(tmp_path):
    """quant.bits: [8, 4, 3, 2] (no other edit) plans the 3-bit variants of every network and granularity."""
    overlay = tmp_path / "bits.yaml"
    overlay.write_text("quant:\n  bits: [8, 4, 3, 2]\n")
    target = "results/metrics/quantization.csv"
    base = snakemake(*DRY, "--forceall", target)
    result = snakemake(*DRY, "--forceall", target, "--configfile", str(overlay))
    assert base.returncode == 0 and result.returncode == 0, result.stderr + result.stdout
    q, bits = CONFIG["quant"], [8, 4, 3, 2]
    for net in quant_networks(q):  # still one job per network, now with a 3-bit CSV per granularity
        assert job_counts(result.stdout)[quantize_rule(net)] == job_counts(base.stdout)[quantize_rule(net)] == 1
        key = "mnist" if net == "mnist_mlp" else net
        wanted = variant_names(q[key]["granularities"], bits, q["stochastic"]["bits"], q["stochastic"]["trials"])
        for variant in wanted:
            assert f"results/quant/{net}/{variant}.csv" in result.stdout, variant
    assert "tensor-nearest-3bit" in result.stdout and "channel-nearest-3bit" in result.stdout
    assert "nearest-3bit" not in base.stdout


def test_one_figure_builds_only_its_ancestors():
    result = snakemake(*DRY, "--forceall", "results/figs/lr_sweep.pdf")
    assert result.returncode == 0, result.stderr + result.stdout
    counts = job_counts(result.stdout)
    assert counts == {"prepare_data": 1, "train_model": SWEEP_RUNS, "aggregate_runs": 1, "plot_training_curves": 1}


def test_misspelled_config_key_fails_fast_naming_it(tmp_path):
    overlay = tmp_path / "typo.yaml"
    overlay.write_text("schedules:\n  lr_sweep:\n    lrz: [0.1]\n")
    start = time.monotonic()
    result = snakemake(*DRY, "--configfile", str(overlay))
    assert result.returncode != 0
    assert "unknown config key 'lrz'" in result.stderr + result.stdout
    assert "did you mean 'lrs'" in result.stderr + result.stdout
    assert time.monotonic() - start < 30


def test_lint_is_clean():
    result = snakemake("--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefmt_is_clean(skip_or_fail):
    import subprocess

    snakefmt = BIN / "snakefmt"
    if not snakefmt.exists():
        skip_or_fail("snakefmt is not installed in this environment (pip install -e .[dev])")
    result = subprocess.run(
        [str(snakefmt), "--check", "Snakefile", "workflow"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_is_clean(args):
    import subprocess

    ruff = BIN / "ruff"
    if not ruff.exists():
        pytest.skip("ruff is not installed in this environment (pip install -e .[dev])")
    result = subprocess.run([str(ruff), *args, "."], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_building_the_dag_never_imports_torch(tmp_path):
    """`snakemake -n` and every cluster job's DAG build would pay torch's ~3 s import: a torch that cannot be
    imported (first on sys.path) must not stop a dry run of the full study."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("raise ImportError('the DAG build imported torch')\n")
    (tmp_path / "torchvision").mkdir()
    (tmp_path / "torchvision" / "__init__.py").write_text("raise ImportError('the DAG build imported torchvision')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    result = snakemake(*DRY, "--forceall", env=env)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    assert job_counts(result.stdout)["train_model"] > 0


@pytest.mark.parametrize("device, tokens", [("auto", "gpu=1"), ("cuda", "gpu=1"), ("cpu", "gpu=0")])
def test_torch_rules_hold_a_gpu_token_unless_the_device_is_cpu(device, tokens):
    """`--resources gpu=1` serialises GPU jobs; on `device: cpu` that would leave cores idle for nothing."""
    target = "results/runs/part2/mnist_mlp_seed43/summary.csv"
    result = snakemake(*DRY, "--forceall", target, "--config", f"device={device}")
    assert result.returncode == 0, result.stderr + result.stdout
    train_job = result.stdout.split("rule train_model:", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"resources: .*\b" + tokens + r"\b", train_job), train_job


def test_a_small_batch_run_asks_for_one_core_and_a_convnet_run_for_two():
    """The MNIST MLP trains at batch 1, whose steps run on one thread (effdl.execution.step_threads): its job
    takes one core, so a second job can use the other; a batch-128 ConvNet run takes both."""
    targets = [
        "results/runs/part2/mnist_mlp_seed43/summary.csv",
        "results/runs/part1/sched_multistep_seed43/summary.csv",
    ]
    result = snakemake(*DRY, "--forceall", *targets, "--config", "device=cpu")
    assert result.returncode == 0, result.stderr + result.stdout
    jobs = {}
    for job in result.stdout.split("rule train_model:")[1:]:
        body = job.split("\n\n", 1)[0]
        jobs[re.search(r"run=(\w+)", body).group(1)] = int((re.search(r"threads: (\d+)", body) or [0, 1])[1])
    assert jobs == {"mnist_mlp_seed43": 1, "sched_multistep_seed43": 2}, jobs


def test_every_rule_before_the_appendix_writes_a_benchmark_file():
    """The paper's runtime table (effdl.report.provenance.rule_runtimes) lists exactly the rules that benchmark."""
    from effdl.report.provenance import UNTIMED_RULES

    missing, misplaced = [], []
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for name, body in re.findall(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", smk.read_text(), re.S | re.M):
            if name in ("all", *UNTIMED_RULES):
                continue
            # a `benchmark:` directive, or (rules cached between workflows, where Snakemake forbids the
            # directive) a `benchmark=` output that the rule's script writes itself
            bench = re.search(r"    benchmark:\n\s+\"([^\"]+)\"", body) or re.search(
                r"^        benchmark=\"([^\"]+)\",$", body, re.M
            )
            if bench is None:
                missing.append(name)
            elif not bench.group(1).startswith(f"results/benchmarks/{name}/"):
                misplaced.append((name, bench.group(1)))
    assert not missing, f"rules without a benchmark: file: {missing}"
    assert not misplaced, f"benchmark files outside results/benchmarks/<rule>/: {misplaced}"


def test_cpu_tier_dry_run_plans_the_whole_study_with_its_claims_table(tmp_path):
    configs = ["config/offline.yaml", "config/cpu.yaml"]
    if not (REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.gz").exists():
        # a clone without ../shared/data: the plan reads no image, so the smoke archives stand in for the copies
        paths = {"cifar10": "cifar10-jpeg.tar.gz", "mnist": "mnist-png.tar.gz", "cinic10": "cifar10-jpeg.tar.gz"}
        overlay = tmp_path / "data_in_repo.yaml"
        overlay.write_text(yaml.safe_dump({"datasets": {k: {"path": f".test/{v}"} for k, v in paths.items()}}))
        configs.append(str(overlay))
    result = snakemake(*DRY, "--forceall", "--configfile", *configs)
    assert result.returncode == 0, result.stderr + result.stdout
    counts = job_counts(result.stdout)
    cfg = CONFIG
    for overlay in ("offline.yaml", "cpu.yaml"):
        cfg = merged(cfg, yaml.safe_load((REPO / "config" / overlay).read_text()))
    seeds, p1 = len(cfg["seeds"]), cfg["schedules"]
    ft_seeds = len(cfg["finetune"]["seeds"]) if cfg["finetune"].get("seeds") is not None else seeds
    expected = (
        len(p1["lr_sweep"]["lrs"]) * seeds  # 1.1
        + len(p1["schedulers"]["names"]) * seeds  # 1.2
        + seeds  # 2: one MLP per seed
        + seeds  # 3.2: the sanity run
        + len(PRUNE_MODES) * seeds  # 3.3/3.4
        + seeds * cfg["prune"]["controls"]["unpruned"]  # 3: the unpruned SparseConvNet control
        + len(FINETUNE_VARIANTS) * ft_seeds  # 4
        + len(set(cfg["finetune"]["lora_ranks"]) - {cfg["finetune"]["lora_r"]}) * ft_seeds  # 4: LoRA rank control
        + len(cfg["dwconv"]["train"]["seeds"])  # 6
    )
    assert counts["train_model"] == expected
    assert f"results/runs/part3/unpruned_seed{cfg['seeds'][0]}/summary.csv" in result.stdout
    assert "results/runs/part4/net_freeze_lora_r1_seed" in result.stdout
    assert counts["tex_claims"] == 1 and counts["build_paper"] == 1
