"""Where the study stands: every training run of the current plan as done / running / pending / failed, with ETA.

Run:  effdl status [--results results] [--only running failed] [--watch 30] [--json]

Torch-free and read-only: it reads the run list that the last Snakemake invocation in this directory planned
(.snakemake/effdl/plan.json, written while the DAG is built, also by `snakemake -n`), each run's progress sidecar
(results/runs/<part>/<run>/progress.json, rewritten every epoch and touched every 30 s while the job lives),
its outputs and its log. So it works while Snakemake runs, from another shell, and on a SLURM login node
(through the shared file system). To see another configuration's runs, plan it first: `snakemake -n
--configfile ...`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from effdl.plan.work import PLAN_PATH, bench_throughput, finished_throughput, run_seconds
from effdl.progress import HEARTBEAT_S, PROGRESS_FILE, format_duration, progress_problem, read_progress

STATES = ("done", "running", "pending", "failed")
STALE_AFTER_S = 4 * HEARTBEAT_S  # a sidecar untouched this long belongs to a job that no longer runs
FAILURE_MARKS = ("Traceback (most recent call last)", "received SIGTERM", "Error", "error:")


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _log_failed(log: Path) -> str | None:
    """The last line of a log that says the job failed, or None."""
    try:
        lines = log.read_text(errors="replace").splitlines()[-40:]
    except OSError:
        return None
    hits = [line for line in lines if any(mark in line for mark in FAILURE_MARKS)]
    return hits[-1].strip()[:160] if hits else None


def run_state(run: dict, now: float | None = None) -> dict:
    """The state of one planned run, from its files alone."""
    now = time.time() if now is None else now
    run_dir, log = Path(run["dir"]), Path(run["log"])
    sidecar = run_dir / PROGRESS_FILE
    progress = read_progress(sidecar)
    problem = progress_problem(sidecar) if progress is None else None
    if progress is not None and progress.get("spec_hash") not in (None, run["spec_hash"]):
        progress = None  # left by a run of another configuration
        stale_outputs = True
    else:
        stale_outputs = False
    row = {
        "key": run["key"],
        "state": "pending",
        "epoch": 0,
        "epochs": run["epochs"],
        "test_acc": None,
        "eta_s": None,
        "device": None,
        "note": "",
    }
    if progress is not None:
        row.update(epoch=progress.get("epoch", 0), test_acc=progress.get("test_acc"), device=progress.get("device"))
    done = (run_dir / "summary.csv").is_file() and not stale_outputs
    if done:
        row.update(state="done", epoch=row["epoch"] or run["epochs"], eta_s=0.0)
        if progress is not None and progress.get("diverged"):
            row["note"] = "diverged"
        return row
    if progress is not None:
        beat = _mtime(sidecar) or 0.0
        alive = progress.get("state") in ("starting", "running") and now - beat < STALE_AFTER_S
        if alive:
            eta = progress.get("eta_s")
            since = now - (progress.get("updated") or now)
            row.update(state="running", eta_s=None if eta is None else max(0.0, eta - since))
            if progress.get("state") == "starting":
                row["note"] = "starting"
            return row
        if progress.get("state") == "done":  # finished once, outputs since removed: Snakemake will rerun it
            row.update(note="outputs removed since it finished")
            return row
        resumable = (run_dir / "checkpoint.pt").is_file()
        why = progress.get("error") or "job stopped"
        if progress.get("state") in ("starting", "running"):
            why = f"no heartbeat for {format_duration(now - beat)} (job killed?)"
        row.update(
            state="failed",
            note=f"{why}; " + (f"resumes after epoch {row['epoch']}" if resumable else "restarts from scratch"),
        )
        return row
    failure = _log_failed(log)
    log_time = _mtime(log)
    if problem is not None:
        row["note"] = problem
    if failure is not None:
        row.update(state="failed", note=failure)
    elif log_time is not None and now - log_time < STALE_AFTER_S:
        row.update(state="running", note="starting")
    elif stale_outputs:
        row["note"] = "outputs belong to another configuration"
    return row


def collect(results: str | Path = "results", now: float | None = None, plan: str | Path = PLAN_PATH) -> dict:
    """The plan's runs with their states, plus counts and the estimated time left (JSON-ready)."""
    results = Path(results)
    plan_path = Path(plan)
    try:
        plan = json.loads(plan_path.read_text())
    except OSError:
        raise SystemExit(
            f"no plan at {plan_path}: run snakemake (or `snakemake -n`) with your config first; "
            "it writes the run list while it builds the DAG"
        ) from None
    except ValueError as err:
        plan = err
    if not isinstance(plan, dict) or not isinstance(plan.get("runs"), list):
        raise SystemExit(
            f"the plan {plan_path} is not a run list written by effdl (not JSON, or not an object with 'runs'). "
            "Fix: delete it and run `snakemake -n` with your config to write it again."
        )
    bench = bench_throughput(results / "bench", {})
    finished = finished_throughput(results)
    rows, left, unknown = [], 0.0, 0
    for run in plan["runs"]:
        row = run_state(run, now)
        if row["state"] in ("pending", "failed"):
            seconds, _ = run_seconds(run, bench, finished)
            if seconds is None:
                unknown += 1
            else:
                done_fraction = row["epoch"] / run["epochs"] if row["state"] == "failed" else 0.0
                row["eta_s"] = seconds * (1 - done_fraction)
                left += row["eta_s"]
        elif row["state"] == "running" and row["eta_s"] is not None:
            left += row["eta_s"]
        rows.append(row)
    counts = {state: sum(r["state"] == state for r in rows) for state in STATES}
    return {
        "plan": str(plan_path),
        "planned_at": _mtime(plan_path),
        "config_hash": plan.get("config_hash"),
        "runs": rows,
        "counts": counts,
        "left_s": left,
        "left_unknown": unknown,
    }


