"""The Snakemake report's landing page (`snakemake --report`): what ran, on what, how long, and the claims table.

Torch-free. Rule report_description (workflow/rules/dashboard.smk) writes it as reStructuredText from the run's
own records: the training runs' summary rows (device, CPU, torch, commit, config hash), every job's benchmark file
(results/benchmarks/), and the claims table (results/metrics/claims.csv). The Snakefile's `report:` directive
points at it once it exists, so the report opens on it instead of the bare rule graph.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from effdl.plan.work import hours_minutes
from effdl.report.claims import FAILS


def _rows(path: str | Path) -> list[dict]:
    try:
        with open(path, newline="") as handle:
            return list(csv.DictReader(handle, delimiter="\t" if str(path).endswith(".tsv") else ","))
    except OSError:
        return []


def job_seconds(bench_dir: str | Path) -> dict[str, tuple[int, float]]:
    """rule -> (jobs, summed wall seconds) from Snakemake's benchmark files (results/benchmarks/<rule>/...tsv)."""
    out: dict[str, list] = {}
    root = Path(bench_dir)
    for path in sorted(root.rglob("*.tsv")):
        rule = path.relative_to(root).parts[0]
        for row in _rows(path)[:1]:
            try:
                seconds = float(row.get("s", "nan"))
            except ValueError:
                continue
            if seconds == seconds:
                entry = out.setdefault(rule, [0, 0.0])
                entry[0] += 1
                entry[1] += seconds
    return {rule: (n, s) for rule, (n, s) in out.items()}


def _jobs(n: int) -> str:
    return f"{n} job" if n == 1 else f"{n} jobs"


def _cell(text: object) -> str:
    return " ".join(str(text).split()) or "--"


def list_table(header: list[str], rows: list[list[str]], widths: list[int] | None = None) -> str:
    """An RST list-table (docutils renders it as an HTML table in the report)."""
    lines = [".. list-table::", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {' '.join(map(str, widths))}")
    lines.append("")
    for row in [header, *rows]:
        lines.append(f"   * - {_cell(row[0])}")
        lines += [f"     - {_cell(cell)}" for cell in row[1:]]
    return "\n".join(lines) + "\n"


def claims_table(claims_csv: str | Path) -> str:
    """The claims table (what the problem set expects, what this run found, the test, the verdict)."""
    rows = []
    for c in _rows(claims_csv):
        verdict = f"**{c['verdict']}**" if c.get("verdict") == FAILS else c.get("verdict", "")
        rows.append([c["part"], f"{c['expectation']} ({c['source']})", c["measured"], c["test"], verdict])
    if not rows:
        return "No claims table in this run (results/metrics/claims.csv is missing or empty).\n"
    return list_table(
        ["part", "what the problem set expects", "what this run found", "test", "verdict"], rows, [5, 30, 35, 20, 10]
    )


def description_rst(
    *, summaries: list[str | Path], claims_csv: str | Path, bench_dir: str | Path, label: str, configfiles: list[str]
) -> str:
    """The landing page's reStructuredText."""
    runs = [row for path in summaries for row in _rows(path)]
    devices = Counter(row.get("device", "?") for row in runs)
    cpus = sorted({row.get("cpu_model") for row in runs if row.get("cpu_model")})
    torch = sorted({row.get("torch_version") for row in runs if row.get("torch_version")})
    commits = sorted({str(row.get("git_commit", ""))[:12] for row in runs if row.get("git_commit")})
    configs = sorted({str(row.get("config_hash", ""))[:12] for row in runs if row.get("config_hash")})
    jobs = job_seconds(bench_dir)
    total_jobs = sum(n for n, _ in jobs.values())
    total_s = sum(s for _, s in jobs.values())
    train = jobs.get("train_model", (0, 0.0))
    costly = sorted(jobs.items(), key=lambda item: -item[1][1])[:6]
    title = f"effdl study: {label}" if label else "effdl study"
    lines = [
        title,
        "=" * len(title),
        "",
        "A reproducible study of efficient deep learning (learning-rate schedules, post-training quantization, "
        "pruning, LoRA fine-tuning, a toy transformer, depthwise separable convolutions), built by Snakemake "
        "from data to the compiled paper and the problem set's submission zip.",
        "",
        "What ran",
        "--------",
        "",
        f"- Configuration: ``config/config.yaml`` + {', '.join(f'``{c}``' for c in configfiles) or 'no overlay'}"
        f" (config hash {', '.join(configs) or 'not recorded'}); code at commit {', '.join(commits) or 'unknown'}.",
        f"- {len(runs)} training runs, {total_jobs} jobs in all with a benchmark record.",
        "",
        "On what",
        "-------",
        "",
        "- Device(s): "
        + (", ".join(f"{d} ({n} run{'s' if n != 1 else ''})" for d, n in devices.most_common()) or "not recorded")
        + ".",
        "- CPU: " + ("; ".join(cpus) or "not recorded") + "; torch " + (", ".join(torch) or "?") + ".",
        "",
        "How long",
        "--------",
        "",
        f"- Job time, summed over {total_jobs} jobs (wall time is less where jobs ran side by side): "
        f"**{hours_minutes(total_s)}**; training runs: {hours_minutes(train[1])} over {_jobs(train[0])}.",
        "- Costliest rules: " + ", ".join(f"{rule} {hours_minutes(s)} ({_jobs(n)})" for rule, (n, s) in costly) + ".",
        "",
        "What the problem set expects, and what this run found",
        "------------------------------------------------------",
        "",
        claims_table(claims_csv),
        "Figures are under each Part's category (PNG, and the paper's PDF); the metrics tables, the paper, the "
        "executed notebook and the submission zip are under their own categories. Intervals are Student-t 95 % "
        "confidence intervals over seeds.",
        "",
    ]
    return "\n".join(lines)
