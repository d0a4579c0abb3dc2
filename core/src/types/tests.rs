use super::*;
use arrow_schema::{DataType, IntervalUnit, TimeUnit};

fn p(s: &str) -> OdpsType {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn parses_every_primitive_case_insensitively() {
    let cases = [
        ("BOOLEAN", OdpsType::Boolean),
        ("tinyint", OdpsType::TinyInt),
        ("SmallInt", OdpsType::SmallInt),
        ("int", OdpsType::Int),
        ("BIGINT", OdpsType::BigInt),
        ("float", OdpsType::Float),
        ("DOUBLE", OdpsType::Double),
        ("string", OdpsType::String),
        ("BINARY", OdpsType::Binary),
        ("date", OdpsType::Date),
        ("DATETIME", OdpsType::DateTime),
        ("timestamp", OdpsType::Timestamp),
        ("TIMESTAMP_NTZ", OdpsType::TimestampNtz),
        ("interval_day_time", OdpsType::IntervalDayTime),
        ("INTERVAL_YEAR_MONTH", OdpsType::IntervalYearMonth),
        ("json", OdpsType::Json),
        (
            "decimal(18,2)",
            OdpsType::Decimal {
                precision: 18,
                scale: 2,
            },
        ),
        (
            "DECIMAL( 38 , 18 )",
            OdpsType::Decimal {
                precision: 38,
                scale: 18,
            },
        ),
        (
            "decimal",
            OdpsType::Decimal {
                precision: 10,
                scale: 0,
            },
        ),
        ("char(3)", OdpsType::Char(3)),
        ("VARCHAR(65535)", OdpsType::Varchar(65535)),
    ];
    for (s, t) in cases {
        assert_eq!(p(s), t, "{s}");
    }
}

#[test]
fn nested_types_parse_and_print_in_service_spelling() {
    for s in [
        "array<struct<a:int,b:string>>",
        "map<string,bigint>",
        "struct<a:bigint,b:map<string,array<decimal(10,2)>>,c:struct<x:json>>",
        "array<array<array<timestamp_ntz>>>",
    ] {
        assert_eq!(p(s).to_string(), s);
        assert_eq!(
            p(&s.to_uppercase()).to_string().to_lowercase(),
            s.to_lowercase()
        );
    }
    assert_eq!(
        p(" ARRAY < STRUCT < `a b` : INT , c:STRING > > ").to_string(),
        "array<struct<a b:int,c:string>>"
    );
}

#[test]
fn rejects_bad_type_strings_with_offsets() {
    for s in [
        "",
        "bigintx",
        "decimal(39,2)",
        "decimal(10,11)",
        "decimal(5,19)",
        "char(0)",
        "char(256)",
        "varchar",
        "array<>",
        "array<int",
        "map<int>",
        "struct<>",
        "struct<a:int,a:string>",
        "int int",
        "decimal(99999999999999,1)",
    ] {
        let e = s.parse::<OdpsType>().expect_err(s);
        assert_eq!(e.input, s);
        assert!(!e.reason.is_empty());
    }
    let deep = "array<".repeat(100) + "int" + &">".repeat(100);
    assert!(
        deep.parse::<OdpsType>()
            .unwrap_err()
            .reason
            .contains("nested")
    );
}

#[test]
fn arrow_mapping_follows_the_table() {
    assert_eq!(
        p("datetime").to_arrow(),
        DataType::Timestamp(TimeUnit::Millisecond, None)
    );
    assert_eq!(
        p("timestamp").to_arrow(),
        DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
    );
    assert_eq!(
        p("timestamp_ntz").to_arrow(),
        DataType::Timestamp(TimeUnit::Nanosecond, None)
    );
    assert_eq!(p("decimal(18,2)").to_arrow(), DataType::Decimal128(18, 2));
    assert_eq!(p("binary").to_arrow(), DataType::Binary);
    assert_eq!(p("json").to_arrow(), DataType::Utf8);
    assert_eq!(p("date").to_arrow(), DataType::Date32);
    assert_eq!(
        p("interval_year_month").to_arrow(),
        DataType::Interval(IntervalUnit::YearMonth)
    );
    assert!(matches!(p("array<int>").to_arrow(), DataType::List(_)));
    assert!(matches!(
        p("map<string,int>").to_arrow(),
        DataType::Map(_, false)
    ));
    assert!(matches!(p("struct<a:int>").to_arrow(), DataType::Struct(_)));
    let f = OdpsType::Json.to_arrow_field("j", true);
    assert_eq!(
        f.metadata()
            .get(arrow::EXTENSION_NAME_KEY)
            .map(String::as_str),
        Some("arrow.json")
    );
}

#[test]
fn arrow_round_trip_is_exact_for_every_type() {
    let all = "boolean;tinyint;smallint;int;bigint;float;double;decimal(38,18);char(5);varchar(9);\
        string;binary;date;datetime;timestamp;timestamp_ntz;interval_day_time;interval_year_month;json";
    let mut cols: Vec<Column> = all
        .split(';')
        .enumerate()
        .map(|(i, t)| Column::new(format!("c{i}"), p(t)))
        .collect();
    cols.push(Column::new("n", p("map<varchar(3),array<struct<a:json,b:char(2)>>>")).not_null());
    let schema = TableSchema::new(cols.clone(), vec![Column::new("ds", OdpsType::String)]).unwrap();
    let arrow = schema.arrow_schema();
    assert_eq!(arrow.fields().len(), cols.len());
    let back = arrow::columns_from_arrow(&arrow).unwrap();
    assert_eq!(back, cols);
    assert_eq!(
        schema.arrow_schema_with_partitions().fields().len(),
        cols.len() + 1
    );
}

#[test]
fn arrow_types_without_a_maxcompute_type_name_the_column() {
    let s = arrow_schema::Schema::new(vec![arrow_schema::Field::new("u", DataType::UInt64, true)]);
    let e = arrow::columns_from_arrow(&s).unwrap_err();
    assert_eq!(e.column, "u");
    assert!(e.to_string().contains("UInt64"), "{e}");
    // Metadata that contradicts the Arrow type is an error too.
    let f = OdpsType::BigInt.to_arrow_field("x", true);
    let f = arrow_schema::Field::new("x", DataType::Utf8, true).with_metadata(f.metadata().clone());
    assert!(OdpsType::from_arrow_field(&f).is_err());
    // Without metadata, types are inferred.
    let f = arrow_schema::Field::new("y", DataType::Int16, true);
    assert_eq!(OdpsType::from_arrow_field(&f).unwrap(), OdpsType::SmallInt);
}

#[test]
fn schema_validation() {
    let dup = TableSchema::new(
        vec![
            Column::new("a", OdpsType::Int),
            Column::new("A", OdpsType::Int),
        ],
        vec![],
    );
    assert!(matches!(dup, Err(SchemaError::DuplicateColumn(_))));
    let bad_pt = TableSchema::new(vec![], vec![Column::new("ds", OdpsType::Double)]);
    assert!(matches!(bad_pt, Err(SchemaError::BadPartitionType { .. })));
    let s = TableSchema::new(
        vec![
            Column::new("a", OdpsType::Int),
            Column::new("b", OdpsType::String),
        ],
        vec![Column::new("ds", OdpsType::String)],
    )
    .unwrap();
    assert_eq!(s.project(&["B", "a"]).unwrap()[0].name, "b");
    assert!(matches!(
        s.project(&["zz"]),
        Err(SchemaError::NoSuchColumn(_))
    ));
    assert!(s.is_partitioned());
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<TableSchema>(&json).unwrap(), s);
}
