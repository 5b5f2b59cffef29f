"""Throughput benchmark: the seed's classic PIL + torchvision + DataLoader pipeline vs the engine, side by side.

Same model (the seed ConvNet), same batch size, same process, same training step; pipelines are
measured in interleaved rounds so that load from other processes hits all of them alike, and every
ratio is taken within one round. Also: evaluation throughput, per-epoch time (on CUDA, or with
--epoch-timing) and a short bf16-vs-fp32 accuracy check over seeds.

Run:  python -m effdl.bench [--quick] [--steps N] [--batch-size B] [--device auto|cpu|cuda] [--out results/bench]
Writes machine.csv, throughput.csv (with achieved GFLOP/s and their share of peak.csv's convolution rate), peak.csv,
headline.csv (per phase and precision: the share of the ceiling beside the ratio to the classic pipeline, printed
last), accuracy.csv, accuracy_summary.csv (and epochs.csv) under --out.
"""

from effdl.bench.ceiling import (  # noqa: F401
    add_arithmetic_context,
    conv_peak,
    convnet_flop_per_image,
    headline,
    headline_text,
    measure_peaks,
)
from effdl.bench.classic import (  # noqa: F401
    PILImageDataset,
    classic_loader,
    classic_transform,
    load_bench_data,
    take_per_class,
)
from effdl.bench.settings import (  # noqa: F401
    BENCH_PRECISIONS,
    CIFAR10_EPOCH_IMAGES,
    CPU_FLAGS_OF_INTEREST,
    ENGINE_OPTIONS,
    OPTIMIZER_IMPLS,
    SEED_NUM_WORKERS,
    BenchSettings,
    Pipeline,
    machine_info,
    mkldnn_bf16_supported,
)
from effdl.bench.timing import (  # noqa: F401
    accuracy_check,
    forever,
    fresh_model,
    measure_epoch_times,
    measure_throughput,
    run_benchmark,
    summarise_throughput,
    take_eval_images,
    time_evaluation,
    time_training,
    train_batches,
)
