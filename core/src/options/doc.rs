//! Renders the option registry as `docs/options.md`.

use std::fmt::Write as _;

use super::registry::{ConfigKind, OptionDef, OptionType, Required, Section, section};
use super::value::MemorySize;

/// The command that regenerates the committed `docs/options.md`.
pub const REGENERATE_COMMAND: &str = "UPDATE_DOCS=1 cargo test -p maxc-core options_doc";

const INTRO: &str = "\
Every option of the MaxCompute connector: SQL source, sink and dimension tables (`WITH (...)` \
options), and the Flink CDC YAML pipeline sink. The typed builders of `maxc_core::options` \
(`SourceConfig::builder`, `SinkConfig::builder`, ...) set the same options and validate them \
the same way.

Value types:

- **STRING**: any text. Empty values of optional options count as unset.
- **BOOLEAN**: `true` or `false`, in any case.
- **INTEGER** / **LONG**: a whole number (32 / 64 bits); the allowed minimum is given in the \
description where it is not 0.
- **MEMORYSIZE**: a whole number with an optional binary unit, any case: `67108864` (bytes), \
`128 KB`, `64 MB`, `256mb`, `1 gb` (`b`, `k`/`kb`, `m`/`mb`, `g`/`gb`, `t`/`tb`).
- **INTEGER (ms)**, **LONG (ms)**, **INTEGER (s)**: a duration. A plain number counts the \
unit in brackets, as in the original connector; maxc also accepts an explicit unit such as \
`500 ms`, `30 s`, `2 min`, `1 h`.
- **ENUM**: one of the listed values, in any case.

Errors and warnings: an unknown key (with the nearest valid key suggested), a value of the \
wrong type, an out-of-range value, a missing required option and conflicting options are \
errors. An option that has no effect is a warning: `quotaName` together with \
`tunnelEndpoint` (the tunnel endpoint wins), `partition` together with `startPartition`, an \
option whose condition (\"Only effective when ...\") does not hold, and an option of another \
SQL table kind (for example `cacheSize` on a sink), because one `CREATE TABLE` may serve as \
source, sink and dimension table.
";

/// Renders the whole options document (Markdown).
pub fn render_markdown() -> String {
    let mut out = String::new();
    out.push_str("# Connector options\n\n");
    out.push_str(&format!(
        "<!-- Generated from the option registry in core/src/options/registry.rs. Do not edit; regenerate with `{REGENERATE_COMMAND}`. -->\n\n"
    ));
    out.push_str(INTRO);
    for s in Section::ALL {
        let _ = write!(
            out,
            "\n## {}\n\nApplies to: {}.\n\n",
            s.title(),
            s.kinds()
                .iter()
                .map(|k| kind_name(*k))
                .collect::<Vec<_>>()
                .join(", ")
        );
        out.push_str("| Key | Type | Default | Required | Since | Description |\n");
        out.push_str("|---|---|---|---|---|---|\n");
        for def in section(s) {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} |",
                def.key,
                cell(&type_cell(def)),
                cell(&default_cell(def)),
                cell(&required_cell(def)),
                def.since.unwrap_or("—"),
                cell(&description_cell(def)),
            );
        }
    }
    out
}

fn kind_name(k: ConfigKind) -> &'static str {
    match k {
        ConfigKind::Source => "source tables",
        ConfigKind::Sink => "sink tables",
        ConfigKind::Lookup => "dimension tables",
        ConfigKind::CdcSink => "the Flink CDC YAML sink (`sink:` block)",
    }
}

/// Escapes a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn type_cell(def: &OptionDef) -> String {
    match def.ty {
        OptionType::Enum { values } => format!(
            "ENUM ({})",
            values
                .iter()
                .map(|v| format!("`{}`", if v.is_empty() { "\"\"" } else { v }))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ty => ty.doc_name(),
    }
}

fn default_cell(def: &OptionDef) -> String {
    match def.default {
        None => "—".into(),
        Some("") => "`\"\"` (none)".into(),
        Some(d) => format!("`{d}`"),
    }
}

fn required_cell(def: &OptionDef) -> String {
    match def.required {
        Required::Yes => "Yes".into(),
        Required::No => "No".into(),
        Required::When(w) => format!("Yes, {w}"),
    }
}

fn description_cell(def: &OptionDef) -> String {
    let mut d = def.description.to_string();
    let min = match def.ty {
        OptionType::Integer { min, .. } | OptionType::Long { min, .. } if min != 0 => {
            Some(min.to_string())
        }
        OptionType::Duration { min, unit, .. } if min != 0 => {
            Some(format!("{min} {}", unit.suffix()))
        }
        OptionType::MemorySize { min } if min != 0 => Some(MemorySize(min).to_string()),
        _ => None,
    };
    if let Some(min) = min {
        let _ = write!(d, " Minimum: {min}.");
    }
    if let Some(c) = def.effective_when {
        let _ = write!(d, " Only effective when {c}.");
    }
    if def.applies_to != def.section.kinds() {
        let _ = write!(
            d,
            " Applies to: {}.",
            def.applies_to
                .iter()
                .map(|k| kind_name(*k))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    d
}
