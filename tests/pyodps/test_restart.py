"""A mock with --data-dir keeps tables, rows and open sessions across a kill and restart.

The test runs a second maxc-mock of its own (binary from MAXC_MOCK_BIN, which
scripts/pyodps-tests.sh exports) and stops it by its process id.
"""

import os
import signal
import subprocess
import time
from decimal import Decimal

import pytest
from odps import ODPS
from odps.tunnel import TableTunnel


class OwnMock:
    def __init__(self, binary, data_dir):
        self.binary = binary
        self.data_dir = data_dir
        self.proc = None
        self.settings = {}

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "--port", "0", "--data-dir", str(self.data_dir), "--seed", "11"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        settings = {}
        deadline = time.monotonic() + 30
        while "MAXC_MOCK_AUTH" not in settings:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("own maxc-mock did not start")
            line = self.proc.stdout.readline()
            if "=" in line:
                k, v = line.strip().split("=", 1)
                settings[k] = v
        self.settings = settings
        return self

    def odps(self):
        s = self.settings
        return ODPS(
            s["MAXC_MOCK_ACCESS_ID"],
            s["MAXC_MOCK_ACCESS_KEY"],
            project=s["MAXC_MOCK_PROJECT"],
            endpoint=s["MAXC_MOCK_ENDPOINT"],
            tunnel_endpoint=s["MAXC_MOCK_TUNNEL_ENDPOINT"],
        )

    def stop(self, sig=signal.SIGKILL):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(timeout=30)
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None


@pytest.fixture
def own_mock(tmp_path):
    binary = os.environ.get("MAXC_MOCK_BIN")
    if not binary:
        pytest.skip("MAXC_MOCK_BIN is not set (run scripts/pyodps-tests.sh)")
    mocks = []

    def make():
        m = OwnMock(binary, tmp_path / "data").start()
        mocks.append(m)
        return m

    yield make
    for m in mocks:
        m.stop()


def test_committed_rows_and_open_sessions_survive_a_kill(own_mock):
    first = own_mock()
    o = first.odps()
    t = o.create_table("kept", ("id bigint, amount decimal(10,2), s string", "ds string"))
    with t.open_writer(partition="ds=1", create_partition=True) as w:
        w.write([[1, Decimal("1.25"), "ä"], [2, None, None]])
    # an upload session left open with one block written
    up = TableTunnel(o).create_upload_session("kept", partition_spec="ds=1")
    with up.open_record_writer(0) as w:
        w.write(up.new_record([3, Decimal("-3.00"), "pending"]))
    upload_id = up.id
    first.stop(signal.SIGKILL)

    second = own_mock()
    o2 = second.odps()
    t2 = o2.get_table("kept")
    t2.reload()
    assert [c.name for c in t2.table_schema.columns] == ["id", "amount", "s", "ds"]
    assert t2.exist_partition("ds=1")
    with t2.open_reader(partition="ds=1") as r:
        assert [list(rec.values) for rec in r] == [
            [1, Decimal("1.25"), "ä", "1"],
            [2, None, None, "1"],
        ]
    # the open session came back with its block; committing it now appends the row
    up2 = TableTunnel(o2).create_upload_session("kept", partition_spec="ds=1", upload_id=upload_id)
    assert up2.get_block_list() == [0]
    up2.commit([0])
    with t2.open_reader(partition="ds=1") as r:
        assert [rec["id"] for rec in r] == [1, 2, 3]
