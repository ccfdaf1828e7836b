#!/usr/bin/env bash
# The contracts checked by machines (scripts/test.sh runs this before the tests):
#   - stubtest: python/zsrs/_zsrs.pyi equals the built native module (needs scripts/setup.sh);
#   - mypy --strict on python/ and tests/ (settings in pyproject.toml's [tool.mypy]);
#   - ruff check and ruff format --check on python/ and tests/ ([tool.ruff] in pyproject.toml);
#   - cargo fmt --check, and clippy with -D warnings on every target, without and with the
#     Python bindings.
# Installs the Python tools it needs into .venv; rustfmt and clippy come with the Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
$py -m pip install --quiet "mypy>=1.10,<2" "ruff>=0.6,<0.15"

echo "lint: stubtest" >&2
$py -m mypy.stubtest zsrs._zsrs

echo "lint: mypy --strict" >&2
$py -m mypy --strict python/zsrs tests

echo "lint: ruff" >&2
$py -m ruff check python tests
$py -m ruff format --check python tests

echo "lint: cargo fmt, clippy" >&2
cargo fmt --all --check
cargo clippy --release --all-targets -- -D warnings
cargo clippy --release --all-targets --features python -- -D warnings
