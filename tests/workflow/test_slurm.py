"""SLURM profile tests: workflows run through workflow/profiles/slurm on a local one-node SLURM cluster.

The cluster (tests/slurm/cluster.sh: munged, slurmctld, slurmd on loopback, one fake GPU) is started
once per module and stopped again in the fixture's teardown when this module started it. Tests
marked `slurm` skip when the cluster cannot run here (not root, no apt-get, it does not come up);
under CI (the environment variable CI set) each of those fails instead (tests/conftest.py's skip_or_fail).
Every subprocess runs in its own process group with a time limit and is killed with its children when
it overruns.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from effdl.plan.quant_variants import quantize_rule

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SCRIPT = ROOT / "tests" / "slurm" / "cluster.sh"
PROBE_SNAKEFILE = ROOT / "tests" / "slurm" / "Snakefile"
SLURM_PROFILE = ROOT / "workflow" / "profiles" / "slurm" / "config.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
CANNOT_RUN_HERE = 77  # cluster.sh's exit code for "not root / no apt-get"
# settings a one-node test cluster needs on top of the real profile: no slurmdbd, so status comes
# from squeue (cluster.sh sets MinJobAge=1800 for that), and short polling so tests stay quick
TEST_PROFILE_OVERRIDES = {
    "slurm-status-command": "squeue",
    "slurm-init-seconds-before-status-checks": 2,
    "latency-wait": 5,
}


def run_bounded(cmd, *, timeout_s: float, cwd=None, env=None) -> subprocess.CompletedProcess:
    """Run cmd in its own process group; on timeout kill the whole group and fail the test."""
    proc = subprocess.Popen(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(map(str, cmd))} overran {timeout_s} s and was killed; output tail:\n{out[-4000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, None)


def resource_at(expr, attempt: int, threads: int = 1) -> int:
    """Value of a profile resource (a number or an expression of attempt/threads) at one attempt."""
    if isinstance(expr, (int, float)):
        return int(expr)
    names = {"attempt": attempt, "threads": threads, "min": min, "max": max}
    return int(eval(str(expr), {"__builtins__": {}}, names))


def slurm_time(minutes: int) -> str:
    """Minutes as scontrol prints a TimeLimit: [D-]HH:MM:SS."""
    days, rest = divmod(minutes, 24 * 60)
    text = f"{rest // 60:02d}:{rest % 60:02d}:00"
    return f"{days}-{text}" if days else text


def write_test_profile(dest: Path, env, **overrides) -> Path:
    """Copy the real SLURM profile into dest/, changing only what the one-node test cluster needs.

    Besides TEST_PROFILE_OVERRIDES, cpus_per_task and mem_mb are capped at what the node has
    (`min(<profile value>, cap)`), so a profile sized for a real cluster still schedules here.
    """
    profile = yaml.safe_load(SLURM_PROFILE.read_text())
    node = scontrol_show("node", "localhost", env)
    caps = {"cpus_per_task": int(node["CPUTot"]), "mem_mb": int(node["RealMemory"]) // 2}
    for resources in [profile.get("default-resources", {}), *profile.get("set-resources", {}).values()]:
        for key, cap in caps.items():
            if key in resources:
                resources[key] = f"min({resources[key]}, {cap})"
    profile.update(TEST_PROFILE_OVERRIDES)
    profile.update(overrides)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return dest


def read_profile(profile_dir: Path) -> dict:
    """A profile's config.yaml as a dict."""
    return yaml.safe_load((profile_dir / "config.yaml").read_text())


def scontrol_show(kind: str, name: str, env) -> dict[str, str]:
    """`scontrol show <kind> -o <name>` as a dict (the cluster keeps finished jobs for MinJobAge=30 min)."""
    out = run_bounded(["scontrol", "show", kind, "-o", name], timeout_s=30, env=env)
    assert out.returncode == 0, f"scontrol does not know {kind} {name}: {out.stdout}"
    return dict(re.findall(r"(\w+)=(\S*)", out.stdout))


def scontrol_job(job_id: str, env) -> dict[str, str]:
    """One SLURM job's record."""
    return scontrol_show("job", job_id, env)


def submitted_jobs(workdir: Path) -> dict[str, list[str]]:
    """rule (or "group:<id>") -> SLURM job ids, from the plugin's per-job logs.

    The plugin writes .snakemake/slurm_logs/rule_<rule>/[<wildcards>/]<id>.log for a job and
    .snakemake/slurm_logs/group_<group id>/[...]/<id>.log for a group job.
    """
    jobs: dict[str, list[str]] = {}
    for log in (workdir / ".snakemake" / "slurm_logs").glob("*_*/**/*.log"):
        top = log.relative_to(workdir / ".snakemake" / "slurm_logs").parts[0]
        name = top.removeprefix("rule_") if top.startswith("rule_") else "group:" + top.removeprefix("group_")
        jobs.setdefault(name, []).append(log.stem)
    return {name: sorted(ids, key=int) for name, ids in jobs.items()}


