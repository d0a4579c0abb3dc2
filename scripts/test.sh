#!/usr/bin/env bash
# The whole test suite: every Rust test of the workspace, then the pyodps real-client suite
# against a freshly started maxc-mock (when that suite exists).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test --workspace"
cargo test --workspace --locked

if [ -x scripts/pyodps-tests.sh ]; then
  echo "== pyodps real-client suite"
  scripts/pyodps-tests.sh
fi
