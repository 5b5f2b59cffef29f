"""Snakemake rules for the finetune part of the study (see docs/architecture.md)."""
