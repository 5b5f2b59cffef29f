"""Snakemake adapter for rule count_matmuls: count the matmuls of real inferences against the closed forms."""

from effdl.io import write_csv
from effdl.provenance import provenance
from effdl.runlog import open_log
from effdl.studies.matmul_count import matmul_study

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(notebook_model: dict, check: dict, config: dict, out_totals: str, out_roles: str) -> None:
    # Counting is device-independent and one notebook-size inference is cheap, so it runs on the CPU.
    totals, roles = matmul_study(notebook_model, check["num_layers"], check["num_heads"], device="cpu")
    prov = provenance("cpu", 0, config, {"source": "random token ids (seed 0)"})
    write_csv(totals.assign(**prov), out_totals)
    write_csv(roles.assign(**prov), out_roles)
    for row in totals.itertuples():
        log(
            f"{row.model} N={row.num_layers} h={row.num_heads} {row.convention}: counted {row.counted}, "
            f"kernels {row.kernels}, formula {row.formula}, match {row.matches}"
        )


main(
    dict(snakemake.params.notebook_model),
    dict(snakemake.params.check),
    snakemake.config,
    snakemake.output.totals,
    snakemake.output.roles,
)
