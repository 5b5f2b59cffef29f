"""Precise rerun triggers: only a real change to code a job runs makes `snakemake -n` plan it again.

A copy of the repository gets every output of the smoke study recorded as built, without training: empty
output files, then `snakemake --touch --forceall` (which writes Snakemake's records, params included, as a
finished job would). The data sets point at an ImageFolder of empty files: a dry run reads no image. Then a
comment in every library module plans no training, an edit to compress/quant.py plans only quantization
jobs, an edit to engine.py plans every training run, and an edit to a model or a pruning hook retrains only
the runs that build it; the start-up banner names the changed module. About a minute (slow).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from helpers import REPO, copy_repo, job_counts, snakemake

from effdl.plan.quant_variants import quant_networks, quantize_rule

RULES = REPO / "workflow" / "rules"
QUANTIZER = "src/effdl/compress/quant.py"
ENGINE = "src/effdl/engine.py"
A_CODE_CHANGE = "\n\ndef _a_code_change():\n    return 1\n"
# rules downstream of everything: the claims, the paper, the submission (and seed_tests, whose inputs are
# the library's files: any edit, comments too, reruns those cheap checks by their files' times)
SINKS = {"all", "seed_tests"}


def smoke_quantize_rules() -> set[str]:
    """The smoke study's quantization rules, one per network (effdl.plan.quant_variants), from its config."""
    base, smoke = (yaml.safe_load((REPO / "config" / name).read_text()) for name in ("config.yaml", "smoke.yaml"))
    convnet = {**base["quant"]["convnet"], **smoke.get("quant", {}).get("convnet", {})}
    return {quantize_rule(net) for net in quant_networks({**base["quant"], "convnet": convnet})}


def rules_in(*names: str) -> set[str]:
    return {rule for name in names for rule in re.findall(r"^rule (\w+):", (RULES / name).read_text(), re.M)}


def rule_scripts() -> dict[str, tuple[str, str]]:
    """rule -> (the script it runs, the script its `code=code_param(...)` names), read from every rule file."""
    found = {}
    for path in RULES.glob("*.smk"):
        for block in re.split(r"(?m)^(?=rule \w+:)", path.read_text())[1:]:
            name = re.match(r"rule (\w+):", block).group(1)
            script = re.search(r'^    script:\n        "\.\./scripts/([\w.]+)"', block, re.M)
            code = re.search(r'^        code=code_param\(\s*"([\w.]+)"', block, re.M)
            if script:
                found[name] = (script.group(1), code.group(1) if code else "")
    return found


def test_every_script_rule_has_the_code_fingerprint_of_its_own_script():
    scripts = rule_scripts()
    assert len(scripts) >= 30
    for rule, (script, code) in scripts.items():
        assert code == script, f"rule {rule} runs {script}, its code param names {code or 'nothing'}"


def fake_imagefolder(root: Path) -> Path:
    for split in ("train", "test"):
        for label in range(10):
            (root / split / f"class{label}").mkdir(parents=True)
            (root / split / f"class{label}" / "0.png").write_bytes(b"")
    return root


def planned(dry_run: str) -> list[dict[str, str]]:
    """The planned jobs of a dry run's listing: {rule, output, reason} each."""
    jobs: list[dict[str, str]] = []
    for line in dry_run.splitlines():
        line = line.strip()
        if match := re.match(r"^(?:local)?rule (\w+):$", line):
            jobs.append({"rule": match.group(1), "output": "", "reason": ""})
        elif jobs and (match := re.match(r"^(output|reason): (.*)$", line)):
            jobs[-1][match.group(1)] = match.group(2)
    return jobs


def code_triggered(dry_run: str) -> set[str]:
    """Rules with a job planned because its params (the code fingerprint among them) changed."""
    return {job["rule"] for job in planned(dry_run) if "Params have changed" in job["reason"]}


def trained_parts(dry_run: str) -> set[str]:
    """The parts whose training runs a dry run plans (results/runs/<part>/<run>/...)."""
    return {
        re.search(r"results/runs/(\w+)/", job["output"]).group(1)
        for job in planned(dry_run)
        if job["rule"] == "train_model"
    }


class Built:
    """The copy with every smoke output recorded as built; dry_run(edits) plans with files edited, then restores."""

    def __init__(self, root: Path):
        self.clone = copy_repo(root / "repo")
        data = str(fake_imagefolder(root / "data"))
        smoke = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
        overlay = root / "overlay.yaml"
        overlay.write_text(
            yaml.safe_dump(
                {
                    "datasets": {name: {"source": "imagefolder", "path": data} for name in smoke["datasets"]},
                    "paper": {"build": False},
                }
            )
        )
        self.args = ("--cores", "1", "--configfile", "config/smoke.yaml", str(overlay))
        self.env = {**os.environ, "PYTHONPATH": str(self.clone / "src")}
        summary = self.run("--summary")
        for line in summary.splitlines()[1:]:
            output = self.clone / line.split("\t")[0]
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_bytes(b"")
        self.counts = job_counts(self.run("--touch", "--forceall", timeout=600))
        assert self.counts.get("train_model", 0) >= 10, self.counts

    def run(self, *args: str, timeout: int = 300) -> str:
        result = snakemake(*args, *self.args, cwd=self.clone, env=self.env, timeout=timeout)
        out = result.stdout + result.stderr
        assert result.returncode == 0, out[-5000:]
        return out

    def dry_run(self, edits: dict[str, str]) -> str:
        originals = {path: (self.clone / path).read_text() for path in edits}
        try:
            for path, text in edits.items():
                (self.clone / path).write_text(text)
            return self.run("-n")
        finally:
            for path, text in originals.items():
                (self.clone / path).write_text(text)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    return Built(tmp_path_factory.mktemp("rerun"))


