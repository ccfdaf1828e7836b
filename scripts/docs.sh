#!/usr/bin/env bash
# Builds the Python API reference (docs/api, from python/zsrs/_zsrs.pyi and the docstrings) with
# pdoc and checks every relative link of docs/, the README and the generated pages.
# Needs the extension built into .venv (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pip install --quiet "pdoc>=14,<17"
rm -rf docs/api
.venv/bin/pdoc --docformat markdown -o docs/api zsrs zsrs.experiments zsrs.cli
.venv/bin/python scripts/check_links.py README.md docs
