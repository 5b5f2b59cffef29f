"""Snakemake adapter for rule tabulate_pruning_sparsity: per-layer sparsity after each pruning event (tidy CSV)."""

from effdl.io import write_csv
from effdl.plan.layers import CONVNET_LAYERS
from effdl.report.csvs import read_csv
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(epochs_csv: str, out_csv: str) -> None:
    epochs = read_csv(epochs_csv)
    events = epochs[epochs["prune_event"].astype(str) == "True"].sort_values(["run", "epoch"]).copy()
    events["event"] = events.groupby("run").cumcount() + 1
    layer_cols = [f"sparsity_conv{i}" for i in range(1, len(CONVNET_LAYERS) + 1)]
    id_cols = ["mode", "seed", "run", "epoch", "event"]
    table = events[id_cols + layer_cols].melt(id_vars=id_cols, var_name="layer", value_name="sparsity")
    table["layer"] = table["layer"].str.removeprefix("sparsity_")
    out_channels = {f"conv{i}": cout for i, (_, cout, _) in enumerate(CONVNET_LAYERS, 1)}
    table["out_channels"] = table["layer"].map(out_channels)
    table = table.sort_values(["mode", "seed", "event"], kind="stable")  # melt keeps conv1..conv9 order
    write_csv(table[["mode", "seed", "run", "event", "epoch", "layer", "out_channels", "sparsity"]], out_csv)
    final = table[table["event"] == table["event"].max()]
    log(
        f"{events['run'].nunique()} runs, {events['event'].max()} events; final per-layer sparsity "
        f"{final['sparsity'].min():.4f}..{final['sparsity'].max():.4f}"
    )


main(snakemake.input[0], snakemake.output[0])
