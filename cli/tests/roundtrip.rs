//! `maxc sql`, `put`, `get`, `tables`, `describe`, `partitions` against a mock on 127.0.0.1:
//! data goes in and comes back out byte for byte.

mod common;

use common::{Mock, temp_file};

const ALL_TYPES: &str = "CREATE TABLE everything (id bigint NOT NULL, name string, v varchar(8), \
     amount decimal(10,2), ok boolean, small smallint, f double, d date, dt datetime, \
     ts timestamp, b binary, tags array<string>, m map<string,bigint>, \
     s struct<x:int,y:string>) PARTITIONED BY (ds string)";

/// Every type, NULLs, quoting, and two partitions, in the canonical forms `get` prints.
const CSV: &str = "\
id,name,v,amount,ok,small,f,d,dt,ts,b,tags,m,s,ds
1,alice,abc,12.50,true,-3,0.25,2024-01-31,2024-01-31T12:00:00.123,2024-01-31T12:00:00.123456789Z,00ff10,\"[\"\"a\"\",\"\"b\"\"]\",\"{\"\"k\"\":1}\",\"{\"\"x\"\":1,\"\"y\"\":\"\"z\"\"}\",20240101
2,,,,false,,,,,,,,,,20240101
3,\"bob, jr\",\"q\"\"t\",-0.01,,32767,-1.5e-7,2000-02-29,1970-01-01T00:00:00,1969-12-31T23:59:59.999999999Z,,[],{},\"{\"\"x\"\":null,\"\"y\"\":\"\"\"\"}\",20240102
";

#[test]
fn sql_put_csv_get_csv_is_exact() {
    let mock = Mock::start();
    assert_eq!(mock.ok(&["sql", ALL_TYPES]), "OK\n");
    let file = temp_file("csv", "in.csv", CSV);
    let out = mock.ok(&["put", "--table", "everything", file.to_str().unwrap()]);
    assert!(
        out.starts_with("wrote 3 rows, committed 3 rows to everything in 2 upload sessions"),
        "{out}"
    );
    assert!(out.contains("ds=20240101: 2 rows"), "{out}");
    assert!(out.contains("ds=20240102: 1 rows"), "{out}");
    assert_eq!(mock.ok(&["get", "--table", "everything"]), CSV);
    // Through the Arrow tunnel too.
    assert_eq!(mock.ok(&["get", "--table", "everything", "--arrow"]), CSV);

    assert_eq!(mock.ok(&["tables"]), "everything\n");
    assert_eq!(
        mock.ok(&["partitions", "everything"]),
        "ds=20240101\nds=20240102\n"
    );
    let described = mock.ok(&["describe", "everything"]);
    assert!(
        described.starts_with("table maxc.everything\ncolumns:\n"),
        "{described}"
    );
    assert!(described.contains("  id      bigint"), "{described}");
    assert!(described.contains("NOT NULL"), "{described}");
    assert!(
        described.contains("partition columns:\n  ds  string\n"),
        "{described}"
    );
}

#[test]
fn put_json_get_json_is_exact() {
    let mock = Mock::start();
    mock.ok(&["sql", ALL_TYPES]);
    // What `get --format json` prints for the CSV rows above.
    let json = concat!(
        r#"{"id":1,"name":"alice","v":"abc","amount":12.50,"ok":true,"small":-3,"f":0.25,"d":"2024-01-31","dt":"2024-01-31T12:00:00.123","ts":"2024-01-31T12:00:00.123456789Z","b":"00ff10","tags":["a","b"],"m":{"k":1},"s":{"x":1,"y":"z"},"ds":"20240101"}"#,
        "\n",
        r#"{"id":2,"name":null,"v":null,"amount":null,"ok":false,"small":null,"f":null,"d":null,"dt":null,"ts":null,"b":null,"tags":null,"m":null,"s":null,"ds":"20240101"}"#,
        "\n",
        r#"{"id":3,"name":"bob, jr","v":"q\"t","amount":-0.01,"ok":null,"small":32767,"f":-1.5e-7,"d":"2000-02-29","dt":"1970-01-01T00:00:00","ts":"1969-12-31T23:59:59.999999999Z","b":null,"tags":[],"m":{},"s":{"x":null,"y":""},"ds":"20240102"}"#,
        "\n",
    );
    let file = temp_file("json", "in.json", json);
    let out = mock.ok(&["put", "-t", "everything", file.to_str().unwrap()]);
    assert!(out.contains("committed 3 rows"), "{out}");
    assert_eq!(
        mock.ok(&["get", "-t", "everything", "--format", "json"]),
        json
    );
    // CSV of the same rows is the CSV above.
    assert_eq!(mock.ok(&["get", "-t", "everything"]), CSV);
}

