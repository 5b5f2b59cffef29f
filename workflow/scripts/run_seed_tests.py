"""Snakemake adapter for rule seed_tests: run the seed's test cells (effdl.report.seed_tests), record their output."""

import json

import torch

from effdl.io import write_text
from effdl.report.seed_tests import run_seed_tests
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(out_json: str, threads: int) -> None:
    torch.set_num_threads(threads)
    results = run_seed_tests()
    for result in results:
        log(f"seed test {result['key']} (question {result['question']}):\n{result['output']}")
    write_text(json.dumps({"torch": torch.__version__, "tests": results}, indent=1) + "\n", out_json)
    log(f"{len(results)} seed tests passed; wrote {out_json}")


main(snakemake.output[0], snakemake.threads)