@pytest.fixture(scope="module")
def slurm_env(skip_or_fail):
    """Environment whose SLURM client commands reach the local cluster; starts and stops it."""
    if os.geteuid() != 0:
        skip_or_fail("the local SLURM cluster needs root (tests/slurm/cluster.sh)")
    if shutil.which("apt-get") is None:
        skip_or_fail("the local SLURM cluster needs apt-get to install Debian's slurm-wlm")
    env = dict(os.environ)
    state_dir = Path(env.setdefault("SLURM_LOCAL_DIR", "/tmp/effdl-slurm"))
    was_up = run_bounded(["bash", CLUSTER_SCRIPT, "status"], timeout_s=60, env=env).returncode == 0
    started = time.monotonic()
    up = run_bounded(["bash", CLUSTER_SCRIPT, "up"], timeout_s=900, env=env)
    if up.returncode != 0:
        what = "cannot run here" if up.returncode == CANNOT_RUN_HERE else "did not start"
        skip_or_fail(f"local SLURM cluster {what} (exit {up.returncode}):\n{up.stdout[-3000:]}")
    print(f"cluster up in {time.monotonic() - started:.1f} s")
    env["SLURM_CONF"] = str(state_dir / "etc" / "slurm.conf")
    env["PATH"] = f"{state_dir / 'bin'}{os.pathsep}{env['PATH']}"
    yield env
    if not was_up:
        down = run_bounded(["bash", CLUSTER_SCRIPT, "down"], timeout_s=120, env=env)
        assert down.returncode == 0, down.stdout


@dataclass
class ProbeRun:
    """One snakemake run of tests/slurm/Snakefile through the SLURM profile."""

    workdir: Path
    result: subprocess.CompletedProcess
    wall_s: float
    jobs: dict[str, list[str]]
    profile: dict


@pytest.fixture(scope="module")
def probe_run(slurm_env, tmp_path_factory) -> ProbeRun:
    """Run the GPU probe, the CPU probe and the failing probe (retried once) in one snakemake call."""
    workdir = tmp_path_factory.mktemp("slurm_probe")
    shutil.copy(PROBE_SNAKEFILE, workdir / "Snakefile")
    profile = write_test_profile(workdir / "profile", slurm_env, retries=1)
    started = time.monotonic()
    result = run_bounded(
        SNAKEMAKE + ["--workflow-profile", profile, "all", "out/failing_probe.txt"],
        cwd=workdir,
        env=slurm_env,
        timeout_s=300,
    )
    wall_s = time.monotonic() - started
    print(f"probe workflow through SLURM: {wall_s:.1f} s")
    return ProbeRun(workdir, result, wall_s, submitted_jobs(workdir), read_profile(profile))


def probe_output(run: ProbeRun, rule: str) -> dict[str, str]:
    """The key=value pairs a probe job wrote from its SLURM environment."""
    path = run.workdir / "out" / f"{rule}.txt"
    assert path.exists(), f"{rule} produced no output; snakemake said:\n{run.result.stdout[-4000:]}"
    return dict(pair.split("=", 1) for pair in path.read_text().split())


def test_slurm_profile_structure():
    """The profile selects the SLURM executor, keeps logs, retries, and asks for GPUs per rule only."""
    profile = yaml.safe_load(SLURM_PROFILE.read_text())
    assert profile["executor"] == "slurm"
    assert profile["retries"] >= 1
    assert profile["slurm-keep-successful-logs"] is True
    defaults = profile["default-resources"]
    assert {"runtime", "mem_mb", "cpus_per_task"} <= set(defaults)
    assert not {"gpu", "gres", "gpu_model"} & set(defaults), "CPU rules must not get a GPU by default"
    assert "slurm_partition" not in defaults and "slurm_account" not in defaults, (
        "partition/account are site-specific: keep them as commented placeholders"
    )
    for rule, resources in profile["set-resources"].items():
        assert {"mem_mb", "cpus_per_task"} <= set(resources), f"{rule} lacks per-rule resources"
        assert resources.get("gpu", 1) == 1, f"{rule} asks for more than one GPU"
    assert profile["set-resources"]["train_model"]["gpu"] == 1


