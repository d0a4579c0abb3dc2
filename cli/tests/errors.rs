//! Bad input, bad settings and service errors: exit codes and messages, and nothing
//! committed after a bad row.

mod common;

use common::{Mock, run, temp_file};

const TABLE: &str = "CREATE TABLE people (id bigint NOT NULL, name varchar(5), born date) \
                     PARTITIONED BY (ds string)";

/// Checks that failed `put`s committed no row. (An upload session may have created its
/// partition already: that partition exists, empty.)
fn assert_empty(mock: &Mock) {
    assert_eq!(mock.ok(&["get", "-t", "people"]), "id,name,born,ds\n");
}

fn put_fails(mock: &Mock, name: &str, text: &str, extra: &[&str]) -> String {
    let file = temp_file("errors", name, text);
    let mut args = vec!["put", "-t", "people"];
    args.extend_from_slice(extra);
    args.push(file.to_str().unwrap());
    let r = mock.maxc(&args);
    assert_eq!(r.code, 3, "stdout {} stderr {}", r.stdout, r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(r.stderr.contains("nothing was committed"), "{}", r.stderr);
    r.stderr
}

#[test]
fn a_bad_csv_value_names_line_and_column_and_commits_nothing() {
    let mock = Mock::start();
    mock.ok(&["sql", TABLE]);
    // Valid rows before and after: the whole load is refused.
    let mut csv = String::from("id,name,born,ds\n");
    for i in 0..10_000 {
        csv.push_str(&format!("{i},n{},2024-01-01,2024\n", i % 10));
    }
    csv.push_str("10000,bad,2024-02-30,2024\n10001,ok,,2024\n");
    // With checkpoints: sessions of the rows before the bad one were closed, not committed.
    let err = put_fails(&mock, "bad-date.csv", &csv, &["--checkpoint-rows", "1000"]);
    assert!(
        err.contains("line 10002, column `born`: `2024-02-30` is not a valid DATE"),
        "{err}"
    );
    assert_empty(&mock);

    let err = put_fails(
        &mock,
        "bad-int.csv",
        "id,name\n1,a\nx1,b\n",
        &["-p", "ds=1"],
    );
    assert!(
        err.contains("line 3, column `id`: `x1` is not a valid BIGINT"),
        "{err}"
    );
    let err = put_fails(&mock, "long.csv", "id,name,ds\n1,abcdef,x\n", &[]);
    assert!(
        err.contains(
            "line 2, column `name`: `abcdef` is not a valid VARCHAR(5) (longer than 5 characters)"
        ),
        "{err}"
    );
    assert_empty(&mock);
}

#[test]
fn missing_and_unknown_columns() {
    let mock = Mock::start();
    mock.ok(&["sql", TABLE]);
    let err = put_fails(&mock, "null.csv", "id,name,ds\n1,a,x\n,b,x\n", &[]);
    assert!(
        err.contains("line 3, column `id`: the NOT NULL column is missing or NULL"),
        "{err}"
    );
    let err = put_fails(&mock, "noid.csv", "name,ds\na,x\n", &[]);
    assert!(
        err.contains("line 1: column `id` (bigint NOT NULL) is missing from the header"),
        "{err}"
    );
    // Dynamic partition columns are required too.
    let err = put_fails(&mock, "nods.csv", "id,name\n1,a\n", &[]);
    assert!(
        err.contains("column `ds` (string, a partition column) is missing from the header"),
        "{err}"
    );
    let err = put_fails(&mock, "nullds.csv", "id,ds\n1,x\n2,\n", &[]);
    assert!(
        err.contains("line 3, column `ds`: the partition value is missing or NULL"),
        "{err}"
    );
    let err = put_fails(&mock, "extra.csv", "id,nmae,ds\n1,a,x\n", &[]);
    assert!(
        err.contains(
            "line 1: `nmae` is not a column of table people (columns: id, name, born, ds)"
        ),
        "{err}"
    );
    let err = put_fails(&mock, "fields.csv", "id,ds\n1,x\n2,x,3\n", &[]);
    assert!(err.contains("line 3: invalid CSV"), "{err}");
    let err = put_fails(&mock, "empty.csv", "", &[]);
    assert!(err.contains("the input is empty"), "{err}");
    assert_empty(&mock);
}

#[test]
fn bad_json_lines() {
    let mock = Mock::start();
    mock.ok(&["sql", TABLE]);
    let err = put_fails(
        &mock,
        "a.json",
        "{\"id\":1,\"ds\":\"x\"}\n\n{\"id\":\"two\",\"ds\":\"x\"}\n",
        &[],
    );
    assert!(err.contains("line 3: "), "{err}");
    assert!(err.contains("'id'"), "{err}");
    let err = put_fails(&mock, "b.json", "{\"name\":\"a\",\"ds\":\"x\"}\n", &[]);
    assert!(
        err.contains("line 1, column `id`: the NOT NULL column is missing or NULL"),
        "{err}"
    );
    let err = put_fails(
        &mock,
        "c.json",
        "{\"id\":1,\"ds\":\"x\"}\n{\"id\":2,\"ds\":\"x\"\n",
        &[],
    );
    assert!(
        err.contains("line 2: invalid JSON: EOF while parsing an object"),
        "{err}"
    );
    let err = put_fails(&mock, "d.json", "{\"id\":1,\"ds\":\"x\",\"age\":3}\n", &[]);
    assert!(
        err.contains("line 1: `age` is not a column of table people"),
        "{err}"
    );
    // Empty partition values are refused by the writer, still with the line.
    let err = put_fails(
        &mock,
        "f.json",
        "{\"id\":1,\"ds\":\"x\"}\n{\"id\":2,\"ds\":\"\"}\n",
        &[],
    );
    assert!(
        err.contains("line 2, column `ds`: the partition value is empty"),
        "{err}"
    );
    // --format overrides the extension.
    let err = put_fails(&mock, "e.txt", "{\"id\":1}\n", &["--format", "json"]);
    assert!(
        err.contains("line 1, column `ds`: the partition value"),
        "{err}"
    );
    assert_empty(&mock);
}

#[test]
fn missing_connection_settings_exit_2() {
    let r = run(&["get", "-t", "people"], &[], None);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "missing connection settings: endpoint, project, access-id, access-key. \
             Pass --endpoint (or set MAXC_ENDPOINT)"
        ),
        "{}",
        r.stderr
    );
    // Some given by flags and variables: only the rest is missing.
    let env = vec![("MAXC_PROJECT".to_string(), "p".to_string())];
    let r = run(
        &[
            "sql",
            "DROP TABLE x",
            "--endpoint",
            "http://127.0.0.1:9/api",
            "--access-id",
            "a",
        ],
        &env,
        None,
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("missing connection settings: access-key."),
        "{}",
        r.stderr
    );
    // A command line clap refuses is a usage error too.
    let r = run(&["get"], &[], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--table"), "{}", r.stderr);
    let r = run(
        &["put", "-t", "x", "--option", "novalue", "f.csv"],
        &[],
        None,
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("not of the form key=value"),
        "{}",
        r.stderr
    );
}