#[test]
fn put_from_stdin_with_static_partition_and_get_options() {
    let mock = Mock::start();
    mock.ok(&[
        "sql",
        "CREATE TABLE kv (k string, v bigint) PARTITIONED BY (ds string, hh string)",
    ]);
    let rows: String = (0..100).map(|i| format!("k{i},{i}\n")).collect();
    let input = format!("k,v\n{rows}");
    for spec in ["ds=20240101,hh=01", "ds=20240102,hh=00"] {
        let r = mock.maxc_stdin(&["put", "-t", "kv", "-p", spec, "-"], &input);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.contains("committed 100 rows"), "{}", r.stdout);
    }
    // max_pt() is the greatest partition; --columns picks and orders columns.
    let got = mock.ok(&["get", "-t", "kv", "-p", "max_pt()", "-c", "hh,v", "-n", "3"]);
    assert_eq!(got, "hh,v\n00,0\n00,1\n00,2\n");
    let got = mock.ok(&[
        "get",
        "-t",
        "kv",
        "-p",
        "ds=20240101",
        "-f",
        "json",
        "--limit",
        "2",
    ]);
    assert_eq!(
        got,
        "{\"k\":\"k0\",\"v\":0,\"ds\":\"20240101\",\"hh\":\"01\"}\n{\"k\":\"k1\",\"v\":1,\"ds\":\"20240101\",\"hh\":\"01\"}\n"
    );
    let all = mock.ok(&["get", "-t", "kv"]);
    assert_eq!(all.lines().count(), 201);
    // Static partition columns in the input are accepted and ignored.
    let r = mock.maxc_stdin(
        &["put", "-t", "kv", "-p", "ds=20240103,hh=00", "-"],
        "k,v,ds\nx,1,ignored\n",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        mock.ok(&["get", "-t", "kv", "-p", "ds=20240103"]),
        "k,v,ds,hh\nx,1,20240103,00\n"
    );
}

#[test]
fn checkpoints_split_a_large_load_into_sessions() {
    let mock = Mock::start();
    mock.ok(&[
        "sql",
        "CREATE TABLE big (id bigint NOT NULL, name string, x double)",
    ]);
    let n = 20_000;
    let mut csv = String::from("id,name,x\n");
    for i in 0..n {
        // Arrow prints doubles with at least one decimal.
        csv.push_str(&format!("{i},name-{i},{:?}\n", i as f64 * 0.5));
    }
    let file = temp_file("big", "big.csv", &csv);
    let out = mock.ok(&[
        "put",
        "-t",
        "big",
        "--checkpoint-rows",
        "5000",
        "--compress",
        "zlib",
        file.to_str().unwrap(),
    ]);
    // 8192-row chunks: checkpoints after 8192 and 16384 rows, and the rest at the end.
    assert!(
        out.starts_with(&format!(
            "wrote {n} rows, committed {n} rows to big in 3 upload sessions"
        )),
        "{out}"
    );
    assert!(out.contains("rows/s"), "{out}");
    // Sessions are committed in checkpoint order: the rows keep the input's order.
    let got = mock.ok(&["get", "-t", "big"]);
    let first_difference = got.lines().zip(csv.lines()).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "line {first_difference:?} differs");
    assert_eq!(got.len(), csv.len());
    // Several readers may interleave splits: the same rows in some order.
    let mut parallel: Vec<String> = mock
        .ok(&["get", "-t", "big", "--readers", "3"])
        .lines()
        .map(str::to_string)
        .collect();
    let mut expected: Vec<String> = csv.lines().map(str::to_string).collect();
    parallel.sort();
    expected.sort();
    assert!(parallel == expected, "parallel read differs");
}

#[test]
fn empty_tables_print_a_header() {
    let mock = Mock::start();
    mock.ok(&[
        "sql",
        "CREATE TABLE e (a bigint) PARTITIONED BY (ds string)",
    ]);
    assert_eq!(mock.ok(&["get", "-t", "e"]), "a,ds\n");
    assert_eq!(mock.ok(&["get", "-t", "e", "-f", "json"]), "");
    assert_eq!(mock.ok(&["partitions", "e"]), "");
}
