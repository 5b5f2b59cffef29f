"""The study's training work, known before any job runs: runs, epochs and images per model family, and wall time.

Torch-free (the Snakefile calls it while it builds the DAG, also for `snakemake -n`). The work comes from the
registered runs (RUNS in workflow/rules/common.smk) and the data sets' sizes; the wall time from what this
machine measured: `python -m effdl.bench` (results/bench/*.csv, the seed's ConvNet) and the runs that already
finished here (results/runs/*/*/summary.csv, every model family). The same run list goes to
.snakemake/effdl/plan.json, which `python -m effdl.status` reads.
"""

from __future__ import annotations

import csv
import json
import os
from collections import defaultdict
from pathlib import Path

from effdl.plan.config import config_hash

# Workflow state, not a result: beside Snakemake's own metadata, so a failing DAG build changes nothing in results/
PLAN_PATH = ".snakemake/effdl/plan.json"
# Full sizes of the data sets the study knows (train, test images), 10 classes each.
DATASET_SIZES = {"cifar10": (50_000, 10_000), "mnist": (60_000, 10_000), "cinic10": (90_000, 90_000)}
N_CLASSES = 10
BENCH_COMMAND = "effdl bench --device {device} --steps 5 --repeats 2 --engine {engine} --acc-epochs 0"
# Models whose epoch cost the bench's ConvNet measures (same layers; sparse_convnet adds its masks).
BENCH_FAMILIES = ("convnet", "sparse_convnet")


def dataset_images(name: str, source: dict) -> tuple[int | None, int | None]:
    """(train, test) images of a configured data set: the subset's per-class counts x 10, or the full size."""
    full = DATASET_SIZES.get(name, (None, None))
    subset = source.get("subset")
    if not subset:
        return full
    out = []
    for split, f in zip(("train", "test"), full):
        per_class = subset.get(f"{split}_per_class", "all")  # omitted or 'all': the whole split
        if per_class in (None, "all"):
            out.append(f)
        else:
            out.append(per_class * N_CLASSES if f is None else min(per_class * N_CLASSES, f))
    return tuple(out)


def spec_hash(spec: dict) -> str:
    """Identifies one run's spec (the job writes the same hash into its progress sidecar)."""
    return config_hash(spec)


def planned_runs(runs: dict[str, dict], datasets: dict[str, dict], results: str = "results") -> list[dict]:
    """One record per registered run: where its files are, epochs, images trained and evaluated."""
    planned = []
    for key, spec in runs.items():
        n_train, n_test = dataset_images(spec["dataset"], datasets[spec["dataset"]])
        epochs = int(spec["train"]["epochs"])
        evals = epochs + (1 if spec["train"].get("eval_before_training") else 0)
        planned.append(
            {
                "key": key,
                "part": spec["part"],
                "run": spec["run"],
                "family": spec["model"]["name"],
                "dataset": spec["dataset"],
                "epochs": epochs,
                "n_train": n_train,
                "n_test": n_test,
                "train_images": None if n_train is None else epochs * n_train,
                "eval_images": None if n_test is None else evals * n_test,
                "spec_hash": spec_hash(spec),
                "dir": f"{results}/runs/{key}",
                "log": f"{results}/logs/train_model/{key}.log",
            }
        )
    return planned


