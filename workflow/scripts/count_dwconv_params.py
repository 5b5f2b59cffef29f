"""Snakemake adapter for rule count_dwconv_params: standard vs depthwise separable parameter counts (6.1) as a CSV."""

import pandas as pd

from effdl.io import write_csv
from effdl.models.dwconv import parameter_comparison
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(example: dict, out_csv: str) -> None:
    rows = pd.DataFrame(parameter_comparison(example["C_in"], example["C_out"], example["kernel_size"]))
    write_csv(rows, out_csv)
    log(f"wrote {out_csv}:\n{rows.to_string(index=False)}")


main(dict(snakemake.params.example), snakemake.output[0])
