#!/usr/bin/env bash
# Creates bench/peer/.venv (gitignored) with pyodps 0.13.2 and what its tunnel codec needs.
# Idempotent: when the venv already holds the pinned versions it returns at once.
#
# Usage: bash bench/peer/setup-venv.sh        (PYTHON=python3.11 to choose the interpreter)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
py="${PYTHON:-python3}"

# Pinned so measurements are comparable between runs. pyodps 0.13.2 ships C extensions
# (Cython) in its binary wheels; python-snappy gives it the snappy codec, zstandard and lz4
# the other two.
reqs=(
  "pyodps==0.13.2"
  "pyarrow>=14,<22"
  "numpy>=1.24,<2.3"
  "pandas>=2.0,<2.3"
  "python-snappy>=0.7,<0.8"
  "cramjam>=2.7,<3"
  "zstandard>=0.22,<0.24"
  "lz4>=4.3,<5"
)

stamp="$venv/.maxc-reqs"
want="$(printf '%s\n' "${reqs[@]}")"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  if "$venv/bin/python" -c 'import odps, pyarrow, snappy; assert odps.__version__ == "0.13.2"' 2>/dev/null; then
    echo "bench/peer/.venv is up to date"
    exit 0
  fi
fi

if [[ ! -x "$venv/bin/python" ]]; then
  "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: "${reqs[@]}"
printf '%s\n' "$want" > "$stamp"
"$venv/bin/python" -c 'import odps; print("pyodps", odps.__version__, "installed in", "'"$venv"'")'
