#!/usr/bin/env bash
# Set up what the study and its tests need (idempotent). Two parts:
#  1. TeX for the paper (latexmk, pdflatex, the paper's LaTeX packages, poppler's pdftotext). Installed with
#     Debian's apt-get when it can (root, or sudo without a password); elsewhere (macOS, a cluster login node
#     without sudo, ...) it says what is missing and how to get it, and carries on: the workflow then builds
#     everything but results/paper.pdf and says why (config key paper.build, docs/configuration.md "Installing").
#  2. A Python venv at .venv with the package, the workflow and the dev tools, at the versions pinned in
#     requirements.lock (regenerate it with `bash workflow/lock.sh`).
# Usage: bash workflow/setup.sh           set up both
#        bash workflow/setup.sh --check   only say what the TeX part lacks and how to get it (exit 0)
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_TEX="texlive-latex-base texlive-latex-recommended texlive-science texlive-pictures lmodern latexmk poppler-utils"
# every LaTeX package paper/ loads (keep in step with PAPER_STY in workflow/rules/paper.smk)
PAPER_STY="amsmath booktabs float fontenc geometry graphicx hyperref lmodern url xcolor"

# What the paper build lacks on this machine, space-separated: programs first, then LaTeX packages.
missing_tex() {
  local missing="" tool sty
  for tool in latexmk pdflatex kpsewhich pdftotext; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
  done
  if command -v kpsewhich >/dev/null 2>&1; then
    for sty in $PAPER_STY; do
      [ -n "$(kpsewhich "$sty.sty" 2>/dev/null)" ] || missing="$missing $sty.sty"
    done
  fi
  echo "${missing# }"
}

# How apt-get can be run here: "root", "sudo" (passwordless), or why it cannot (starts with "no").
apt_access() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "no apt-get (not Debian/Ubuntu)"
  elif [ "$(id -u)" -eq 0 ]; then
    echo root
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo sudo
  else
    echo "no root and no passwordless sudo"
  fi
}

explain_tex() { # $1: what is missing, $2: why apt-get was not used
  cat >&2 <<EOF
setup: the paper (results/paper.pdf) needs TeX, and this machine lacks: $1
setup: not installing it ($2). Get it one of these ways, then re-run this script:
  Debian/Ubuntu:  sudo apt-get install --no-install-recommends $DEBIAN_TEX
  macOS:          brew install --cask mactex-no-gui && brew install poppler   (MacTeX includes latexmk)
  conda-forge:    conda install -c conda-forge texlive-core latexmk poppler
                  (then \`tlmgr install <package>\` for any LaTeX package kpsewhich still cannot find)
  LaTeX packages the paper loads: $PAPER_STY
setup: until then the workflow builds every figure and table but not the PDF, and says so
       (config key paper.build: auto; set it to false to skip the paper without the notice).
EOF
}

setup_tex() {
  local missing access
  missing=$(missing_tex)
  [ -z "$missing" ] && return 0
  access=$(apt_access)
  if [ "${1:-}" = --check ] || [ "${access#no}" != "$access" ]; then
    explain_tex "$missing" "$access"
    return 0
  fi
  local sudo=""
  [ "$access" = sudo ] && sudo="sudo -n"
  echo "setup: installing TeX with apt-get ($access): $DEBIAN_TEX"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $DEBIAN_TEX >/dev/null
  missing=$(missing_tex)
  [ -z "$missing" ] || explain_tex "$missing" "apt-get ran, but these are still missing"
}

setup_python() {
  local python=${PYTHON:-python3}
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
  # pip (not uv): the pinned torch/torchvision wheels may come from the machine's local index.
  # -c: the lock pins every version that pip resolves, without adding packages the extras do not ask for.
  .venv/bin/python -m pip install -q -c requirements.lock -e ".[workflow,dev]" 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -c "import effdl, torch, snakemake; print('effdl ready: torch', torch.__version__)"
}

if [ "${1:-}" = --check ]; then
  setup_tex --check
  exit 0
fi
setup_tex
setup_python
