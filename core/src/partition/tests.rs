use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::*;
use crate::types::{Column, OdpsType, TableSchema};

fn spec(s: &str) -> PartitionSpec {
    PartitionSpec::parse(s).unwrap()
}

fn specs(list: &[&str]) -> Vec<PartitionSpec> {
    list.iter().map(|s| spec(s)).collect()
}

fn strs(list: &[PartitionSpec]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn schema2() -> TableSchema {
    TableSchema::new(
        vec![Column::new("id", OdpsType::BigInt)],
        vec![
            Column::new("ds", OdpsType::String),
            Column::new("hh", OdpsType::String),
        ],
    )
    .unwrap()
}

#[test]
fn parses_all_forms() {
    let want = PartitionSpec::from_pairs([("ds", "20180905"), ("hh", "01")]).unwrap();
    for s in [
        "ds=20180905,hh=01",
        "ds=20180905/hh=01",
        "ds='20180905',hh='01'",
        "ds=\"20180905\",hh=\"01\"",
        " ds = 20180905 , hh = '01' ",
    ] {
        assert_eq!(spec(s), want, "{s}");
    }
    assert_eq!(want.to_tunnel_string(), "ds=20180905,hh=01");
    assert_eq!(want.to_metadata_string(), "ds='20180905',hh='01'");
    assert_eq!(want.to_directory_string(), "ds=20180905/hh=01");
    assert_eq!(want.to_string(), "ds=20180905,hh=01");
    assert!(PartitionSpec::parse("").unwrap().is_empty());
}

#[test]
fn quoted_values_keep_special_characters() {
    let s = spec(r"a='x,y=z/w', b='it\'s', c='back\\slash', d=' sp '");
    assert_eq!(s.get("a"), Some("x,y=z/w"));
    assert_eq!(s.get("B"), Some("it's"));
    assert_eq!(s.get("c"), Some(r"back\slash"));
    assert_eq!(s.get("d"), Some(" sp "));
    assert_eq!(
        s.to_metadata_string(),
        r"a='x,y=z/w',b='it\'s',c='back\\slash',d=' sp '"
    );
    assert_eq!(PartitionSpec::parse(&s.to_string()).unwrap(), s);
    assert_eq!(PartitionSpec::parse(&s.to_metadata_string()).unwrap(), s);
    // Escapes of separators inside quotes are accepted too.
    assert_eq!(spec(r"a='x\,y\=z\/w'").get("a"), Some("x,y=z/w"));
}

#[test]
fn spaces_pitfall_is_a_typed_error() {
    let e = PartitionSpec::parse("ds=2018 09").unwrap_err();
    assert_eq!(
        e,
        PartitionError::UnquotedSpace {
            key: "ds".into(),
            value: "2018 09".into()
        }
    );
    assert!(e.to_string().contains("ds='2018 09'"), "{e}");
    assert_eq!(spec("ds = 2018").get("ds"), Some("2018"));
    assert_eq!(spec("ds='2018 09'").get("ds"), Some("2018 09"));
}

#[test]
fn rejects_bad_specs() {
    assert!(matches!(
        PartitionSpec::parse("ds"),
        Err(PartitionError::MissingValue { .. })
    ));
    assert!(matches!(
        PartitionSpec::parse("ds="),
        Err(PartitionError::EmptyValue { .. })
    ));
    assert!(matches!(
        PartitionSpec::parse("ds=''"),
        Err(PartitionError::EmptyValue { .. })
    ));
    assert!(matches!(
        PartitionSpec::parse("ds=1,DS=2"),
        Err(PartitionError::DuplicateKey { .. })
    ));
    assert!(matches!(
        PartitionSpec::parse("ds=it's"),
        Err(PartitionError::UnquotedSpecial { ch: '\'', .. })
    ));
}

#[test]
fn validate_normalises_order_and_spelling() {
    let s = schema2();
    let v = spec("HH=01,ds=2018")
        .validate(&s, SpecCoverage::Full)
        .unwrap();
    assert_eq!(v.to_string(), "ds=2018,hh=01");
    assert!(matches!(
        spec("ds=2018").validate(&s, SpecCoverage::Full),
        Err(PartitionError::MissingLevel { ref key, .. }) if key == "hh"
    ));
    assert_eq!(
        spec("ds=2018").validate(&s, SpecCoverage::Prefix).unwrap(),
        spec("ds=2018")
    );
    assert!(matches!(
        spec("hh=01").validate(&s, SpecCoverage::Prefix),
        Err(PartitionError::NotAPrefix { ref key, ref missing, .. }) if key == "hh" && missing == "ds"
    ));
    assert!(matches!(
        spec("ds=1,xx=2").validate(&s, SpecCoverage::Prefix),
        Err(PartitionError::UnknownKey { ref key, ref expected }) if key == "xx" && expected == "ds,hh"
    ));
    let plain = TableSchema::new(vec![Column::new("id", OdpsType::BigInt)], vec![]).unwrap();
    assert!(matches!(
        spec("ds=1").validate(&plain, SpecCoverage::Full),
        Err(PartitionError::NotPartitioned { .. })
    ));
    assert!(
        PartitionSpec::new()
            .validate(&plain, SpecCoverage::Full)
            .is_ok()
    );
    let ints = TableSchema::new(vec![], vec![Column::new("y", OdpsType::TinyInt)]).unwrap();
    assert!(spec("y=12").validate(&ints, SpecCoverage::Full).is_ok());
    assert!(matches!(
        spec("y=300").validate(&ints, SpecCoverage::Full),
        Err(PartitionError::BadValue { .. })
    ));
}

#[test]
fn ordering_is_string_order_level_by_level() {
    let mut v = specs(&[
        "year=2023,month=9",
        "year=2023,month=10",
        "year=2022,month=12",
        "year=2023,month=09",
    ]);
    v.sort();
    assert_eq!(
        strs(&v),
        [
            "year=2022,month=12",
            "year=2023,month=09",
            "year=2023,month=10",
            "year=2023,month=9"
        ]
    );
    // Level by level, not whole-string: "a" < "a!" even though ',' (0x2c) > '!' (0x21).
    assert!(spec("k=a,l=z") < spec("k=a!,l=a"));
    assert!(spec("ds=1") < spec("ds=1,hh=0"));
}

#[test]
fn patterns_resolve() {
    let listing = specs(&[
        "ds=20180905,hh=01",
        "ds=20180905,hh=02",
        "ds=20181001,hh=00",
        "ds=20180830,hh=23",
        "ds=20180901,hh=00",
    ]);
    let p = PartitionPattern::parse("ds=201809*").unwrap();
    assert!(matches!(p, PartitionPattern::Wildcard(_)));
    assert_eq!(
        strs(&p.resolve(&listing)),
        [
            "ds=20180901,hh=00",
            "ds=20180905,hh=01",
            "ds=20180905,hh=02"
        ]
    );
    let p = PartitionPattern::parse("ds=2018****,hh=0?").unwrap();
    assert_eq!(p.resolve(&listing).len(), 4);
    let p = PartitionPattern::parse("ds=20180905").unwrap();
    assert!(matches!(p, PartitionPattern::Exact(_)));
    assert_eq!(p.resolve(&listing).len(), 2);
    let p = PartitionPattern::parse("ds=20180905,hh=02").unwrap();
    assert_eq!(strs(&p.resolve(&listing)), ["ds=20180905,hh=02"]);
    assert_eq!(
        strs(
            &PartitionPattern::parse(" MAX_PT( ) ")
                .unwrap()
                .resolve(&listing)
        ),
        ["ds=20181001,hh=00"]
    );
    assert_eq!(
        strs(
            &PartitionPattern::parse("max_two_pt()")
                .unwrap()
                .resolve(&listing)
        ),
        ["ds=20180905,hh=02", "ds=20181001,hh=00"]
    );
    assert!(PartitionPattern::MaxPt.resolve(&[]).is_empty());
    assert_eq!(PartitionPattern::MaxTwoPt.resolve(&listing[..1]).len(), 1);
    // Quoted wildcards are literal.
    let p = PartitionPattern::parse("ds='2018*'").unwrap();
    assert!(matches!(p, PartitionPattern::Exact(_)));
    assert!(p.resolve(&listing).is_empty());
    assert_eq!(
        PartitionPattern::parse("").unwrap().resolve(&listing).len(),
        5
    );
    assert!(matches!(
        PartitionPattern::parse("ds=2018*")
            .unwrap()
            .resolve_limited(&listing, 3),
        Err(PartitionError::TooManyPartitions {
            matched: 5,
            limit: 3,
            ..
        })
    ));
}

#[test]
fn max_pt_uses_string_order() {
    let listing = specs(&["month=9", "month=10", "month=11"]);
    assert_eq!(
        strs(&PartitionPattern::MaxPt.resolve(&listing)),
        ["month=9"]
    );
}

#[test]
fn pattern_validation() {
    let s = schema2();
    let p = PartitionPattern::parse("HH=0*,DS=2018*")
        .unwrap()
        .validate(&s)
        .unwrap();
    assert_eq!(p.to_string(), "ds=2018*,hh=0*");
    assert!(matches!(
        PartitionPattern::parse("x=1*").unwrap().validate(&s),
        Err(PartitionError::UnknownKey { .. })
    ));
    let plain = TableSchema::new(vec![Column::new("id", OdpsType::BigInt)], vec![]).unwrap();
    assert!(PartitionPattern::MaxPt.validate(&plain).is_err());
    assert!(
        PartitionPattern::parse("")
            .unwrap()
            .validate(&plain)
            .is_ok()
    );
}

#[test]
fn start_partition_selects_at_or_after() {
    let start = StartPartition::parse("yyyy=2018,MM=09,dd=05").unwrap();
    let listing = specs(&[
        "yyyy=2018,MM=09,dd=04",
        "yyyy=2018,MM=09,dd=05",
        "yyyy=2018,MM=09,dd=06",
        "yyyy=2018,MM=10,dd=01",
        "yyyy=2017,MM=12,dd=31",
        "yyyy=2019,MM=01,dd=01",
    ]);
    assert_eq!(
        strs(&start.select(&listing)),
        [
            "yyyy=2018,MM=09,dd=05",
            "yyyy=2018,MM=09,dd=06",
            "yyyy=2018,MM=10,dd=01",
            "yyyy=2019,MM=01,dd=01"
        ]
    );
    // String order: month=9 is after month=10.
    let s = StartPartition::parse("year=2023,month=9").unwrap();
    assert!(!s.includes(&spec("year=2023,month=10")));
    assert!(s.includes(&spec("year=2023,month=9")));
    // A prefix start includes everything under it.
    let s = StartPartition::parse("ds=20240101").unwrap();
    assert!(s.includes(&spec("ds=20240101,hh=00")));
    assert!(!s.includes(&spec("hh=00")));
}

#[test]
fn sink_partition_forms() {
    assert_eq!(
        SinkPartition::parse("ds=20180905").unwrap(),
        SinkPartition::Static(spec("ds=20180905"))
    );
    assert_eq!(
        SinkPartition::parse("").unwrap(),
        SinkPartition::Static(PartitionSpec::new())
    );
    assert_eq!(
        SinkPartition::parse("ds , hh").unwrap(),
        SinkPartition::Dynamic(DynamicPartition {
            static_prefix: PartitionSpec::new(),
            columns: vec!["ds".into(), "hh".into()]
        })
    );
    let mixed = SinkPartition::parse("ds=2024,hh").unwrap();
    assert_eq!(
        mixed,
        SinkPartition::Dynamic(DynamicPartition {
            static_prefix: spec("ds=2024"),
            columns: vec!["hh".into()]
        })
    );
    assert_eq!(mixed.to_string(), "ds=2024,hh");
    assert!(matches!(
        SinkPartition::parse("ds,hh=01"),
        Err(PartitionError::StaticAfterDynamic { .. })
    ));
    assert!(matches!(
        SinkPartition::parse("ds,DS"),
        Err(PartitionError::DuplicateKey { .. })
    ));
    let s = schema2();
    assert_eq!(mixed.validate(&s).unwrap(), mixed);
    assert!(matches!(
        SinkPartition::parse("ds=1").unwrap().validate(&s),
        Err(PartitionError::MissingLevel { .. })
    ));
    assert!(matches!(
        SinkPartition::parse("ds").unwrap().validate(&s),
        Err(PartitionError::MissingLevel { ref key, .. }) if key == "hh"
    ));
    assert!(matches!(
        SinkPartition::parse("hh").unwrap().validate(&s),
        Err(PartitionError::NotAPrefix { .. })
    ));
    assert!(matches!(
        SinkPartition::parse("hh=1,ds").unwrap().validate(&s),
        Err(PartitionError::NotAPrefix { .. })
    ));
    assert!(matches!(
        SinkPartition::parse("ds,zz").unwrap().validate(&s),
        Err(PartitionError::UnknownKey { .. })
    ));
    let v = SinkPartition::parse("HH,DS").unwrap().validate(&s).unwrap();
    assert_eq!(v.to_string(), "ds,hh");
}

fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = cols
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        cols.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

#[test]
fn dynamic_routing() {
    let SinkPartition::Dynamic(d) = SinkPartition::parse("ds=2024,hh,region").unwrap() else {
        panic!("dynamic expected")
    };
    let b = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
        ("HH", Arc::new(Int32Array::from(vec![1, 2, 1])) as ArrayRef),
        (
            "region",
            Arc::new(StringArray::from(vec!["hz", "sh", "hz"])) as ArrayRef,
        ),
    ]);
    assert_eq!(
        strs(&d.route(&b).unwrap()),
        [
            "ds=2024,hh=1,region=hz",
            "ds=2024,hh=2,region=sh",
            "ds=2024,hh=1,region=hz"
        ]
    );
    let groups = d.group_rows(&b).unwrap();
    let g: Vec<(String, Vec<usize>)> = groups
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(
        g,
        vec![
            ("ds=2024,hh=1,region=hz".to_string(), vec![0, 2]),
            ("ds=2024,hh=2,region=sh".to_string(), vec![1]),
        ]
    );

    let nulls = batch(vec![
        (
            "hh",
            Arc::new(Int32Array::from(vec![Some(1), None])) as ArrayRef,
        ),
        (
            "region",
            Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
        ),
    ]);
    let e = d.route(&nulls).unwrap_err();
    assert_eq!(
        e,
        RoutingError::NullValue {
            column: "hh".into(),
            row: 1
        }
    );
    assert!(e.to_string().contains("no default partition"));
    let empty = batch(vec![
        ("hh", Arc::new(Int32Array::from(vec![1])) as ArrayRef),
        ("region", Arc::new(StringArray::from(vec![""])) as ArrayRef),
    ]);
    assert_eq!(
        d.route(&empty).unwrap_err(),
        RoutingError::EmptyValue {
            column: "region".into(),
            row: 0
        }
    );
    let missing = batch(vec![(
        "hh",
        Arc::new(Int32Array::from(vec![1])) as ArrayRef,
    )]);
    assert!(matches!(
        d.route(&missing),
        Err(RoutingError::MissingColumn { .. })
    ));
    let floats = batch(vec![
        ("hh", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef),
        ("region", Arc::new(StringArray::from(vec!["x"])) as ArrayRef),
    ]);
    assert!(matches!(
        d.route(&floats),
        Err(RoutingError::UnsupportedType { ref data_type, .. }) if data_type == &DataType::Float64.to_string()
    ));
}

#[test]
fn serde_uses_canonical_string() {
    let s = spec("ds=2024,hh='a b'");
    let j = serde_json::to_string(&s).unwrap();
    assert_eq!(j, r#""ds=2024,hh='a b'""#);
    assert_eq!(serde_json::from_str::<PartitionSpec>(&j).unwrap(), s);
    assert!(serde_json::from_str::<PartitionSpec>(r#""ds=a b""#).is_err());
}
