"""Batch upload and download sessions (TableTunnel) with every type and every compression."""

import base64
import json
from decimal import Decimal

import pytest
from odps import errors
from odps.models import Record
from odps.tunnel import TableTunnel

from values import ALL_TYPES, EXTRA_ROWS, EXTRA_TYPES, ROWS, as_plain, assert_rows_equal


def write_session(o, name, rows, compress_algo=None, partition=None, block_id=0):
    tunnel = TableTunnel(o)
    kw = {"compress_algo": compress_algo} if compress_algo else {}
    up = tunnel.create_upload_session(name, partition_spec=partition, **kw)
    with up.open_record_writer(block_id, compress=compress_algo is not None) as w:
        for row in rows:
            rec = up.new_record(row)
            w.write(rec)
    up.commit([block_id])
    return up


def read_session(o, name, compress_algo=None, partition=None, columns=None, start=0, count=None):
    tunnel = TableTunnel(o)
    kw = {"compress_algo": compress_algo} if compress_algo else {}
    down = tunnel.create_download_session(name, partition_spec=partition, **kw)
    n = down.count if count is None else count
    with down.open_record_reader(start, n, compress=compress_algo is not None, columns=columns) as r:
        return down, [list(rec.values) for rec in r]


@pytest.mark.parametrize("algo", [None, "zlib", "snappy", "zstd", "lz4"])
def test_all_types_round_trip(o, admin, table_name, algo):
    name = table_name(f"types_{algo or 'raw'}")
    o.create_table(name, ALL_TYPES)
    write_session(o, name, ROWS, compress_algo=algo)

    down, got = read_session(o, name, compress_algo=algo)
    assert down.count == len(ROWS)
    assert_rows_equal(got, ROWS)

    # The mock's own view of what was stored (independent of pyodps's decoder).
    stored = admin.rows(name)
    assert [r["id"] for r in stored] == [1, -2, 3, 9223372036854775807, 5]
    first = stored[0]
    assert first["dec"] == "12.3400"
    assert first["s"] == "alpha"
    assert first["bin"] == base64.b64encode(b"\x00\x01\xff").decode()
    assert first["dtm"] == "2024-01-02T03:04:05.123Z"
    assert first["dte"] == "2024-02-29"
    assert first["ts"] == "2024-01-02T03:04:05.123456789Z"
    assert first["arr"] == [1, 2, 3]
    assert first["m"] == {"a": 1, "b": -2}
    assert first["st"] == {"x": 10, "y": "ten"}
    second = stored[1]
    assert second["s"] == "délta ✓ 中文 🚀"
    assert second["dtm"] == "1969-12-31T23:59:59.000Z"
    assert second["dec"] == "-0.5000"
    assert second["i"] == -2147483648
    assert all(v is None for k, v in stored[2].items() if k != "id")


@pytest.mark.parametrize("algo", ["zlib", "snappy", "zstd", "lz4"])
def test_compression_is_on_the_wire(o, admin, table_name, algo):
    """The compressed session really sends and receives compressed bodies."""
    name = table_name(f"wire_{algo}")
    o.create_table(name, "id bigint, s string")
    rows = [[i, f"value {i} " * 20] for i in range(200)]
    write_session(o, name, rows, compress_algo=algo)
    _, got = read_session(o, name, compress_algo=algo)
    assert got == rows
    encodings = {
        (e["op"], e.get("request_encoding"), e.get("response_encoding"))
        for e in admin.requests(50)
        if e.get("table") == name and e["op"] in ("upload_block", "read_data")
    }
    expected = {
        "zlib": "deflate", "snappy": "x-snappy-framed", "zstd": "zstd", "lz4": "x-lz4-frame"
    }[algo]
    assert ("upload_block", expected, None) in encodings
    assert ("read_data", None, expected) in encodings


def test_column_projection(o, table_name):
    name = table_name("proj")
    o.create_table(name, ALL_TYPES)
    write_session(o, name, ROWS)
    down, got = read_session(o, name, columns=["s", "id", "dec"])
    assert got == [[r[8], r[0], r[7]] for r in ROWS]
    assert [c.name for c in down.schema.columns] == [c.split()[0] for c in ALL_TYPES.split(", ")]
    _, got = read_session(o, name, columns=["st", "arr"])
    assert [[as_plain(v) for v in r] for r in got] == [[r[16], r[14]] for r in ROWS]
    # with compression too
    _, got = read_session(o, name, compress_algo="zstd", columns=["dtm", "bin"])
    assert got == [[r[11], r[10]] for r in ROWS]


def test_row_range(o, table_name):
    name = table_name("range")
    o.create_table(name, "id bigint, v double")
    rows = [[i, i / 4] for i in range(1000)]
    write_session(o, name, rows)
    _, got = read_session(o, name, start=250, count=10)
    assert got == rows[250:260]
    _, got = read_session(o, name, start=990, count=10)
    assert got == rows[990:]


