#!/usr/bin/env bash
# End-to-end sink benchmark: maxc's batch sink and pyodps writing the same 1,000,000 rows of
# the codec workload to the same maxc-mock (release build, loopback) in one run, plus the
# memory check (10,000 dynamic partitions under a 256 MB writer budget).
#
# Usage: bench/sink-e2e.sh [ROWS]        (prints one JSON line per measurement)
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-1000000}"

bash bench/peer/setup-venv.sh >/dev/null
cargo build --release --locked -p maxc-mock -p maxc-bench --bins >/dev/null 2>&1
py=bench/peer/.venv/bin/python

log=$(mktemp)
target/release/maxc-mock --port 0 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 1 100); do grep -q '^MAXC_MOCK_ACCESS_KEY=' "$log" && break; sleep 0.1; done
get() { grep "^$1=" "$log" | head -1 | cut -d= -f2-; }
ep=$(get MAXC_MOCK_ENDPOINT); tep=$(get MAXC_MOCK_TUNNEL_ENDPOINT); proj=$(get MAXC_MOCK_PROJECT)
aid=$(get MAXC_MOCK_ACCESS_ID); akey=$(get MAXC_MOCK_ACCESS_KEY); admin=$(get MAXC_MOCK_ADMIN)
sql() { curl -fsS -X POST --data-binary "$1" "$admin/sql" >/dev/null; }
sql "CREATE TABLE bench (id BIGINT, name STRING, score DOUBLE, flag BOOLEAN, ts DATETIME, amount DECIMAL(18,2)) PARTITIONED BY (ds STRING)"
common=(--endpoint "$ep" --tunnel-endpoint "$tep" --project "$proj" --access-id "$aid" --access-key "$akey" --table bench)

echo "# uptime: $(uptime)"
target/release/sink_bench "${common[@]}" --partition ds=maxc_snappy --rows "$rows" --compress SNAPPY
target/release/sink_bench "${common[@]}" --partition ds=maxc_raw --rows "$rows" --compress RAW
"$py" bench/peer/pyodps_write.py "${common[@]}" --partition ds=py_raw --rows "$rows" --compress RAW
"$py" bench/peer/pyodps_write.py "${common[@]}" --partition ds=py_snappy --rows "$rows" --compress SNAPPY
curl -fsS "$admin/tables/$proj/bench" | "$py" -c 'import json,sys; d=json.load(sys.stdin); print("# committed per partition:", {p.get("spec", p.get("name")): p.get("rows") for p in d.get("partitions", [])})'

# Memory check: 10,000 dynamic partitions, 256 MB budget.
sql "CREATE TABLE bench_parts (id BIGINT, name STRING, score DOUBLE, flag BOOLEAN, ts DATETIME, amount DECIMAL(18,2)) PARTITIONED BY (ds STRING)"
target/release/sink_bench --endpoint "$ep" --tunnel-endpoint "$tep" --project "$proj" --access-id "$aid" --access-key "$akey" \
  --table bench_parts --dynamic-partitions 10000 --rows "${PART_ROWS:-2000000}" --checkpoint-rows 500000 --budget-mb 256
