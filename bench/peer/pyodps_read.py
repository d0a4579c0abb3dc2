#!/usr/bin/env python3
"""Measure pyodps 0.13.2's table download readers against a running MaxCompute endpoint
(normally ``maxc-mock`` on loopback, started by ``bench/src/bin/read_bench.rs``).

Run with the venv made by ``bench/peer/setup-venv.sh``::

    bench/peer/.venv/bin/python bench/peer/pyodps_read.py --endpoint http://127.0.0.1:8080/api \\
        --table bench_read --partition ds=20240101 --mode record|arrow [--runs 3]

What is measured (each run, best of ``--runs``): wall time from creating the download session
(``TableTunnel.create_download_session``) to the last row of

* ``record``: ``session.open_record_reader(0, session.count)`` (the C record reader when the
  extensions are active; the script refuses the pure-Python fallback), iterating every
  ``Record`` and adding up its ``id`` (column 0);
* ``arrow``: ``session.open_arrow_reader(0, session.count)``, reading every
  ``pyarrow.RecordBatch`` with ``read_next_batch`` and adding up its ``id`` column.

Both read uncompressed (``compress=False``, pyodps's default). Output: one JSON object with the
row count, the id sum (as a string), every run's seconds and the best.
"""

import argparse
import json
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--project", default="maxc")
    p.add_argument("--access-id", default="maxc-access-id")
    p.add_argument("--access-key", default="maxc-access-key")
    p.add_argument("--table", required=True)
    p.add_argument("--partition", default=None)
    p.add_argument("--mode", choices=["record", "arrow"], required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--allow-pure-python", action="store_true")
    args = p.parse_args()

    from odps import ODPS
    from odps.tunnel import TableTunnel
    from odps.tunnel.io import reader as reader_mod

    if args.mode == "record" and not args.allow_pure_python:
        cls = getattr(reader_mod, "TunnelRecordReader", None)
        base = [c.__module__ for c in getattr(cls, "__mro__", [])]
        if not any(m.endswith("reader_c") for m in base):
            sys.exit("pyodps C extensions are not active (record reader is %r)" % (base,))

    o = ODPS(args.access_id, args.access_key, project=args.project, endpoint=args.endpoint)
    tunnel = TableTunnel(o)

    runs = []
    rows = 0
    id_sum = 0
    for _ in range(max(1, args.runs)):
        started = time.perf_counter()
        session = tunnel.create_download_session(args.table, partition_spec=args.partition)
        rows = 0
        id_sum = 0
        if args.mode == "record":
            with session.open_record_reader(0, session.count) as reader:
                for rec in reader:
                    rows += 1
                    id_sum += rec[0]
        else:
            import pyarrow.compute as pc

            with session.open_arrow_reader(0, session.count) as reader:
                while True:
                    batch = reader.read_next_batch()
                    if batch is None:
                        break
                    rows += batch.num_rows
                    id_sum += pc.sum(batch.column(0)).as_py() or 0
        runs.append(time.perf_counter() - started)

    print(
        json.dumps(
            {
                "mode": args.mode,
                "rows": rows,
                "id_sum": str(id_sum),
                "runs_secs": runs,
                "best_secs": min(runs),
                "rows_per_s": rows / min(runs),
            }
        )
    )


if __name__ == "__main__":
    main()