def test_several_blocks_and_sessions_append(o, table_name):
    name = table_name("blocks")
    o.create_table(name, "id bigint, who string")
    tunnel = TableTunnel(o)
    up = tunnel.create_upload_session(name)
    # blocks written out of order are committed in block-id order
    for block in (2, 0, 1):
        with up.open_record_writer(block) as w:
            for j in range(3):
                w.write(up.new_record([block * 10 + j, f"block{block}"]))
    assert sorted(up.get_block_list()) == [0, 1, 2]
    up.commit([0, 1, 2])
    # a second session appends
    write_session(o, name, [[100, "second"]])
    _, got = read_session(o, name)
    assert got == [[b * 10 + j, f"block{b}"] for b in range(3) for j in range(3)] + [[100, "second"]]


def test_uncommitted_upload_is_invisible(o, table_name):
    name = table_name("uncommitted")
    o.create_table(name, "id bigint")
    up = TableTunnel(o).create_upload_session(name)
    with up.open_record_writer(0) as w:
        w.write(up.new_record([1]))
    down, got = read_session(o, name)
    assert down.count == 0 and got == []
    up.commit([0])
    _, got = read_session(o, name)
    assert got == [[1]]


def test_overwrite(o, table_name):
    name = table_name("overwrite")
    o.create_table(name, "id bigint")
    write_session(o, name, [[1], [2]])
    tunnel = TableTunnel(o)
    up = tunnel.create_upload_session(name, overwrite=True)
    with up.open_record_writer(0) as w:
        w.write(up.new_record([3]))
    up.commit([0])
    _, got = read_session(o, name)
    assert got == [[3]]


def test_high_level_writer_and_reader(o, table_name):
    name = table_name("highlevel")
    t = o.create_table(name, "id bigint, name string, amount decimal(10,2)")
    with t.open_writer() as w:
        w.write([[1, "a", Decimal("1.10")], [2, None, Decimal("-3.00")]])
        w.write(Record(schema=t.table_schema, values=[3, "c", None]))
    with t.open_reader() as r:
        assert r.count == 3
        got = [list(rec.values) for rec in r]
    assert got == [[1, "a", Decimal("1.10")], [2, None, Decimal("-3.00")], [3, "c", None]]
    # o.read_table / o.write_table are the same path
    o.write_table(name, [[4, "d", Decimal("4.44")]])
    assert [list(rec.values) for rec in o.read_table(name)][-1] == [4, "d", Decimal("4.44")]


def test_upload_session_reattached_by_id(o, table_name):
    """A second client process would pick up an upload session by its id."""
    name = table_name("reattach")
    o.create_table(name, "id bigint, s string")
    tunnel = TableTunnel(o)
    up = tunnel.create_upload_session(name)
    with up.open_record_writer(0) as w:
        w.write(up.new_record([1, "first"]))
    again = TableTunnel(o).create_upload_session(name, upload_id=up.id)
    assert again.id == up.id
    assert again.get_block_list() == [0]
    with again.open_record_writer(1) as w:
        w.write(again.new_record([2, "second"]))
    again.commit([0, 1])
    _, got = read_session(o, name)
    assert got == [[1, "first"], [2, "second"]]
    # the download session can be reattached too, and sees the same snapshot
    down = TableTunnel(o).create_download_session(name)
    with TableTunnel(o).create_upload_session(name).open_record_writer(0) as _:
        pass  # an unrelated open session does not disturb the snapshot
    again_down = TableTunnel(o).create_download_session(name, download_id=down.id)
    assert again_down.count == 2
    with again_down.open_record_reader(0, 2) as r:
        assert [list(rec.values) for rec in r] == [[1, "first"], [2, "second"]]


def test_expired_session_cannot_commit(o, admin, table_name):
    name = table_name("expired")
    o.create_table(name, "id bigint")
    up = TableTunnel(o).create_upload_session(name)
    with up.open_record_writer(0) as w:
        w.write(up.new_record([1]))
    admin.expire_session(up.id)
    with pytest.raises(errors.ODPSError) as e:
        up.commit([0])
    assert e.value.code == "StatusConflict" and "expired" in str(e.value)
    _, got = read_session(o, name)
    assert got == []


@pytest.mark.parametrize("algo", [None, "snappy"])
def test_extra_types_round_trip(o, admin, table_name, algo):
    name = table_name("extra")
    o.create_table(name, EXTRA_TYPES)
    write_session(o, name, EXTRA_ROWS, compress_algo=algo)
    _, got = read_session(o, name, compress_algo=algo)
    assert_rows_equal(got, EXTRA_ROWS)
    stored = admin.rows(name)
    assert stored[0]["c"] == "ab"
    assert stored[0]["ntz"] == "2024-01-02T03:04:05.000000007"
    assert json.loads(stored[0]["j"]) == {"a": [1, 2, None], "b": "x"}
    assert stored[0]["idt"] == {"seconds": 86402, "nanos": 3}
    assert stored[0]["nested"] == [{"a": 1, "b": ["x", None]}, {"a": None, "b": []}]
    assert stored[0]["wide"] == "-12345678901234567890.123456789012345678"
    assert stored[1]["idt"] == {"seconds": -1, "nanos": 0}
