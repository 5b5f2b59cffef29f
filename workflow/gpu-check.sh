#!/usr/bin/env bash
# GPU check: on a machine with NVIDIA GPUs, measure the engine (python -m effdl.bench --device cuda) and train
# Part 1 at the seed's settings -- 3 lrs x 3 seeds x 5 epochs and one 100-epoch MultiStep run, the study's own
# runs (their results are kept and reused by the full study) -- then print seconds per epoch. Target: < 8 min.
#
# Usage: bash workflow/gpu-check.sh [--dry-run] [--gpus N] [--slots S] [--skip-bench] [-- SNAKEMAKE ARGS...]
#   --dry-run     print the commands and run only `snakemake -n` on the targets (works without a GPU)
#   --gpus N      devices to use (default: nvidia-smi -L's count, 1 with --dry-run)
#   --slots S     gpu_jobs_per_device (default 4: the ConvNet is small, several runs share one GPU well)
#   after --       passed to snakemake, e.g. -- --configfile config/offline.yaml (no network)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY=${PYTHON:-.venv/bin/python}
SMK=${SNAKEMAKE:-.venv/bin/snakemake}
BUDGET_S=480
DRY=0 GPUS="" SLOTS=4 BENCH=1
EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --gpus)
      GPUS=$2
      shift
      ;;
    --slots)
      SLOTS=$2
      shift
      ;;
    --skip-bench) BENCH=0 ;;
    --)
      shift
      EXTRA=("$@")
      break
      ;;
    -h | --help)
      sed -n '2,11p' "$0"
      exit 0
      ;;
    *)
      echo "gpu-check: unknown argument '$1' (see --help)" >&2
      exit 2
      ;;
  esac
  shift
done

if [[ -z $GPUS ]]; then
  if [[ $DRY == 1 ]]; then
    GPUS=1
  elif command -v nvidia-smi >/dev/null && GPUS=$(nvidia-smi -L | grep -c '^GPU') && [[ $GPUS -gt 0 ]]; then
    :
  else
    echo "gpu-check: no NVIDIA GPU found (nvidia-smi -L); this check needs one (try --dry-run)" >&2
    exit 1
  fi
fi
TOKENS=$((GPUS * SLOTS))
CORES=$(nproc)

echo "gpu-check: $GPUS GPU(s) x $SLOTS slot(s) = --resources gpu=$TOKENS, --cores $CORES"

# the plan of the seed's settings (this also writes .snakemake/effdl/plan.json), then Part 1's check targets
PLAN_LOG=$(mktemp)
if ! "$SMK" -n --quiet rules "${EXTRA[@]}" >"$PLAN_LOG" 2>&1; then
  cat "$PLAN_LOG" >&2
  exit 1
fi
rm -f "$PLAN_LOG"
mapfile -t TARGETS < <(
  "$PY" - <<'EOF'
import json
runs = json.load(open(".snakemake/effdl/plan.json"))["runs"]
sweep = [r for r in runs if r["key"].startswith("part1/lr_sweep_")]
multistep = sorted(r["key"] for r in runs if r["key"].startswith("part1/sched_multistep_"))[:1]
for key in [r["key"] for r in sweep] + multistep:
    print(f"results/runs/{key}/summary.csv")
EOF
)
if [[ ${#TARGETS[@]} -eq 0 ]]; then
  echo "gpu-check: no Part 1 runs in .snakemake/effdl/plan.json" >&2
  exit 1
fi
echo "gpu-check: ${#TARGETS[@]} training runs: ${TARGETS[*]}"

# Targets first: --resources and --config take several values and would swallow targets that follow them.
SMK_ARGS=(--cores "$CORES" --resources gpu="$TOKENS" "${EXTRA[@]}" --config gpu_jobs_per_device="$SLOTS")
if [[ $DRY == 1 ]]; then
  echo "+ $SMK results/data/cifar10.pt ${SMK_ARGS[*]}"
  if [[ $BENCH == 1 ]]; then
    echo "+ $PY -m effdl.bench --device cuda --data results/data/cifar10.pt --out results/bench"
  fi
  echo "+ $SMK ${TARGETS[*]} ${SMK_ARGS[*]}"
  "$SMK" -n "${TARGETS[@]}" "${SMK_ARGS[@]}"
  echo "gpu-check: dry run only; nothing was trained"
  exit 0
fi

# CIFAR-10 first (a download on a fresh machine), outside the timed part
"$SMK" results/data/cifar10.pt "${SMK_ARGS[@]}"
START=$(date +%s)
if [[ $BENCH == 1 ]]; then
  "$PY" -m effdl.bench --device cuda --data results/data/cifar10.pt --out results/bench
fi
BENCH_END=$(date +%s)
"$SMK" "${TARGETS[@]}" "${SMK_ARGS[@]}"
END=$(date +%s)

"$PY" - "$((BENCH_END - START))" "$((END - BENCH_END))" "$BUDGET_S" "${TARGETS[@]}" <<'EOF'
import csv, statistics, sys
bench_s, train_s, budget = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
print(f"\n{'run':<42} {'device':<24} {'epochs':>6} {'s/epoch':>8} {'test acc':>8}")
for summary in sys.argv[4:]:
    rows = list(csv.DictReader(open(summary.replace("summary.csv", "epochs.csv"))))
    times = [float(r["epoch_time_s"]) for r in rows if int(r["epoch"]) > 0]
    key = summary.split("results/runs/", 1)[1].rsplit("/", 1)[0]
    # the first epoch carries start-up (cuDNN autotune, compile), so the median is the steady rate
    print(f"{key:<42} {rows[-1]['device']:<24} {len(times):>6} {statistics.median(times):>8.2f} "
          f"{float(rows[-1]['test_acc']):>7.2f}%")
total = bench_s + train_s
verdict = "within" if total < budget else "OVER"
print(f"\nbench {bench_s} s + Part 1 {train_s} s = {total} s: {verdict} the {budget} s budget")
sys.exit(0 if total < budget else 1)
EOF
