#!/usr/bin/env bash
# The main job on its built-in default workload (installs what it needs first).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/zsrs "$@"