@pytest.mark.slurm
def test_every_job_went_through_sbatch(probe_run, slurm_env):
    assert set(probe_run.jobs) == {"gpu_probe", "cpu_probe", "failing_probe"}, probe_run.result.stdout[-4000:]
    run_names = set()
    for rule in ("gpu_probe", "cpu_probe"):
        job_id = probe_run.jobs[rule][-1]  # earlier ids would be retries, which the profile allows
        assert probe_output(probe_run, rule)["job_id"] == job_id, "the job ran outside its SLURM allocation"
        record = scontrol_job(job_id, slurm_env)
        assert record["JobState"] == "COMPLETED"
        assert record["Comment"] == f"rule_{rule}"
        run_names.add(record["JobName"])
    assert len(run_names) == 1, "the jobs of one snakemake run carry one run id as SLURM job name"


@pytest.mark.slurm
def test_gpu_rule_gets_a_gpu_and_cpu_rule_none(probe_run, slurm_env):
    gpu_job = scontrol_job(probe_run.jobs["gpu_probe"][-1], slurm_env)
    cpu_job = scontrol_job(probe_run.jobs["cpu_probe"][-1], slurm_env)
    assert "gpu:1" in gpu_job.get("TresPerJob", ""), gpu_job
    assert probe_output(probe_run, "gpu_probe")["cuda"] == "0"
    assert not any("gpu" in cpu_job.get(key, "") for key in ("TresPerJob", "TresPerNode", "TRES", "Gres")), cpu_job
    assert probe_output(probe_run, "cpu_probe")["cuda"] == "none"


@pytest.mark.slurm
def test_profile_resources_reach_sbatch(probe_run, slurm_env):
    """default-resources from the profile become the job's time and memory limits, scaled per attempt."""
    defaults = probe_run.profile["default-resources"]
    cpu_job = scontrol_job(probe_run.jobs["cpu_probe"][0], slurm_env)  # its first attempt
    assert cpu_job["TimeLimit"] == slurm_time(resource_at(defaults["runtime"], attempt=1))
    assert cpu_job["MinMemoryNode"] == f"{resource_at(defaults['mem_mb'], attempt=1)}M"
    assert cpu_job["NumCPUs"] == str(resource_at(defaults["cpus_per_task"], attempt=1, threads=1))
    retry = scontrol_job(probe_run.jobs["failing_probe"][1], slurm_env)
    assert retry["TimeLimit"] == slurm_time(resource_at(defaults["runtime"], attempt=2))
    assert retry["MinMemoryNode"] == f"{resource_at(defaults['mem_mb'], attempt=2)}M"


@pytest.mark.slurm
def test_failing_job_is_reported_failed_and_retried(probe_run, slurm_env):
    out = probe_run.result.stdout
    assert probe_run.result.returncode != 0, "a failed SLURM job must make snakemake fail"
    failed_ids = probe_run.jobs["failing_probe"]
    assert len(failed_ids) == 2, f"retries=1 should submit the failing job twice, got {failed_ids}"
    for job_id in failed_ids:
        assert f"SLURM-job '{job_id}' failed" in out
        assert scontrol_job(job_id, slurm_env)["JobState"] == "FAILED"
        log = next((probe_run.workdir / ".snakemake" / "slurm_logs").glob(f"rule_failing_probe/**/{job_id}.log"))
        assert "failing on purpose" in log.read_text()
    assert not (probe_run.workdir / "out" / "failing_probe.txt").exists()
    # keep-going: the independent jobs still finished
    assert (probe_run.workdir / "out" / "cpu_probe.txt").exists()


# ---- the study's own Part 1 through the profile -------------------------------------------------

PART1_TARGET = "results/figs/lr_sweep.pdf"
# Part 2's MNIST sweep, reduced: one MLP, one quantize_model_mnist_mlp job (its 6 variants) and one
# pack_quantized_model job
QUANT_TARGET = "results/metrics/quantization.csv"
# what the reduced study sends to SLURM (a data set and a training run each) and runs on the submit host
# (the plugin names a group job <group id>_<its rules>, in its log folder and its comment)
SBATCH_RULES = {
    "prepare_data": 2,
    "train_model": 2,
    f"group:quantize_mnist_mlp_pack_quantized_model_{quantize_rule('mnist_mlp')}": 1,
}
LOCAL_RULES = {"aggregate_runs", "plot_training_curves", "aggregate_quant"}
TEST_DATA = ROOT / ".test"  # the smoke data in the repository (.test/README.md)
STUDY_CONFIGS = [ROOT / "config" / "config.yaml", ROOT / "config" / "smoke.yaml"]