def _read_csv(path: Path) -> list[dict]:
    try:
        with open(path, newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError:
        return []


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None


def bench_throughput(bench_dir: str | Path, engine: dict) -> dict | None:
    """Train and eval img/s of the engine setting closest to `engine` in results/bench, or None without one."""
    bench_dir = Path(bench_dir)
    rows = [r for r in _read_csv(bench_dir / "throughput.csv") if r.get("pipeline") == "engine"]
    if not rows:
        return None
    machine = (_read_csv(bench_dir / "machine.csv") or [{}])[0]
    precision = engine.get("precision", "auto")
    if precision == "auto":
        precision = machine.get("auto_precision", "fp32")
    want = {
        "precision": precision,
        "channels_last": str(bool(engine.get("channels_last"))),
        "compile": str(engine.get("compile") is True),
    }
    rates = {}
    for phase in ("train", "eval"):
        of_phase = [r for r in rows if r.get("phase") == phase]
        for keys in (("precision", "channels_last", "compile"), ("precision", "channels_last"), ("precision",), ()):
            match = [r for r in of_phase if all(r.get(k) == want[k] for k in keys)]
            if match:
                rates[phase] = max(_number(r["img_per_s"]) or 0.0 for r in match)
                break
    if not rates.get("train") or not rates.get("eval"):
        return None
    device = rows[0].get("device") or machine.get("device", "?")
    gpu = machine.get("gpu_name") or ""
    return {
        "train_img_s": rates["train"],
        "eval_img_s": rates["eval"],
        "source": f"effdl bench on {device}{' ' + gpu if gpu else ''} ({bench_dir}/throughput.csv)",
    }


def _training_rows(bench_dir: str | Path, precision: str, channels_last: bool) -> list[dict]:
    """The CPU engine training rows of results/bench/throughput.csv for one precision and memory layout."""
    return [
        r
        for r in _read_csv(Path(bench_dir) / "throughput.csv")
        if r.get("pipeline") == "engine"
        and r.get("phase") == "train"
        and str(r.get("device", "")).startswith("cpu")
        and r.get("precision") == precision
        and r.get("channels_last") == str(bool(channels_last))  # any fold_bn: folding changes evaluation only
    ]


def compile_gain(bench_dir: str | Path, precision: str, channels_last: bool) -> float | None:
    """CPU training img/s with / without torch.compile for one engine setting, from results/bench (None: unmeasured):
    the fastest compiled variant over the fastest uncompiled one, whatever SGD step each used."""
    best: dict[str, float] = {}
    for r in _training_rows(bench_dir, precision, channels_last):
        rate = _number(r.get("img_per_s"))
        if rate:
            best[r.get("compile")] = max(rate, best.get(r.get("compile"), 0.0))
    if not best.get("True") or not best.get("False"):
        return None
    return best["True"] / best["False"]


def sgd_impl_rates(
    bench_dir: str | Path, precision: str, channels_last: bool, compiled: bool = False
) -> dict[str, float] | None:
    """CPU training img/s per SGD step implementation ('' = torch's default, 'foreach', 'fused') for one engine
    setting, compiled or not as the run will be, from results/bench (None: not measured side by side)."""
    rates = {}
    for r in _training_rows(bench_dir, precision, channels_last):
        if r.get("compile") == str(bool(compiled)) and "optimizer_impl" in r:
            rate = _number(r.get("img_per_s"))
            if rate:
                rates[r["optimizer_impl"] or ""] = rate
    return rates if "" in rates and len(rates) > 1 else None


def finished_throughput(results: str | Path) -> dict[str, dict]:
    """Per model family: images (train + eval) per second of the runs that finished here (summary.csv)."""
    totals = defaultdict(lambda: [0.0, 0.0, set()])
    for path in Path(results).glob("runs/*/*/summary.csv"):
        for row in _read_csv(path):
            seconds, epochs = _number(row.get("total_time_s")), _number(row.get("epochs_completed"))
            n_train, n_test = _number(row.get("n_train")), _number(row.get("n_test"))
            if not seconds or not epochs or n_train is None or n_test is None:
                continue
            total = totals[row.get("model", "?")]
            total[0] += epochs * (n_train + n_test)
            total[1] += seconds
            total[2].add(row.get("device", "?"))
    return {
        family: {
            "img_s": images / seconds,
            "source": f"{len(devices)} device kind(s) {'/'.join(sorted(devices))}, finished runs",
        }
        for family, (images, seconds, devices) in totals.items()
        if seconds > 0
    }


def run_seconds(run: dict, bench: dict | None, finished: dict[str, dict]) -> tuple[float | None, str | None]:
    """Estimated seconds of one run and where the rate comes from (None when this machine never measured it)."""
    if run["train_images"] is None or run["eval_images"] is None:
        return None, None
    if bench is not None and run["family"] in BENCH_FAMILIES:
        return run["train_images"] / bench["train_img_s"] + run["eval_images"] / bench["eval_img_s"], bench["source"]
    if run["family"] in finished:
        rate = finished[run["family"]]
        return (run["train_images"] + run["eval_images"]) / rate["img_s"], rate["source"]
    return None, None


def is_done(run: dict) -> bool:
    return Path(run["dir"], "summary.csv").is_file()


def summarise(planned: list[dict], bench: dict | None, finished: dict[str, dict]) -> list[dict]:
    """Per model family: runs, runs done, epochs, images and the estimated seconds still to train."""
    rows: dict[str, dict] = {}
    for run in planned:
        row = rows.setdefault(
            run["family"],
            {
                "family": run["family"],
                "runs": 0,
                "done": 0,
                "epochs": 0,
                "train_images": 0,
                "eval_images": 0,
                "left_s": 0.0,
                "unknown": 0,
                "sources": set(),
            },
        )
        done = is_done(run)
        row["runs"] += 1
        row["done"] += done
        row["epochs"] += run["epochs"]
        row["train_images"] += run["train_images"] or 0
        row["eval_images"] += run["eval_images"] or 0
        seconds, source = run_seconds(run, bench, finished)
        if done:
            continue
        if seconds is None:
            row["unknown"] += 1
        else:
            row["left_s"] += seconds
            row["sources"].add(source)
    return list(rows.values())


def hours_minutes(seconds: float) -> str:
    """Hours and minutes, the unit a study's cost and a run's length are read in: '45 h 31 min', '12 min', '27 s'."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def format_plan(summary: list[dict], bench: dict | None, device: str) -> str:
    """The start-up text: one line per model family, the total, and the estimate or how to get one."""
    lines = ["Planned training work of the requested targets (train_model jobs; progress: effdl status):"]
    width = max([len(r["family"]) for r in summary] + [6])
    for r in sorted(summary, key=lambda r: -r["train_images"]):
        # an unmeasured family says nothing on its row: the last line says once how to measure it
        if r["done"] == r["runs"]:
            left = "left: none"
        elif not r["unknown"]:
            left = f"left ~{hours_minutes(r['left_s'])}"
        elif r["unknown"] == r["runs"] - r["done"]:
            left = ""
        else:
            left = f"left > {hours_minutes(r['left_s'])}"
        lines.append(
            f"  {r['family']:<{width}}  {r['runs']:4d} runs ({r['done']} done)  {r['epochs']:6d} epochs  "
            f"{r['train_images'] / 1e6:9.2f} M train + {r['eval_images'] / 1e6:7.2f} M eval images  "
            f"{left}".rstrip()
        )
    total = {
        k: sum(r[k] for r in summary)
        for k in ("runs", "done", "epochs", "train_images", "eval_images", "left_s", "unknown")
    }
    lines.append(
        f"  {'total':<{width}}  {total['runs']:4d} runs ({total['done']} done)  {total['epochs']:6d} epochs  "
        f"{total['train_images'] / 1e6:9.2f} M train + {total['eval_images'] / 1e6:7.2f} M eval images"
    )
    sources = sorted({s for r in summary for s in r["sources"]})
    if total["runs"] == total["done"]:
        lines.append("  every training run is done")
    elif total["left_s"] > 0:
        unknown = f" ({total['unknown']} run(s) of unmeasured families not included)" if total["unknown"] else ""
        lines.append(f"  estimated training time left, one job at a time: {hours_minutes(total['left_s'])}{unknown}")
        lines.append("  parallel GPU slots divide it, at most by their number; rates measured by:")
        lines += [f"    {source}" for source in sources]
    if total["unknown"] and bench is None:
        gpu = device.startswith("cuda") or device == "auto" and _has_nvidia()
        command = BENCH_COMMAND.format(device="cuda" if gpu else "cpu", engine="bf16+cl" if gpu else "fp32+cl")
        lines.append(f"  time not measured on this machine yet; measure it (about 1-3 min): {command}")
    return "\n".join(lines)


def _has_nvidia() -> bool:
    return Path("/dev/nvidiactl").exists() or bool(os.environ.get("CUDA_VISIBLE_DEVICES"))


def write_plan(path: str | Path, planned: list[dict], config: dict) -> bool:
    """Write the run list (atomically, only when it changed); True when the file was (re)written."""
    path = Path(path)
    record = {"config_hash": config_hash(config), "runs": planned}
    text = json.dumps(record, indent=1, sort_keys=True)
    try:
        if path.read_text() == text:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return True


def plan_text(runs: dict[str, dict], config: dict, results: str = "results") -> tuple[list[dict], str]:
    """The one cost estimate (start-up banner and `effdl plan`): the planned runs and their text."""
    planned = planned_runs(runs, config["datasets"], results)
    bench = bench_throughput(Path(results) / "bench", config.get("engine", {}))
    text = format_plan(summarise(planned, bench, finished_throughput(results)), bench, config.get("device", "auto"))
    return planned, text


def announce(runs: dict[str, dict], config: dict, results: str = "results", log=None, plan_path=PLAN_PATH) -> str:
    """What the workflow calls once the DAG is built (`runs`: the train_model jobs of the requested targets): write
    the plan file for `effdl status` and return (and log) the start-up text, the one `effdl plan` prints.
    """
    planned, text = plan_text(runs, config, results)
    write_plan(plan_path, planned, config)
    if log is not None:
        log(text)
    return text
