#!/usr/bin/env bash
# The pyodps real-client suite: the official Python SDK (pyodps 0.13.2, unchanged) against a
# freshly started maxc-mock.
#
#   scripts/pyodps-tests.sh [pytest args...]      e.g. scripts/pyodps-tests.sh -k arrow -x
#
# 1. creates (or reuses) a virtualenv in target/pyodps-venv with pinned pyodps, pyarrow, the
#    codec modules and pytest (PYTHON=python3.11 picks the interpreter; needs PyPI the first time);
# 2. builds maxc-mock in debug (or takes the binary named by MAXC_MOCK_BIN);
# 3. starts `maxc-mock --port 0 --data-dir <tmp>` in the background and reads the endpoint and
#    account it prints;
# 4. runs `pytest tests/pyodps -q` with MAXC_MOCK_* in the environment;
# 5. stops the server by its process id when the script exits, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

# ---- 1. virtualenv -------------------------------------------------------------------------
venv="$root/target/pyodps-venv"
py="${PYTHON:-python3}"
reqs=(
  "pyodps==0.13.2"
  "pyarrow>=14,<22"
  "numpy>=1.24,<2.3"
  "pandas>=2.0,<2.3"
  "python-snappy>=0.7,<0.8"
  "cramjam>=2.7,<3"
  "zstandard>=0.22,<0.24"
  "lz4>=4.3,<5"
  "pytest>=8,<9"
)
stamp="$venv/.maxc-reqs"
want="$(printf '%s\n' "${reqs[@]}")"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
  && "$venv/bin/python" -c 'import odps, pyarrow, snappy, zstandard, lz4, pytest' 2>/dev/null; then
  echo "pyodps venv: $venv (up to date)"
else
  echo "pyodps venv: installing into $venv"
  t0=$SECONDS
  mkdir -p "$root/target"
  if [[ ! -x "$venv/bin/python" ]]; then
    "$py" -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: "${reqs[@]}"
  printf '%s\n' "$want" > "$stamp"
  echo "pyodps venv: installed in $((SECONDS - t0)) s"
fi

# ---- 2. the mock ---------------------------------------------------------------------------
if [[ -n "${MAXC_MOCK_BIN:-}" ]]; then
  # scripts/test.sh passes the binary `cargo test` just built (same features, no second build).
  mock_bin="$MAXC_MOCK_BIN"
  echo "== maxc-mock: $mock_bin"
else
  echo "== cargo build -p maxc-mock"
  cargo build -p maxc-mock --locked --quiet
  mock_bin="$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/maxc-mock"
fi
[[ -x "$mock_bin" ]] || { echo "maxc-mock binary not found at $mock_bin" >&2; exit 1; }

# ---- 3. start it, stop it by pid on exit ---------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/maxc-pyodps.XXXXXX")"
mock_pid=""
cleanup() {
  local rc=$?
  if [[ -n "$mock_pid" ]] && kill -0 "$mock_pid" 2>/dev/null; then
    kill -TERM "$mock_pid" 2>/dev/null || true
    wait "$mock_pid" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 && -s "$work/mock.err" ]]; then
    echo "---- maxc-mock stderr (last 40 lines) ----" >&2
    tail -n 40 "$work/mock.err" >&2
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$mock_bin" --port 0 --data-dir "$work/data" --seed 7 >"$work/mock.out" 2>"$work/mock.err" &
mock_pid=$!

# Wait (at most 30 s) for the settings lines; the last one is MAXC_MOCK_AUTH.
for _ in $(seq 1 300); do
  grep -q '^MAXC_MOCK_AUTH=' "$work/mock.out" 2>/dev/null && break
  kill -0 "$mock_pid" 2>/dev/null || { echo "maxc-mock exited at start" >&2; exit 1; }
  sleep 0.1
done
grep -q '^MAXC_MOCK_AUTH=' "$work/mock.out" || { echo "maxc-mock printed no settings in 30 s" >&2; exit 1; }
while IFS='=' read -r key value; do
  case "$key" in
    MAXC_MOCK_*) export "$key=$value" ;;
  esac
done <"$work/mock.out"
echo "maxc-mock pid $mock_pid at $MAXC_MOCK_ENDPOINT (data dir $work/data)"
# The restart test starts (and stops, by pid) mocks of its own from this binary.
export MAXC_MOCK_BIN="$mock_bin"

# ---- 4. the suite --------------------------------------------------------------------------
echo "== pytest tests/pyodps"
t0=$SECONDS
"$venv/bin/python" -m pytest tests/pyodps -q -p no:cacheprovider "$@"
echo "pyodps suite: $((SECONDS - t0)) s"
