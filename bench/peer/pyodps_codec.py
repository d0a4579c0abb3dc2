#!/usr/bin/env python3
"""Measure pyodps 0.13.2's own tunnel record codec, in memory (no server, no network).

Run with the venv made by ``bench/peer/setup-venv.sh``::

    bench/peer/.venv/bin/python bench/peer/pyodps_codec.py [--rows N] [--runs N] [--write-samples]

What is measured
----------------
pyodps encodes upload bodies with ``odps.tunnel.io.writer.BaseRecordWriter`` and decodes
download bodies with ``odps.tunnel.io.reader.TunnelRecordReader``. With the C extensions active
(the normal case for the binary wheels) these are the Cython classes
``odps.tunnel.io.writer_c.BaseRecordWriter`` and ``odps.tunnel.io.reader_c.BaseTunnelRecordReader``;
the script refuses to report figures for the pure-Python fallback unless ``--allow-pure-python``.

* encode: ``BaseRecordWriter(schema, out)`` where ``out`` is what pyodps itself wraps around the
  HTTP request body (``odps.tunnel.io.stream.get_compress_stream``): a ``BytesIO`` for RAW, a
  ``SnappyOutputStream`` over the ``BytesIO`` for SNAPPY. Timed: creating the writer, ``write``
  of every (pre-built) record and ``close`` (footer + flush). Building the ``Record`` objects is
  not timed (reported separately as ``build_records_rows_per_s``).
* decode: ``TunnelRecordReader(schema, stream_creator)`` where the stream is what pyodps builds
  around an HTTP response (``get_decompress_stream(..., requests=False)``): ``SimpleInputStream``
  for RAW, ``SnappyInputStream`` for SNAPPY, over a ``BytesIO`` of the encoded body. Timed:
  reading every record (``Record`` objects are produced, as for a user, and dropped after
  use as a streaming consumer would; ``--keep-records`` collects them all in a list instead,
  which is much slower at 200k rows because the garbage collector keeps walking the list).

Each figure is the best of ``--runs`` runs. Output: one JSON object on stdout.

The data generator (the Rust bench must produce identical rows)
---------------------------------------------------------------
Schema ``id bigint, name string, score double, flag boolean, ts datetime, amount decimal(18,2)``,
rows ``i = 0 .. N-1`` (N = 200000 by default):

* ``id     = i``
* ``name   = NULL if i % 10 == 0 else f"name-{i % 1000}"``
* ``score  = i * 0.5``
* ``flag   = (i % 2 == 0)``
* ``ts     = 1704067200000 + i`` epoch milliseconds (2024-01-01T00:00:00Z + i ms), a UTC instant
* ``amount = v / 100`` with ``v = i % 100000``, always written with exactly two decimals:
  ``f"{v // 100}.{v % 100:02d}"`` (``Decimal("0.00")``, ``Decimal("0.01")``, ...,
  ``Decimal("999.99")``). This is the value ``Decimal(v) / 100``; the fixed two-decimal text
  is chosen because pyodps sends ``str(Decimal)``, whose exponent would otherwise depend on how
  the value was computed.

Samples (``--write-samples``)
-----------------------------
Writes, next to this script, the first 20 rows of the generator as encoded by pyodps:

* ``sample_pyodps_rows.bin``: the raw record stream from the C writer (note the C writer's
  10-byte sign-extended varints for CRCs >= 0x80000000, protocol §5.3);
* ``sample_pyodps_rows.bin.deflate`` / ``.snappy`` / ``.zstd`` / ``.lz4``: that stream through
  pyodps's own compress streams (zlib level 1; python-snappy framing; zstandard; lz4.frame),
  i.e. the bodies pyodps would PUT with ``Content-Encoding`` deflate / x-snappy-framed / zstd /
  x-lz4-frame;
* ``sample_pyodps_arrow.bin``: the same 20 rows through pyodps's Arrow tunnel writer
  (``BaseArrowWriter``, chunk size 64 bytes so the body has several chunk CRCs), i.e. the body
  of an ``&arrow`` block upload.
"""

import argparse
import io
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

SAMPLE_ROWS = 20
SAMPLE_ARROW_CHUNK = 64
TS_BASE_MS = 1704067200000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

COLUMNS = ["id", "name", "score", "flag", "ts", "amount"]
TYPES = ["bigint", "string", "double", "boolean", "datetime", "decimal(18,2)"]


def row_values(i):
    """The generator: row ``i`` as Python values (see the module docstring)."""
    v = i % 100000
    return [
        i,
        None if i % 10 == 0 else f"name-{i % 1000}",
        i * 0.5,
        i % 2 == 0,
        EPOCH + timedelta(milliseconds=TS_BASE_MS + i),
        Decimal(f"{v // 100}.{v % 100:02d}"),
    ]


