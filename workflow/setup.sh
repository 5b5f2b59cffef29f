#!/usr/bin/env bash
# Set up everything the study and its tests need on a fresh Debian/Ubuntu machine (idempotent):
# Debian's TeX Live + latexmk + poppler (root or sudo), and a Python venv at .venv with the package,
# the workflow and the dev tools. Usage: bash workflow/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

TEX_PACKAGES="texlive-latex-base texlive-latex-recommended texlive-science texlive-pictures lmodern latexmk poppler-utils"
if ! command -v latexmk >/dev/null || ! command -v pdftotext >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $TEX_PACKAGES >/dev/null
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
# pip (not uv): the pinned torch/torchvision wheels may come from the machine's local index.
.venv/bin/python -m pip install -q -e ".[workflow,dev]" 2>&1 | grep -v "is ignored" || true
.venv/bin/python -c "import effdl, torch, snakemake; print('effdl ready: torch', torch.__version__)"
