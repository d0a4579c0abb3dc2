#!/usr/bin/env bash
# The whole test suite: every Rust test of the workspace, then the pyodps real-client suite
# against a freshly started maxc-mock (when that suite exists).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test --workspace"
cargo test --workspace --locked

if [ -x scripts/pyodps-tests.sh ]; then
  echo "== pyodps real-client suite"
  # `cargo test` built the maxc-mock binary for its own tests; the suite runs that one.
  bin="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/maxc-mock"
  if [ -x "$bin" ]; then export MAXC_MOCK_BIN="$bin"; fi
  scripts/pyodps-tests.sh
fi