def part1_overlay(workdir: Path) -> Path:
    """A config overlay on the smoke config: Part 1.1 with one lr, one seed, one epoch, 200 images, and
    Part 2 on one MNIST MLP (one epoch, 200 images; the ConvNet sweep off).

    Data paths (the repository's .test/ archives) are absolute because the runs happen outside the repository.
    """
    overlay = {
        "seeds": [43],
        "datasets": {
            "cifar10": {
                "path": str(TEST_DATA / "cifar10-jpeg.tar.gz"),
                "subset": {"train_per_class": 20, "test_per_class": 10, "seed": 0},
            },
            "mnist": {
                "path": str(TEST_DATA / "mnist-png.tar.gz"),
                "subset": {"train_per_class": 20, "test_per_class": 10, "seed": 0},
            },
        },
        # 200 images in batches of 64: 4 iterations, a window of 2 leaves 3 smoothed loss points
        "schedules": {"smoothing_window": 2, "lr_sweep": {"lrs": [0.1], "epochs": 1}},
        "quant": {"mnist": {"epochs": 1}, "convnet": {"enabled": False}},
    }
    path = workdir / "overlay.yaml"
    path.write_text(yaml.safe_dump(overlay))
    return path


def study_command(workdir: Path, *options) -> list:
    """snakemake on the study's Snakefile, run in workdir with the smoke config and the overlay."""
    configs = [*STUDY_CONFIGS, part1_overlay(workdir)]
    targets = [PART1_TARGET, QUANT_TARGET]
    return [*SNAKEMAKE, "--snakefile", ROOT / "Snakefile", "--configfile", *configs, *options, "--", *targets]


@dataclass
class StudyRuns:
    """The reduced Part 1 target built locally and through the SLURM profile."""

    local: Path
    slurm: Path
    local_out: str
    slurm_out: str
    jobs: dict[str, list[str]]
    profile: dict


@pytest.fixture(scope="module")
def part1_runs(slurm_env, tmp_path_factory) -> StudyRuns:
    """Build the target twice, one after the other: locally (2 cores), then through the SLURM profile.

    Not at the same time: two trainings on a 2-core machine oversubscribe it several-fold.
    """
    local, slurm = tmp_path_factory.mktemp("part1_local"), tmp_path_factory.mktemp("part1_slurm")
    profile = write_test_profile(slurm / "profile", slurm_env)
    runs = {}
    for workdir, options in (
        (local, ["--workflow-profile", "none", "--cores", 2, "--resources", "gpu=1"]),
        (slurm, ["--workflow-profile", profile]),
    ):
        started = time.monotonic()
        runs[workdir] = run_bounded(study_command(workdir, *options), cwd=workdir, env=slurm_env, timeout_s=600)
        print(f"reduced Part 1 ({workdir.name}): {time.monotonic() - started:.1f} s")
        assert runs[workdir].returncode == 0, f"{workdir.name} run failed:\n{runs[workdir].stdout[-5000:]}"
    return StudyRuns(local, slurm, runs[local].stdout, runs[slurm].stdout, submitted_jobs(slurm), read_profile(profile))


def files_under(workdir: Path) -> set[str]:
    """Relative paths of every file the run wrote under results/."""
    return {str(p.relative_to(workdir)) for p in (workdir / "results").rglob("*") if p.is_file()}


def test_slurm_profile_names_existing_rules(tmp_path):
    """Per-rule settings silently do nothing for a renamed rule: every name must exist in the workflow."""
    listed = run_bounded(study_command(tmp_path, "--list-rules"), cwd=tmp_path, timeout_s=120)
    assert listed.returncode == 0, listed.stdout[-3000:]
    rules = set(listed.stdout.split())
    configured = set(yaml.safe_load(SLURM_PROFILE.read_text())["set-resources"])
    assert configured <= rules, f"set-resources names rules the workflow lacks: {sorted(configured - rules)}"


def test_slurm_dry_run_groups_the_evaluations_and_keeps_cheap_rules_local(tmp_path):
    """Through the SLURM profile (no cluster needed for -n): one group job per network, cheap rules local."""
    planned = run_bounded(
        study_command(tmp_path, "--workflow-profile", SLURM_PROFILE.parent, "-n", "--forceall"),
        cwd=tmp_path,
        timeout_s=120,
    )
    assert planned.returncode == 0, planned.stdout[-3000:]
    out = planned.stdout
    groups = re.split(r"Group job (\w+) \(jobs in lexicogr\. order\):", out)[1:]
    assert groups[::2] == ["quantize_mnist_mlp"], groups[::2]
    members = re.findall(r"^\s+rule (\w+):", groups[1].split("\n\n\n", 1)[0], re.M)
    assert sorted(members) == ["pack_quantized_model", quantize_rule("mnist_mlp")], members
    # (a dry run prints local jobs as `rule` too: which ran where is checked on the cluster, below)
    assert set(re.findall(r"^rule (\w+):", out, re.M)) == {"prepare_data", "train_model"} | LOCAL_RULES
    localrules = re.search(r"^localrules:\n((?:    \w+,\n)+)", (ROOT / "Snakefile").read_text(), re.M)
    assert LOCAL_RULES <= set(re.findall(r"\w+", localrules.group(1)))