#[test]
fn service_errors_exit_1_and_bad_options_exit_2() {
    let mock = Mock::start();
    mock.ok(&["sql", TABLE]);
    let r = mock.maxc(&["sql", TABLE]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("ODPS-0130071"), "{}", r.stderr);
    let r = mock.maxc(&["sql", "SELECT 1"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("ODPS-0130161"), "{}", r.stderr);
    let r = mock.maxc(&["get", "-t", "nope"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("nope"), "{}", r.stderr);
    let r = mock.maxc(&["describe", "nope"]);
    assert_eq!(r.code, 1);
    let r = mock.maxc(&["get", "-t", "people", "-c", "id,nope"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("nope"), "{}", r.stderr);
    // Wrong secret: the service refuses the signature.
    let r = mock.maxc(&["tables", "--access-key", "wrong"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("Signature"), "{}", r.stderr);
    // Unknown connector option (with a suggestion), and tunnels `put` cannot use.
    let r = mock.maxc(&["get", "-t", "people", "--option", "maxPartitionCnt=3"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("maxPartitionCount"), "{}", r.stderr);
    let r = mock.maxc_stdin(
        &[
            "put",
            "-t",
            "people",
            "--option",
            "useStreamTunnel=true",
            "-",
        ],
        "id,ds\n1,x\n",
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("useStreamTunnel"), "{}", r.stderr);
    let r = mock.maxc(&["put", "-t", "people", "/nonexistent/in.csv"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("/nonexistent/in.csv"), "{}", r.stderr);
    // Nothing reached the table.
    assert_eq!(mock.ok(&["partitions", "people"]), "");
}
