#!/usr/bin/env bash
# Fails when maxc-core (normal dependencies) pulls in an async runtime, an HTTP stack,
# a simulator or an RNG: the core must stay sans-IO.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$(cargo tree -p maxc-core -e normal --prefix none --format '{p}' | awk '{print $1}' | sort -u)
bad=0
# (getrandom is absent on purpose: arrow-array pulls it through ahash for its own hash
# maps; no maxc-core code draws random numbers, which the grep below enforces.)
for forbidden in tokio hyper hyper-util axum turmoil rand rand_core mio socket2 reqwest; do
  if grep -qx "$forbidden" <<<"$tree"; then
    echo "maxc-core depends on forbidden crate: $forbidden" >&2
    bad=1
  fi
done
if [ "$bad" -ne 0 ]; then exit 1; fi
# No clock reads, sleeps or sockets in the core's sources.
if grep -rnE 'std::time::(SystemTime|Instant)|SystemTime::now|Instant::now|std::thread::sleep|std::net::|std::fs::|getrandom|RandomState::new|thread_rng' core/src; then
  echo "maxc-core source reads a clock, sleeps, or touches the network/filesystem" >&2
  exit 1
fi
echo "maxc-core dependency check: ok ($(wc -l <<<"$tree") crates, none forbidden)"
