"""Snakemake rules for the prune part of the study (see docs/architecture.md)."""