def render(status: dict, only: tuple[str, ...] = ()) -> str:
    """The status as a table, one line per run, and a summary line."""
    rows = [r for r in status["runs"] if not only or r["state"] in only]
    width = max([len(r["key"]) for r in rows] + [3])
    planned = time.strftime("%Y-%m-%d %H:%M", time.localtime(status["planned_at"] or 0))
    lines = [
        f"{status['plan']} (config {status['config_hash']}, planned {planned})",
        f"{'run':<{width}}  {'state':<7}  {'epoch':>9}  {'test acc':>8}  {'ETA':>7}  device / note",
    ]
    for r in rows:
        acc = "" if r["test_acc"] is None else f"{r['test_acc']:.2f}%"
        eta = "" if r["eta_s"] is None or r["state"] == "done" else format_duration(r["eta_s"])
        extra = " ".join(x for x in (r["device"] or "", r["note"]) if x)
        lines.append(
            f"{r['key']:<{width}}  {r['state']:<7}  {r['epoch']:>4}/{r['epochs']:<4}  {acc:>8}  {eta:>7}  {extra}"
        )
    counts = ", ".join(f"{n} {state}" for state, n in status["counts"].items())
    unknown = f" (+{status['left_unknown']} run(s) never measured here)" if status["left_unknown"] else ""
    lines.append(
        f"{len(status['runs'])} runs: {counts}; training left, one job at a time: "
        f"~{format_duration(status['left_s'])}{unknown}"
    )
    return "\n".join(lines)


def parser(prog: str = "effdl status") -> argparse.ArgumentParser:
    """The command line of `effdl status`."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="the results folder (default: results)")
    parser.add_argument("--plan", default=PLAN_PATH, help=f"the run list (default: {PLAN_PATH})")
    parser.add_argument("--only", nargs="+", choices=STATES, default=(), help="show only runs in these states")
    parser.add_argument("--watch", type=float, metavar="SECONDS", help="repeat every SECONDS until interrupted")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def main(argv: list[str] | None = None, prog: str = "effdl status") -> int:
    """Print the status (once, or every --watch seconds); exit 1 when some run failed."""
    args = parser(prog).parse_args(argv)
    while True:
        status = collect(args.results, plan=args.plan)
        print(json.dumps(status, indent=1) if args.json else render(status, tuple(args.only)), flush=True)
        if not args.watch:
            return 1 if status["counts"]["failed"] else 0
        try:
            time.sleep(args.watch)
        except KeyboardInterrupt:
            return 0
        print()


if __name__ == "__main__":  # `python -m effdl.status`, an alias of `effdl status`
    from effdl.cli import main as cli_main

    sys.exit(cli_main(["status", *sys.argv[1:]]))
