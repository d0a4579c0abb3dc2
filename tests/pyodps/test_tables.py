"""Creating, describing and dropping tables through pyodps (DDL runs as SQL instances)."""

import pytest
from odps import errors
from odps.models import TableSchema, Column, Partition


def col_types(table):
    return [(c.name, str(c.type).lower()) for c in table.table_schema.simple_columns]


def test_create_plain_table_from_string_schema(o, table_name):
    name = table_name("plain")
    assert not o.exist_table(name)
    t = o.create_table(name, "id bigint, name string, score double", lifecycle=7)
    assert t.name == name
    assert o.exist_table(name)

    fresh = o.get_table(name)
    fresh.reload()
    assert [(c.name, str(c.type).lower()) for c in fresh.table_schema.columns] == [
        ("id", "bigint"),
        ("name", "string"),
        ("score", "double"),
    ]
    assert fresh.table_schema.partitions == []
    assert fresh.lifecycle == 7
    assert not fresh.is_transactional


def test_create_partitioned_table_from_schema_object(o, table_name):
    name = table_name("parted")
    schema = TableSchema(
        columns=[
            Column(name="id", type="bigint"),
            Column(name="v", type="string", comment="the value"),
        ],
        partitions=[Partition(name="ds", type="string"), Partition(name="hh", type="string")],
    )
    o.create_table(name, schema, comment="two-level partitions")

    t = o.get_table(name)
    t.reload()
    assert [c.name for c in t.table_schema.simple_columns] == ["id", "v"]
    assert [(p.name, str(p.type).lower()) for p in t.table_schema.partitions] == [
        ("ds", "string"),
        ("hh", "string"),
    ]
    assert t.comment == "two-level partitions"
    assert t.table_schema["v"].comment == "the value"
    assert t.table_schema.is_partition("ds")
    assert not t.table_schema.is_partition("id")


def test_create_table_if_not_exists_and_duplicate(o, table_name):
    name = table_name("dup")
    o.create_table(name, "a bigint")
    # if_not_exists on an existing table is a no-op, the schema stays the first one
    o.create_table(name, "b string", if_not_exists=True)
    t = o.get_table(name)
    t.reload()
    assert [c.name for c in t.table_schema.columns] == ["a"]
    with pytest.raises(errors.ODPSError) as e:
        o.create_table(name, "a bigint")
    assert "already exists" in str(e.value).lower() or "0130071" in str(e.value)


def test_create_transactional_table_with_primary_key(o, admin, table_name):
    name = table_name("delta")
    o.create_table(
        name,
        "id bigint not null, k string not null, v string",
        transactional=True,
        primary_key=["id", "k"],
        table_properties={"write.bucket.num": "4"},
    )
    t = o.get_table(name)
    t.reload()
    assert t.is_transactional
    assert list(t.primary_key) == ["id", "k"]
    assert col_types(t) == [("id", "bigint"), ("k", "string"), ("v", "string")]
    assert t.table_schema["id"].nullable is False
    assert t.table_schema["v"].nullable is True
    info = admin.table(name)
    assert (info["transactional"], info["primary_key"], info["bucket_num"]) == (True, ["id", "k"], 4)


def test_create_delta_table_with_sql(o, admin, table_name):
    name = table_name("delta_sql")
    inst = o.execute_sql(
        f"CREATE TABLE `{name}` (id bigint NOT NULL, v string, PRIMARY KEY (id)) "
        "PARTITIONED BY (ds string) "
        "TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='4') LIFECYCLE 3;"
    )
    assert inst.is_successful()
    t = o.get_table(name)
    t.reload()
    assert t.is_transactional
    assert list(t.primary_key) == ["id"]
    assert [p.name for p in t.table_schema.partitions] == ["ds"]
    assert t.lifecycle == 3
    assert admin.table(name)["bucket_num"] == 4


def test_drop_table(o, table_name):
    name = table_name("drop")
    o.create_table(name, "a bigint")
    assert o.exist_table(name)
    o.delete_table(name)
    assert not o.exist_table(name)
    with pytest.raises(errors.NoSuchObject):
        o.get_table(name).reload()
    # dropping it again: an error, unless if_exists
    with pytest.raises(errors.ODPSError):
        o.delete_table(name)
    o.delete_table(name, if_exists=True)


def test_list_tables_by_prefix(o, table_name):
    names = sorted(table_name("listme") for _ in range(3))
    for n in names:
        o.create_table(n, "a bigint")
    prefix = names[0].rsplit("_", 1)[0]
    found = sorted(t.name for t in o.list_tables(prefix=prefix))
    assert found == names


def test_add_columns(o, table_name):
    name = table_name("alter")
    o.create_table(name, "a bigint")
    o.execute_sql(f"ALTER TABLE {name} ADD COLUMNS (b string COMMENT 'new', c double)")
    t = o.get_table(name)
    t.reload()
    assert [(c.name, str(c.type).lower()) for c in t.table_schema.columns] == [
        ("a", "bigint"),
        ("b", "string"),
        ("c", "double"),
    ]
    assert t.table_schema["b"].comment == "new"


def test_unsupported_sql_is_a_parse_error(o):
    with pytest.raises(errors.ODPSError) as e:
        o.execute_sql("SELECT 1")
    assert "ODPS-0130161" in str(e.value)
