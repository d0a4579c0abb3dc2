"""Partitions: create, list, exist, drop, and tunnel writes into partitions."""

import pytest
from odps import errors
from odps.tunnel import TableTunnel


def test_create_list_exist_drop_partitions(o, table_name):
    name = table_name("parts")
    t = o.create_table(name, ("id bigint", "ds string, hh string"))
    assert list(t.partitions) == []
    specs = ["ds=20240101,hh=00", "ds=20240101,hh=01", "ds=20240102,hh=00"]
    for s in specs:
        t.create_partition(s)
    t.create_partition(specs[0], if_not_exists=True)
    with pytest.raises(errors.ODPSError):
        t.create_partition(specs[0])

    listed = sorted(str(p.partition_spec).replace("'", "") for p in t.partitions)
    assert listed == sorted(specs)
    # prefix listing
    day1 = sorted(
        str(p.partition_spec).replace("'", "") for p in t.iterate_partitions(spec="ds=20240101")
    )
    assert day1 == specs[:2]

    assert t.exist_partition("ds=20240101,hh=01")
    assert t.exist_partition("ds='20240102',hh='00'")
    assert not t.exist_partition("ds=20240102,hh=01")
    assert not t.exist_partition("ds=19990101,hh=00")
    assert t.exist_partitions("ds=20240101")
    assert not t.exist_partitions("ds=20240103")

    p = t.get_partition("ds=20240101,hh=00")
    p.reload()
    assert p.name.replace("'", "") == "ds=20240101,hh=00"

    t.delete_partition("ds=20240101,hh=00")
    assert not t.exist_partition("ds=20240101,hh=00")
    t.delete_partition("ds=20240101,hh=00", if_exists=True)
    with pytest.raises(errors.ODPSError):
        t.delete_partition("ds=20240101,hh=00")
    assert sorted(str(p.partition_spec).replace("'", "") for p in t.partitions) == specs[1:]


def test_many_partitions_are_paged(o, table_name):
    name = table_name("manyparts")
    t = o.create_table(name, ("id bigint", "p bigint"))
    values = list(range(120))
    o.execute_sql(
        f"ALTER TABLE {name} ADD " + " ".join(f"PARTITION (p={v})" for v in values)
    )
    got = sorted(int(p.partition_spec["p"]) for p in t.partitions)
    assert got == values


def test_upload_to_partitions_and_read_them_separately(o, table_name):
    name = table_name("partdata")
    t = o.create_table(name, ("id bigint, v string", "ds string"))
    tunnel = TableTunnel(o)
    # a missing partition is an error unless create_partition
    with pytest.raises(errors.ODPSError):
        tunnel.create_upload_session(name, partition_spec="ds=a")
    for ds, n in (("a", 3), ("b", 2)):
        up = tunnel.create_upload_session(name, partition_spec=f"ds={ds}", create_partition=True)
        with up.open_record_writer(0) as w:
            for i in range(n):
                w.write(up.new_record([i, f"{ds}{i}"]))
        up.commit([0])
    assert t.exist_partition("ds=a") and t.exist_partition("ds=b")
    for ds, n in (("a", 3), ("b", 2)):
        with t.open_reader(partition=f"ds={ds}") as r:
            assert [list(rec.values) for rec in r] == [[i, f"{ds}{i}", ds] for i in range(n)]
    # dropping a partition drops its rows
    t.delete_partition("ds=a")
    t.create_partition("ds=a")
    with t.open_reader(partition="ds=a") as r:
        assert r.count == 0


def test_truncate_partition(o, table_name):
    name = table_name("trunc")
    t = o.create_table(name, ("id bigint", "ds string"))
    with t.open_writer(partition="ds=1", create_partition=True) as w:
        w.write([[1], [2]])
    with t.open_reader(partition="ds=1") as r:
        assert r.count == 2
    t.truncate(partition_spec="ds=1")
    assert t.exist_partition("ds=1")
    with t.open_reader(partition="ds=1") as r:
        assert r.count == 0
