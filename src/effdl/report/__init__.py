"""Torch-free reporting: CSVs to TeX macros, tables and figures, one module per paper section plus shared helpers."""
