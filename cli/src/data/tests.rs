use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampNanosecondType};
use arrow_array::{Array, RecordBatch};
use maxc_core::types::{Column, OdpsType, TableSchema};

use super::csv_in::CsvReader;
use super::json_in::JsonReader;
use super::out::{BatchWriter, hex};
use super::{Chunk, DataError, Format, Target};

fn target(dynamic: &[&str]) -> Target {
    let schema = TableSchema::new(
        vec![
            Column::new("id", OdpsType::BigInt).not_null(),
            Column::new("Name", OdpsType::String),
            Column::new("ts", OdpsType::Timestamp),
            Column::new("price", "decimal(5,2)".parse().unwrap()),
        ],
        vec![Column::new("ds", OdpsType::String)],
    )
    .unwrap();
    let dynamic: Vec<String> = dynamic.iter().map(|s| s.to_string()).collect();
    Target::new("t", &schema, &dynamic)
}

fn csv(text: &str, t: Target) -> Result<Vec<Chunk>, DataError> {
    CsvReader::new(text.as_bytes(), t)?.collect()
}

fn json(text: &str, t: Target) -> Result<Vec<Chunk>, DataError> {
    JsonReader::new(text.as_bytes(), t)?.collect()
}

fn write(format: Format, batch: &RecordBatch) -> String {
    let mut out = Vec::new();
    let mut w = BatchWriter::new(format, &mut out);
    w.write(batch).unwrap();
    w.finish().unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn csv_header_any_order_and_case_missing_nullable_columns_are_null() {
    let chunks = csv("\u{feff}NAME,ID\r\nann,1\r\n,2", target(&[])).unwrap();
    assert_eq!(chunks.len(), 1);
    let b = &chunks[0].batch;
    // Static mode: the partition column is not written.
    let schema = b.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["id", "Name", "ts", "price"]);
    assert_eq!(
        b.column(0).as_primitive::<Int64Type>().values().to_vec(),
        vec![1, 2]
    );
    assert_eq!(b.column(1).as_string::<i32>().value(0), "ann");
    assert!(b.column(1).is_null(1));
    assert_eq!(b.column(2).null_count(), 2);
}

#[test]
fn csv_lines_count_across_chunks() {
    let mut text = String::from("id,ds\n");
    for i in 0..(super::BATCH_ROWS + 5) {
        text.push_str(&format!("{i},x\n"));
    }
    text.push_str("1.5,x\n");
    let err = csv(&text, target(&["ds"])).unwrap_err();
    let line = super::BATCH_ROWS as u64 + 7;
    assert_eq!(
        err,
        DataError::BadValue {
            line,
            column: "id".into(),
            value: "1.5".into(),
            ty: "BIGINT".into(),
            reason: String::new(),
        }
    );
}

#[test]
fn csv_values_are_checked_not_rounded_away() {
    // 5 digits of precision: 1234.5 does not fit decimal(5,2).
    let err = csv("id,price\n1,1234.5\n", target(&[])).unwrap_err();
    assert!(
        matches!(err, DataError::BadValue { line: 2, ref column, .. } if column == "price"),
        "{err}"
    );
    let ok = csv("id,price\n1,123.45\n", target(&[])).unwrap();
    assert_eq!(ok[0].batch.num_rows(), 1);
}

#[test]
fn timestamps_with_offsets_become_utc_instants() {
    let chunks = csv(
        "id,ts\n1,2024-01-01T02:00:00+02:00\n2,2024-01-01 00:00:00\n",
        target(&[]),
    )
    .unwrap();
    let ts = chunks[0]
        .batch
        .column(2)
        .as_primitive::<TimestampNanosecondType>();
    assert_eq!(ts.value(0), ts.value(1));
    assert_eq!(ts.value(0), 1_704_067_200_000_000_000);
    assert_eq!(ts.timezone(), Some("UTC"));
    let json = write(Format::Json, &chunks[0].batch);
    assert!(json.contains("\"ts\":\"2024-01-01T00:00:00Z\""), "{json}");
}

#[test]
fn json_lines_skip_blanks_and_keep_numbers() {
    let chunks = json(
        "{\"id\":1,\"ds\":\"a\"}\n\n  \n{\"id\":2,\"ds\":\"b\",\"Name\":null}\n{\"id\":3}",
        target(&["ds"]),
    );
    let err = chunks.unwrap_err();
    assert_eq!(
        err,
        DataError::Null {
            line: 5,
            column: "ds".into(),
            what: "the partition value"
        }
    );
    let chunks = json(
        "{\"id\":1,\"ds\":\"a\"}\n\n{\"id\":2,\"ds\":\"b\"}\n",
        target(&["ds"]),
    )
    .unwrap();
    assert_eq!(chunks[0].lines.line(1), 3);
    assert_eq!(chunks[0].batch.num_columns(), 5);
}

#[test]
fn json_keys_are_exact_names() {
    // JSON keys are matched as the table spells them.
    let err = json("{\"id\":1,\"name\":\"x\"}\n", target(&[])).unwrap_err();
    assert!(
        matches!(err, DataError::UnknownColumn { line: 1, ref column, .. } if column == "name"),
        "{err}"
    );
}

#[test]
fn csv_output_spells_binary_as_hex_and_nested_values_as_json() {
    let schema = TableSchema::new(
        vec![
            Column::new("b", OdpsType::Binary),
            Column::new("l", OdpsType::array(OdpsType::BigInt)),
        ],
        vec![],
    )
    .unwrap();
    let t = Target::new("n", &schema, &[]);
    let text = "b,l\n00ff,\"[1,null,3]\"\n,\n";
    let chunks = csv(text, t.clone()).unwrap();
    assert_eq!(write(Format::Csv, &chunks[0].batch), text);
    assert_eq!(
        write(Format::Json, &chunks[0].batch),
        "{\"b\":\"00ff\",\"l\":[1,null,3]}\n{\"b\":null,\"l\":null}\n"
    );
    let err = csv("b,l\n0g,\n", t.clone()).unwrap_err();
    assert!(matches!(err, DataError::BadValue { line: 2, .. }), "{err}");
    let err = csv("b,l\n,\"[1,\"\n", t).unwrap_err();
    assert!(err.to_string().contains("not JSON text"), "{err}");
    assert_eq!(hex(&[0, 1, 254, 255]), "0001feff");
}

#[test]
fn interval_columns_cannot_come_from_json() {
    let schema =
        TableSchema::new(vec![Column::new("i", OdpsType::IntervalDayTime)], vec![]).unwrap();
    let t = Target::new("iv", &schema, &[]);
    assert!(matches!(
        JsonReader::new(&b""[..], t),
        Err(DataError::UnsupportedType { .. })
    ));
}
