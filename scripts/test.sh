#!/usr/bin/env bash
# Every test: the Rust suite (unit, integration, property tests) and the Python suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --release
.venv/bin/python -m pytest -q tests