@pytest.mark.slow
def test_the_recorded_study_is_up_to_date(built):
    out = built.run("-n")
    assert "Nothing to be done" in out, out[-3000:]
    assert "code changed" not in out


@pytest.mark.slow
def test_a_comment_in_every_library_module_plans_no_training(built):
    modules = sorted(path.relative_to(built.clone).as_posix() for path in (built.clone / "src/effdl").rglob("*.py"))
    assert len(modules) > 50
    out = built.dry_run({path: (built.clone / path).read_text() + "\n# a comment\n" for path in modules})
    counts = job_counts(out)
    assert "train_model" not in counts and "prepare_data" not in counts, counts
    assert code_triggered(out) == set(), [job for job in planned(out) if "Params" in job["reason"]]
    assert "code changed" not in out


@pytest.mark.slow
def test_a_quantizer_edit_plans_only_quantization_jobs(built):
    out = built.dry_run({QUANTIZER: (built.clone / QUANTIZER).read_text() + A_CODE_CHANGE})
    counts = job_counts(out)
    quantizers = smoke_quantize_rules()  # rules made in a loop, one per network: not `rule <name>:` in the file
    quantization = rules_in("quant.smk") | quantizers
    assert {"pack_quantized_model", *quantizers} <= code_triggered(out) <= quantization, counts
    for rule in ("pack_quantized_model", *quantizers):
        assert counts[rule] == built.counts[rule]
    assert all(counts[rule] == 1 for rule in quantizers)  # one job per network, every variant in it
    # besides them only what reads everything: the claims, the frontier, the paper and the submission
    downstream = rules_in("claims.smk", "frontier.smk", "paper.smk", "submission.smk", "dashboard.smk") | SINKS
    assert set(counts) - quantization <= downstream, counts
    banner = [line for line in out.splitlines() if "code changed:" in line]
    assert len(banner) == 1 and "effdl/compress/quant.py → " in banner[0], banner
    assert f"{built.counts['pack_quantized_model']} pack_quantized_model" in banner[0]


@pytest.mark.slow
def test_an_engine_edit_plans_every_training_run(built):
    out = built.dry_run({ENGINE: (built.clone / ENGINE).read_text() + A_CODE_CHANGE})
    counts = job_counts(out)
    assert counts["train_model"] == built.counts["train_model"]
    assert "train_model" in code_triggered(out)
    assert "prepare_data" not in counts  # preparing data does not run the engine
    banner = [line for line in out.splitlines() if "code changed:" in line]
    assert len(banner) == 1 and f"effdl/engine.py → {built.counts['train_model']} train_model" in banner[0], banner


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "parts"),
    [("src/effdl/models/dwconv.py", {"part6"}), ("src/effdl/compress/prune.py", {"part3"})],
    ids=["model", "engine hook"],
)
def test_a_model_or_hook_edit_retrains_only_the_runs_that_build_it(built, module, parts):
    """Code a run reaches by name (its model, its pruning hook) counts for that run, and for no other."""
    out = built.dry_run({module: (built.clone / module).read_text() + A_CODE_CHANGE})
    assert trained_parts(out) == parts
    assert "prepare_data" not in job_counts(out)


REGISTRY = "src/effdl/plan/registry.py"


def registry_edit(built: Built, old: str, new: str) -> dict[str, str]:
    text = (built.clone / REGISTRY).read_text()
    assert old in text, old  # the edit must apply to today's registry
    return {REGISTRY: text.replace(old, new, 1)}


def trained_runs(dry_run: str) -> set[str]:
    """The runs ("part/run") a dry run plans to train."""
    return {
        re.search(r"results/runs/(\w+/\w+)/", job["output"]).group(1)
        for job in planned(dry_run)
        if job["rule"] == "train_model"
    }


@pytest.mark.slow
def test_a_new_scheduler_or_display_colour_in_the_registry_retrains_nothing(built):
    """The registry's entries a run does not read are data for it: only figures and text may follow them."""
    edits = registry_edit(
        built,
        'Scheduler("MultiStep", colour=0,',
        'Scheduler("MultiStep", colour=4,',
    )
    edits[REGISTRY] = edits[REGISTRY].replace(
        "SCHEDULERS = {\n", 'SCHEDULERS = {\n    "linear": Scheduler("linear decay", colour=5, compared=True),\n', 1
    )
    out = built.dry_run(edits)
    counts = job_counts(out)
    # nothing that trains, quantizes or measures: only what draws or writes names and colours
    assert not {"train_model", "prepare_data", "quantize_model", "benchmark_dwconv"} & set(counts), counts


@pytest.mark.slow
def test_a_change_to_how_a_scheduler_steps_retrains_the_runs_that_use_it(built):
    out = built.dry_run(
        registry_edit(built, 'Scheduler("MultiStep", colour=0,', 'Scheduler("MultiStep", step="batch", colour=0,')
    )
    runs = trained_runs(out)
    assert any(run.startswith("part1/sched_multistep_") for run in runs), runs
    assert not any("cosine" in run or "/lr_sweep_" in run for run in runs), runs
    assert "prepare_data" not in job_counts(out)
