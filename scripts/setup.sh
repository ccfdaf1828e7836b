#!/usr/bin/env bash
# Creates .venv, installs the Python dependencies and builds zsrs into it (release).
# Needs only a Rust toolchain and Python >= 3.11 with venv/pip; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "maturin>=1.5,<2" "numpy>=1.24" "pytest>=7" "hypothesis>=6" "matplotlib>=3.6"
VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH" .venv/bin/maturin develop --release --quiet
