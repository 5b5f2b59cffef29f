"""Snakemake rules for the transformer part of the study (see docs/architecture.md)."""
