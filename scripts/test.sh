#!/usr/bin/env bash
# Every test: the machine-checked contracts (scripts/lint.sh: stubtest, mypy, ruff, rustfmt,
# clippy), then the Rust suite (unit, integration, property tests) and the Python suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/lint.sh
# The NBD tests drive the device with real clients from qemu-utils.
if ! command -v qemu-img >/dev/null || ! command -v qemu-io >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq qemu-utils >/dev/null
  else
    echo "qemu-img/qemu-io missing: install qemu-utils (the NBD tests need them)" >&2
  fi
fi
# The experiments' instruction counts run under valgrind's callgrind.
if ! command -v valgrind >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq valgrind >/dev/null
  else
    echo "valgrind missing: install it (the callgrind test needs it)" >&2
  fi
fi
cargo test --release
scripts/docs.sh
.venv/bin/python -m pytest -q tests
