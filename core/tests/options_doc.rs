//! `docs/options.md` is generated from the option registry; this test fails when the
//! committed file differs from what the registry renders. Regenerate with
//! `UPDATE_DOCS=1 cargo test -p maxc-core options_doc`.

use std::path::PathBuf;

use maxc_core::options::{REGENERATE_COMMAND, render_markdown};

#[test]
fn options_doc_is_up_to_date() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/options.md");
    let rendered = render_markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &rendered)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}\nGenerate it with: {REGENERATE_COMMAND}",
            path.display()
        )
    });
    if committed != rendered {
        let line = committed
            .lines()
            .zip(rendered.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || committed.lines().count().min(rendered.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "{} is out of date with the option registry (first difference at line {line}).\n\
             Regenerate it with: {REGENERATE_COMMAND}",
            path.display()
        );
    }
}