@pytest.mark.slurm
@pytest.mark.slow
def test_part1_through_slurm_matches_local_structure(part1_runs):
    local_files, slurm_files = files_under(part1_runs.local), files_under(part1_runs.slurm)
    assert PART1_TARGET in slurm_files
    assert slurm_files == local_files, (
        f"only local: {sorted(local_files - slurm_files)}; only SLURM: {sorted(slurm_files - local_files)}"
    )
    for rel in sorted(f for f in local_files if f.endswith(".csv")):
        local_csv = (part1_runs.local / rel).read_text().splitlines()
        slurm_csv = (part1_runs.slurm / rel).read_text().splitlines()
        assert slurm_csv[0] == local_csv[0], f"{rel}: columns differ"
        assert len(slurm_csv) == len(local_csv), f"{rel}: row counts differ"


@pytest.mark.slurm
@pytest.mark.slow
def test_part1_only_compute_jobs_went_through_sbatch(part1_runs, slurm_env):
    """Data, training and one group job of evaluations went to SLURM; aggregations and the figure ran locally."""
    jobs = part1_runs.jobs
    assert {name: len(ids) for name, ids in jobs.items()} == SBATCH_RULES, jobs
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", part1_runs.slurm_out)
    assert sorted(submitted, key=int) == sorted((i for ids in jobs.values() for i in ids), key=int)
    assert len(submitted) == sum(SBATCH_RULES.values())
    ran_locally = set(re.findall(r"^localrule (\w+):", part1_runs.slurm_out, re.M))
    assert ran_locally == LOCAL_RULES, ran_locally
    for name, ids in jobs.items():
        record = scontrol_job(ids[-1], slurm_env)
        comment = f"rule_{name.removeprefix('group:')}"
        assert record["JobState"] == "COMPLETED" and record["Comment"].startswith(comment), record
    # so the one group job wrote all 7 evaluations of the MNIST MLP
    quant = part1_runs.slurm / "results" / "quant" / "mnist_mlp"
    assert len(list(quant.glob("*.csv"))) == 6 and (quant / "packed" / "sizes.csv").exists()


@pytest.mark.slurm
@pytest.mark.slow
def test_part1_gpu_only_for_training(part1_runs, slurm_env):
    """train_model asks for one GPU; the CPU rules (data, aggregation, figure) ask for none."""
    for rule, ids in part1_runs.jobs.items():
        for job_id in ids:
            record = scontrol_job(job_id, slurm_env)
            gpu_request = " ".join(record.get(key, "") for key in ("TresPerJob", "TresPerNode", "TRES", "Gres"))
            if rule == "train_model":  # the profile sets gpu for it; the smoke config's device is cpu
                assert "gpu:1" in record.get("TresPerJob", ""), record
            else:
                assert "gpu" not in gpu_request, f"{rule} asked for a GPU: {gpu_request}"


@pytest.mark.slurm
@pytest.mark.slow
def test_part1_per_rule_resources_from_profile(part1_runs, slurm_env):
    """The profile's set-resources (cpus_per_task, mem_mb) are what SLURM allocated for those rules."""
    checked = 0
    logs = part1_runs.slurm / ".snakemake" / "slurm_logs"
    for rule, resources in part1_runs.profile["set-resources"].items():
        # one folder per job (its wildcards); several ids in one folder are that job's attempts
        for job_dir in sorted(p for p in (logs / f"rule_{rule}").glob("*") if p.is_dir()):
            ids = sorted((log.stem for log in job_dir.glob("*.log")), key=int)
            for attempt, job_id in enumerate(ids, start=1):
                record = scontrol_job(job_id, slurm_env)
                assert record["NumCPUs"] == str(resource_at(resources["cpus_per_task"], attempt)), record
                assert record["MinMemoryNode"] == f"{resource_at(resources['mem_mb'], attempt)}M", record
                checked += 1
    assert checked >= 4, "train_model and prepare_data (two jobs each) should have per-rule settings in the profile"
