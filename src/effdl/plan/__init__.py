"""Torch-free code that Snakemake imports while it builds the DAG: config validation, run specs, registries, plans."""
