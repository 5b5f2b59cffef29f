"""Snakemake rules for the dwconv part of the study (see docs/architecture.md)."""
