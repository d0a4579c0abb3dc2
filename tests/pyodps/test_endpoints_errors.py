"""Tunnel endpoint discovery, error mapping, authentication, and injected faults."""

import time

import pytest
from odps import errors
from odps.tunnel import TableTunnel


def test_tunnel_endpoint_discovery(mock_env, table_name):
    o = mock_env.odps(discover_tunnel=True)
    name = table_name("discover")
    o.create_table(name, "id bigint, s string")
    tunnel = TableTunnel(o)
    up = tunnel.create_upload_session(name)
    with up.open_record_writer(0) as w:
        w.write(up.new_record([7, "seven"]))
    up.commit([0])
    # the endpoint pyodps discovered is the mock's own host:port, with the REST scheme
    assert tunnel.tunnel_rest.endpoint.rstrip("/") == mock_env.tunnel_endpoint.rstrip("/")
    with o.get_table(name).open_reader() as r:
        assert [list(rec.values) for rec in r] == [[7, "seven"]]


def test_missing_table(o):
    t = o.get_table("no_such_table_here")
    with pytest.raises(errors.NoSuchTable) as e:
        t.reload()
    assert isinstance(e.value, errors.NoSuchObject)
    assert "ODPS-0130131" in str(e.value) and "no_such_table_here" in str(e.value)
    assert not o.exist_table("no_such_table_here")
    with pytest.raises(errors.NoSuchObject):
        TableTunnel(o).create_upload_session("no_such_table_here")
    with pytest.raises(errors.NoSuchObject):
        TableTunnel(o).create_download_session("no_such_table_here")


def test_missing_partition_in_download(o, table_name):
    name = table_name("nopart")
    o.create_table(name, ("id bigint", "ds string"))
    with pytest.raises(errors.NoSuchObject):
        TableTunnel(o).create_download_session(name, partition_spec="ds=nope")


def test_wrong_access_key_is_refused(mock_env, table_name):
    good = mock_env.odps()
    name = table_name("auth")
    good.create_table(name, "id bigint")
    bad = mock_env.odps(access_key="not-the-key")
    with pytest.raises(errors.ODPSError) as e:
        bad.get_table(name).reload()
    assert e.value.code in ("SignatureNotMatch", "InvalidAccessKeyId", "AuthorizationRequired"), e.value
    with pytest.raises(errors.ODPSError) as e:
        TableTunnel(bad).create_upload_session(name)
    assert "Signature" in (e.value.code or "") or "Signature" in str(e.value)


def test_unknown_access_id_is_refused(mock_env):
    from odps import ODPS

    o = ODPS("who-is-this", "x", project=mock_env.project, endpoint=mock_env.endpoint)
    with pytest.raises(errors.ODPSError) as e:
        o.exist_table("anything")
    assert e.value.code == "InvalidAccessKeyId"


def test_one_500_on_upload_create_is_retried(o, admin, table_name):
    name = table_name("fault")
    o.create_table(name, "id bigint")
    rule = admin.add_fault(
        {
            "operation": "create_upload",
            "table": name,
            "times": 1,
            "effect": {"type": "error", "status": 500, "code": "InternalServerError"},
        }
    )
    started = time.monotonic()
    up = TableTunnel(o).create_upload_session(name)
    elapsed = time.monotonic() - started
    with up.open_record_writer(0) as w:
        w.write(up.new_record([1]))
    up.commit([0])
    with o.get_table(name).open_reader() as r:
        assert [rec[0] for rec in r] == [1]
    (rule_id,) = rule["ids"]
    mine = [r for r in admin.faults()["rules"] if r["id"] == rule_id]
    assert len(mine) == 1 and mine[0]["fired"] == 1 and mine[0]["matched"] == 2
    assert elapsed >= 0.5  # pyodps waited before retrying
    creates = [
        e for e in admin.requests(100) if e.get("table") == name and e["op"] == "create_upload"
    ]
    assert [e["status"] for e in creates] == [500, 201]


def test_non_retryable_tunnel_error_surfaces(o, admin, table_name):
    name = table_name("fault400")
    o.create_table(name, "id bigint")
    admin.add_fault(
        {
            "operation": "create_download",
            "table": name,
            "times": 1,
            "effect": {"type": "error", "status": 400, "code": "InvalidArgument", "message": "nope"},
        }
    )
    with pytest.raises(errors.ODPSError) as e:
        TableTunnel(o).create_download_session(name)
    assert "nope" in str(e.value)
    # the rule is used up; the next attempt works
    assert TableTunnel(o).create_download_session(name).count == 0


def test_v4_signature_with_region(mock_env, table_name):
    """With a region name pyodps signs REST calls with signature v4 (tunnel stays v2)."""
    from odps import ODPS

    o = ODPS(
        mock_env.access_id,
        mock_env.access_key,
        project=mock_env.project,
        endpoint=mock_env.endpoint,
        tunnel_endpoint=mock_env.tunnel_endpoint,
        region_name="cn-hangzhou",
    )
    name = table_name("v4")
    o.create_table(name, "id bigint")
    t = o.get_table(name)
    t.reload()
    assert [c.name for c in t.table_schema.columns] == ["id"]
    with t.open_writer() as w:
        w.write([[5]])
    with t.open_reader() as r:
        assert [rec[0] for rec in r] == [5]
    bad = ODPS(
        mock_env.access_id,
        "wrong",
        project=mock_env.project,
        endpoint=mock_env.endpoint,
        region_name="cn-hangzhou",
    )
    with pytest.raises(errors.ODPSError):
        bad.get_table(name).reload()


def test_lost_commit_response_is_retried_and_commit_is_idempotent(o, admin, table_name):
    name = table_name("lostcommit")
    o.create_table(name, "id bigint")
    up = TableTunnel(o).create_upload_session(name)
    with up.open_record_writer(0) as w:
        w.write(up.new_record([1]))
        w.write(up.new_record([2]))
    admin.add_fault(
        {"operation": "commit_upload", "table": name, "times": 1, "effect": {"type": "lose_response"}}
    )
    up.commit([0])
    with o.get_table(name).open_reader() as r:
        assert [rec[0] for rec in r] == [1, 2]  # applied once, not twice
    commits = [e for e in admin.requests(100) if e.get("table") == name and e["op"] == "commit_upload"]
    assert len(commits) == 2 and commits[0]["fault"] is not None and commits[1]["status"] == 200
