"""effdl: a reproducible study of efficient deep learning (the library behind the Snakemake workflow)."""

__version__ = "0.1.0"
