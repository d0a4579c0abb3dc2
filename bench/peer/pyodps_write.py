#!/usr/bin/env python3
"""Measure pyodps 0.13.2's table upload (batch tunnel) against a running MaxCompute endpoint
(normally ``maxc-mock`` on loopback, started by ``bench/sink-e2e.sh``).

Run with the venv made by ``bench/peer/setup-venv.sh``::

    bench/peer/.venv/bin/python bench/peer/pyodps_write.py --endpoint http://127.0.0.1:8080/api \\
        --table bench --partition ds=py_raw --rows 1000000 --compress RAW|SNAPPY

What is measured: wall time from creating the upload session
(``TableTunnel.create_upload_session``) to the end of ``session.commit`` of

* ``session.open_record_writer(compress=...)`` without a block id: pyodps's
  ``BufferedRecordWriter``, which cuts the stream into blocks of its default buffer size and
  uploads them as it goes (the C record writer when the extensions are active; the script
  refuses the pure-Python fallback);
* one ``Record`` per row of the codec workload (the generator of ``pyodps_codec.py``, the rows
  ``maxc_bench::codec_batch`` makes), built inside the timed loop as an application would, and
  ``writer.write(record)``;
* ``writer.close()`` and ``session.commit(writer.get_blocks_written())``.

Output: one JSON object with rows, seconds, rows/s and the process's peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss``, the interpreter included).
"""

import argparse
import json
import resource
import sys
import time

from pyodps_codec import row_values


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--tunnel-endpoint", default=None)
    p.add_argument("--project", default="maxc")
    p.add_argument("--access-id", default="maxc-access-id")
    p.add_argument("--access-key", default="maxc-access-key")
    p.add_argument("--table", required=True)
    p.add_argument("--partition", default=None)
    p.add_argument("--rows", type=int, default=1000000)
    p.add_argument("--compress", choices=["RAW", "SNAPPY"], default="RAW")
    p.add_argument("--allow-pure-python", action="store_true")
    args = p.parse_args()

    from odps import ODPS
    from odps.tunnel import CompressOption, TableTunnel
    from odps.tunnel.io import writer as writer_mod

    if not args.allow_pure_python:
        cls = getattr(writer_mod, "BaseRecordWriter", None)
        if not getattr(cls, "__module__", "").endswith("writer_c"):
            sys.exit("pyodps C extensions are not active (record writer is %r)" % (cls,))

    o = ODPS(
        args.access_id,
        args.access_key,
        project=args.project,
        endpoint=args.endpoint,
        tunnel_endpoint=args.tunnel_endpoint,
    )
    tunnel = TableTunnel(o, endpoint=args.tunnel_endpoint)
    table = o.get_table(args.table)
    schema = table.table_schema
    compress = args.compress != "RAW"
    option = None
    if compress:
        option = CompressOption(CompressOption.CompressAlgorithm.ODPS_SNAPPY)

    started = time.perf_counter()
    session = tunnel.create_upload_session(
        table, partition_spec=args.partition, compress_option=option, create_partition=True
    )
    with session.open_record_writer(compress=compress) as writer:
        for i in range(args.rows):
            rec = session.new_record(row_values(i))
            writer.write(rec)
    blocks = writer.get_blocks_written()
    session.commit(blocks)
    secs = time.perf_counter() - started
    # The table schema must be the codec workload's (plus partition columns).
    assert [c.name for c in schema.simple_columns][:6] == [
        "id", "name", "score", "flag", "ts", "amount"
    ], schema
    print(
        json.dumps(
            {
                "client": "pyodps",
                "rows": args.rows,
                "blocks": len(blocks),
                "seconds": secs,
                "rows_per_s": args.rows / secs,
                "compress": args.compress,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            }
        )
    )


if __name__ == "__main__":
    main()
