#!/usr/bin/env bash
# End-to-end sink benchmark: maxc's batch sink (SNAPPY, RAW) and pyodps (RAW, SNAPPY) writing
# the same rows of the codec workload (1,000,000 by default) to the same maxc-mock (release
# build, loopback, its own process) in one run, then the memory check: 10,000 dynamic
# partitions under the default 256 MiB writer budget.
#
# Usage: bench/sink-e2e.sh [ROWS]          (prints one JSON line per measurement)
#   RUNS=N          runs of each client (default 1), each into its own partition; 0 skips them
#   MEM_ROWS=N      rows of the memory check (default 12,000,000: about 660 MB encoded,
#                   2.5 times the budget); MEM_ROWS=0 skips it
#   MEM_BUDGET_MB=N budget of the memory check (default: the default budget, 256 MiB)
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-1000000}"
runs="${RUNS:-1}"

bash bench/peer/setup-venv.sh >/dev/null
cargo build --release --locked -p maxc-mock -p maxc-bench --bin maxc-mock --bin sink_bench >/dev/null 2>&1
py=bench/peer/.venv/bin/python

log=$(mktemp)
pid=
start_mock() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  : >"$log"
  target/release/maxc-mock --port 0 >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do grep -q '^MAXC_MOCK_AUTH=' "$log" && break; sleep 0.1; done
  get() { grep "^$1=" "$log" | head -1 | cut -d= -f2-; }
  ep=$(get MAXC_MOCK_ENDPOINT); tep=$(get MAXC_MOCK_TUNNEL_ENDPOINT); proj=$(get MAXC_MOCK_PROJECT)
  aid=$(get MAXC_MOCK_ACCESS_ID); akey=$(get MAXC_MOCK_ACCESS_KEY); admin=$(get MAXC_MOCK_ADMIN)
  common=(--endpoint "$ep" --tunnel-endpoint "$tep" --project "$proj" --access-id "$aid" --access-key "$akey")
}
trap 'if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi; rm -f "$log"' EXIT
sql() { curl -fsS -X POST --data-binary "$1" "$admin/sql" >/dev/null; }
cols="id BIGINT, name STRING, score DOUBLE, flag BOOLEAN, ts DATETIME, amount DECIMAL(18,2)"

if [[ "$runs" != 0 ]]; then
start_mock
sql "CREATE TABLE bench ($cols) PARTITIONED BY (ds STRING)"
echo "# before: $(uptime)"
for r in $(seq 1 "$runs"); do
  target/release/sink_bench "${common[@]}" --table bench --partition "ds=maxc_snappy_$r" --rows "$rows" --compress SNAPPY
  target/release/sink_bench "${common[@]}" --table bench --partition "ds=maxc_raw_$r" --rows "$rows" --compress RAW
  "$py" bench/peer/pyodps_write.py "${common[@]}" --table bench --partition "ds=py_raw_$r" --rows "$rows" --compress RAW
  "$py" bench/peer/pyodps_write.py "${common[@]}" --table bench --partition "ds=py_snappy_$r" --rows "$rows" --compress SNAPPY
done
curl -fsS "$admin/tables/$proj/bench" | "$py" -c 'import json,sys; d=json.load(sys.stdin); print("# committed rows per partition:", {p.get("spec", p.get("name")): p.get("rows") for p in d.get("partitions", [])})'
echo "# after: $(uptime)"
fi

# Memory check: 10,000 dynamic partitions, no checkpoint (the buffers fill the budget), on a
# fresh mock.
mem_rows="${MEM_ROWS:-12000000}"
if [[ "$mem_rows" != 0 ]]; then
  start_mock
  sql "CREATE TABLE bench_parts ($cols) PARTITIONED BY (ds STRING)"
  budget=()
  if [[ -n "${MEM_BUDGET_MB:-}" ]]; then budget=(--budget-mb "$MEM_BUDGET_MB"); fi
  echo "# before: $(uptime)"
  target/release/sink_bench "${common[@]}" --table bench_parts --dynamic-partitions 10000 \
    --rows "$mem_rows" "${budget[@]}"
  echo "# after: $(uptime)"
fi
