"""Snakemake adapter for rule tex_part3: Part 3's numbers and words as TeX macros, the benchmark table."""

import pandas as pd

from effdl.io import write_csv
from effdl.report.csvs import read_csv
from effdl.report.part3 import benchmark_table, part3_macros
from effdl.report.part3_controls import bn_control_table, control_macros
from effdl.report.results import part3_results
from effdl.report.texgen import df_to_latex, write_macros
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def read_all(paths) -> pd.DataFrame:
    return pd.concat([read_csv(p) for p in paths], ignore_index=True)


def main(inputs, out_macros, out_table, out_controls, out_results, bn_batches) -> None:
    bench = read_csv(inputs.benchmark)
    pruned, pruned_epochs = read_csv(inputs.pruned_summary), read_csv(inputs.pruned_epochs)
    baseline, sanity = read_all(inputs.baseline_summary), read_csv(inputs.sanity)
    results = part3_results(pruned, baseline, sanity)
    write_csv(results, out_results)
    m = part3_macros(
        sanity=sanity,
        sanity_reference=read_all(inputs.sanity_reference) if inputs.sanity_reference else pd.DataFrame(),
        pruned=pruned,
        pruned_epochs=pruned_epochs,
        sparsity=read_csv(inputs.sparsity),
        baseline=baseline,
        oneshot=read_all(inputs.oneshot),
        bench=bench,
        slim_checks=read_all(inputs.slim_checks),
        sanity_epochs=read_csv(inputs.sanity_epochs),
        sanity_reference_epochs=read_all(inputs.sanity_reference_epochs) if inputs.sanity_reference else None,
        results=results,
    )
    m.update(
        control_macros(
            pruned=pruned,
            pruned_epochs=pruned_epochs,
            unpruned=read_all(inputs.unpruned) if inputs.unpruned else pd.DataFrame(),
            baseline=baseline,
            bn_batches=bn_batches,
        )
    )
    write_macros(m, out_macros, "Part 3")
    df_to_latex(
        bn_control_table(pruned_epochs),
        out_controls,
        escape=False,
        label="tab:part3-bn-control",
        caption="Control beyond the problem set: test accuracy (\\%) at each pruning event, measured after the "
        "epoch's training just before pruning, right after pruning with the BatchNorm (BN) statistics of the "
        "unpruned network (the number the problem set's plots show), and after re-estimating BN on "
        f"{bn_batches} training batches (on a copy; the run itself continues unchanged). Mean and 95\\% "
        "t-interval over seeds. \\rebuild{results/tex/part3_controls.tex}{results/metrics/part3_pruning/epochs.csv}",
    )
    df_to_latex(
        benchmark_table(bench),
        out_table,
        escape=False,
        label="tab:part3-benchmark",
        caption=f"Inference cost on {m['PthreeBenchDevice']} (one job; median latency of "
        f"{int(bench['repeats'].iloc[0])} timed forward passes per batch size). MB: bytes of the saved state dict "
        "(masked models also store their masks). "
        "\\rebuild{results/tex/part3_benchmark.tex}{results/metrics/pruning_benchmark.csv}",
    )
    log(f"wrote {len(m)} macros to {out_macros} and {out_table}")


main(
    snakemake.input,
    snakemake.output.macros,
    snakemake.output.table,
    snakemake.output.controls,
    snakemake.output.results,
    snakemake.params.bn_batches,
)