def zz_varint(n):
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b = z & 0x7F
        z >>= 7
        if z:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--write-samples", action="store_true")
    ap.add_argument("--allow-pure-python", action="store_true")
    ap.add_argument(
        "--keep-records",
        action="store_true",
        help="decode into a list of all records (slower: the GC walks the growing list)",
    )
    args = ap.parse_args()

    import odps
    from odps.models import Record, TableSchema
    from odps.tunnel.io import reader as reader_mod
    from odps.tunnel.io import writer as writer_mod
    from odps.tunnel.io.stream import (
        CompressOption,
        get_compress_stream,
        get_decompress_stream,
    )

    writer_cls = writer_mod.BaseRecordWriter
    reader_cls = reader_mod.TunnelRecordReader
    c_ext = (
        writer_cls.__module__.endswith("writer_c")
        and reader_mod.BaseTunnelRecordReader.__module__.endswith("reader_c")
    )
    if not c_ext and not args.allow_pure_python:
        sys.exit("pyodps C extensions are not active (writer %r); refusing to measure" % writer_cls)

    schema = TableSchema.from_lists(COLUMNS, TYPES)

    def build(n):
        return [Record(schema=schema, values=row_values(i)) for i in range(n)]

    def encode(records, algo):
        buf = io.BytesIO()
        opt = CompressOption(algo) if algo else None
        w = writer_cls(schema, get_compress_stream(buf, opt))
        for r in records:
            w.write(r)
        w.close()
        return buf.getvalue()

    def decode(data, algo, keep=()):
        """Read every record; returns (row count, {row: values} for the rows in ``keep``).

        Records are not accumulated (as a streaming consumer would not), so the figure is not
        skewed by the garbage collector walking an ever-growing list.
        """
        opt = CompressOption(algo) if algo else None

        def stream_creator(cursor, row_number=None, raw_size=None):
            return get_decompress_stream(io.BytesIO(data), opt, requests=False)

        r = reader_cls(schema, stream_creator)
        n = 0
        kept = {}
        everything = []
        while True:
            rec = r.read()
            if rec is None:
                break
            if n in keep:
                kept[n] = list(rec.values)
            if args.keep_records:
                everything.append(rec)
            n += 1
        r.close()
        return n, kept

    def best(fn, runs):
        times = []
        result = None
        for _ in range(runs):
            t0 = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t0)
        return min(times), result

    n = args.rows
    t_build, records = best(lambda: build(n), 1)

    # Self-checks: row 0's ts is on the wire as the expected epoch ms, and decoding gives back
    # the generator's values.
    raw0 = encode(records[:2], None)
    if zz_varint(TS_BASE_MS) not in raw0:
        sys.exit("datetime was not encoded as the expected UTC epoch milliseconds")

    result = {
        "pyodps_version": odps.__version__,
        "c_extensions": c_ext,
        "writer_class": f"{writer_cls.__module__}.{writer_cls.__name__}",
        "reader_class": f"{reader_mod.BaseTunnelRecordReader.__module__}."
        f"{reader_mod.BaseTunnelRecordReader.__name__}",
        "python": sys.version.split()[0],
        "rows": n,
        "runs": args.runs,
        "decode_keeps_records": args.keep_records,
        "build_records_rows_per_s": round(n / t_build),
    }
    for label, algo in (("raw", None), ("snappy", "SNAPPY")):
        check = {0, 1, 9, 10, n // 2, n - 1}
        t_enc, data = best(lambda: encode(records, algo), args.runs)
        t_dec, (count, back) = best(lambda: decode(data, algo, check), args.runs)
        if count != n:
            sys.exit(f"{label}: decoded {count} rows, expected {n}")
        for i in sorted(check):
            got = back[i]
            want = row_values(i)
            want[4] = want[4].replace(tzinfo=None)  # the reader returns naive local (UTC) times
            got[4] = got[4].replace(tzinfo=None) if got[4] is not None else None
            if got != want:
                sys.exit(f"{label}: row {i} decoded as {got}, expected {want}")
        result[f"encode_{label}_rows_per_s"] = round(n / t_enc)
        result[f"decode_{label}_rows_per_s"] = round(n / t_dec)
        result[f"{label}_bytes"] = len(data)

    if args.write_samples:
        write_samples(schema, build(SAMPLE_ROWS), encode, decode)

    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")


def write_samples(schema, records, encode, decode):
    here = os.path.dirname(os.path.abspath(__file__))

    def put(name, data):
        if len(data) >= 4096:
            sys.exit(f"sample {name} is {len(data)} bytes, more than 4 KiB")
        with open(os.path.join(here, name), "wb") as f:
            f.write(data)

    raw = encode(records, None)
    put("sample_pyodps_rows.bin", raw)
    for suffix, algo in (
        ("deflate", "ZLIB"),
        ("snappy", "SNAPPY"),
        ("zstd", "ZSTD"),
        ("lz4", "LZ4"),
    ):
        body = encode(records, algo)
        if decode(body, algo)[0] != len(records):
            sys.exit(f"sample {suffix} does not decode")
        put(f"sample_pyodps_rows.bin.{suffix}", body)

    import pyarrow as pa
    from odps.tunnel.io.writer import BaseArrowWriter

    buf = io.BytesIO()
    w = BaseArrowWriter(schema, buf, chunk_size=SAMPLE_ARROW_CHUNK)
    rows = [row_values(i) for i in range(SAMPLE_ROWS)]
    cols = list(zip(*rows))
    batch = pa.record_batch(
        [
            pa.array(cols[0], pa.int64()),
            pa.array(cols[1], pa.string()),
            pa.array(cols[2], pa.float64()),
            pa.array(cols[3], pa.bool_()),
            pa.array([int((t - EPOCH) / timedelta(milliseconds=1)) for t in cols[4]], pa.timestamp("ms")),
            pa.array(cols[5], pa.decimal128(18, 2)),
        ],
        names=COLUMNS,
    )
    w.write(batch)
    w._finish()
    put("sample_pyodps_arrow.bin", buf.getvalue())


if __name__ == "__main__":
    main()
