"""Snakemake rules for the quant part of the study (see docs/architecture.md)."""
